// TFRecord framing and whole-file zlib/gzip streams (as TensorFlow's ZlibOutputBuffer writes
// them: deflate, windowBits 15 (+16 for gzip), memLevel 9, default strategy, Z_NO_FLUSH).
#include "bend/store/tfrecord.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "bend/core/bytes.hpp"
#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"

namespace bend {
namespace {

constexpr size_t kFileBufBytes = 1 << 20;  // write/read buffer of the file
constexpr size_t kZoutBytes = 256 << 10;   // deflate output chunk
constexpr size_t kZChunkBytes = 1u << 30;  // zlib's avail_in/out are 32-bit
constexpr size_t kGrowBytes = 64u << 20;   // compressed records grow in steps of this
constexpr int kHeaderBytes = 12;
constexpr int kFooterBytes = 4;


int window_bits(Compression c) {
  return c == Compression::kGzip ? 15 + 16 : 15;
}

}  // namespace

Compression parse_compression(const std::string& s) {
  if (s == "none" || s.empty() || s == "NONE") return Compression::kNone;
  if (s == "zlib" || s == "ZLIB") return Compression::kZlib;
  if (s == "gzip" || s == "GZIP") return Compression::kGzip;
  fail("unknown compression '%s' (valid: none, zlib, gzip)", s.c_str());
}

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kZlib:
      return "zlib";
    case Compression::kGzip:
      return "gzip";
  }
  return "none";
}

const char* compression_suffix(Compression c) {
  switch (c) {
    case Compression::kNone:
      return "";
    case Compression::kZlib:
      return ".zlib";
    case Compression::kGzip:
      return ".gz";
  }
  return "";
}

static bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

Compression compression_from_path(const std::string& path) {
  if (ends_with(path, ".gz") || ends_with(path, ".gzip")) return Compression::kGzip;
  if (ends_with(path, ".zlib") || ends_with(path, ".zz")) return Compression::kZlib;
  return Compression::kNone;
}

// ---- writer ---------------------------------------------------------------

TFRecordWriter::TFRecordWriter(const std::string& path, Compression c, int level)
    : path_(path), compression_(c) {
  if (c != Compression::kNone && (level < -1 || level > 9)) {
    fail("%s: compression level %d out of range (0-9)", path.c_str(), level);
  }
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot create %s: %s", path.c_str(), std::strerror(errno));
  buf_.resize(kFileBufBytes);
  if (c != Compression::kNone) {
    int rc = deflateInit2(&zs_, level, Z_DEFLATED, window_bits(c), 9, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK) {
      ::close(fd_);
      fd_ = -1;
      fail("%s: deflateInit2 failed (zlib code %d)", path.c_str(), rc);
    }
    zinit_ = true;
    zout_.resize(kZoutBytes);
  }
}

TFRecordWriter::~TFRecordWriter() {
  if (zinit_) deflateEnd(&zs_);
  if (fd_ >= 0) ::close(fd_);
}

void TFRecordWriter::write(const char* data, size_t n) {
  if (closed_) fail("%s: write after close", path_.c_str());
  char header[kHeaderBytes];
  store_le64(header, n);
  store_le32(header + 8, crc32c_mask(crc32c(header, 8)));
  char footer[kFooterBytes];
  store_le32(footer, crc32c_mask(crc32c(data, n)));
  put(header, sizeof header);
  put(data, n);
  put(footer, sizeof footer);
  ++n_records_;
}

void TFRecordWriter::put(const char* data, size_t n) {
  if (compression_ == Compression::kNone) {
    raw_write(data, n);
  } else {
    deflate_some(data, n, Z_NO_FLUSH);
  }
}

void TFRecordWriter::deflate_some(const char* data, size_t n, int flush) {
  do {
    size_t chunk = std::min(n, kZChunkBytes);
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    zs_.avail_in = static_cast<uInt>(chunk);
    bool last = chunk == n;
    int mode = last ? flush : Z_NO_FLUSH;
    for (;;) {
      zs_.next_out = reinterpret_cast<Bytef*>(zout_.data());
      zs_.avail_out = static_cast<uInt>(zout_.size());
      int rc = deflate(&zs_, mode);
      if (rc == Z_STREAM_ERROR) fail("%s: deflate failed (zlib stream error)", path_.c_str());
      raw_write(zout_.data(), zout_.size() - zs_.avail_out);
      if (mode == Z_FINISH) {
        if (rc == Z_STREAM_END) break;
      } else if (zs_.avail_in == 0 && zs_.avail_out != 0) {
        break;
      }
    }
    data += chunk;
    n -= chunk;
  } while (n > 0);
}

void TFRecordWriter::raw_write(const char* data, size_t n) {
  if (n == 0) return;
  file_crc_ = crc32c_extend(file_crc_, data, n);
  file_bytes_ += n;
  if (n_buf_ + n > buf_.size()) flush_buf();
  if (n >= buf_.size()) {
    write_fd(data, n);
    return;
  }
  std::memcpy(buf_.data() + n_buf_, data, n);
  n_buf_ += n;
}

void TFRecordWriter::flush_buf() {
  write_fd(buf_.data(), n_buf_);
  n_buf_ = 0;
}

void TFRecordWriter::write_fd(const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd_, data, std::min(n, kZChunkBytes));
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("%s: write failed after %llu bytes: %s", path_.c_str(),
           static_cast<unsigned long long>(file_bytes_), std::strerror(errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
    fd_bytes_ += static_cast<uint64_t>(w);
  }
  // Start the disk write-back of every full 8 MiB now, while the pipeline goes on, so that the
  // fsync in close() has little left to wait for (a shard is ~MBs to GBs). Advisory: errors
  // are left to fsync, which reports them.
  constexpr uint64_t kWritebackBytes = 8u << 20;
  if (fd_bytes_ - writeback_from_ >= kWritebackBytes) {
    sync_file_range(fd_, static_cast<off64_t>(writeback_from_),
                    static_cast<off64_t>(fd_bytes_ - writeback_from_), SYNC_FILE_RANGE_WRITE);
    writeback_from_ = fd_bytes_;
  }
}

void TFRecordWriter::close() {
  if (closed_) return;
  closed_ = true;  // a failed close leaves the file abandoned; the destructor frees the rest
  if (zinit_) {
    deflate_some(nullptr, 0, Z_FINISH);
    deflateEnd(&zs_);
    zinit_ = false;
  }
  flush_buf();
  // EINVAL: a special file (pipe, /dev/stdout) that cannot be synced; nothing to make durable.
  if (::fsync(fd_) != 0 && errno != EINVAL) {
    fail("%s: fsync failed: %s", path_.c_str(), std::strerror(errno));
  }
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("%s: close failed: %s", path_.c_str(), std::strerror(errno));
}

// ---- reader ---------------------------------------------------------------

TFRecordReader::TFRecordReader(const std::string& path, Compression c)
    : path_(path), compression_(c) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open %s: %s", path.c_str(), std::strerror(errno));
  struct stat st;
  if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) file_size_ = st.st_size;
  in_.resize(kFileBufBytes);
  if (c != Compression::kNone) {
    int rc = inflateInit2(&zs_, window_bits(c));
    if (rc != Z_OK) {
      ::close(fd_);
      fd_ = -1;
      fail("%s: inflateInit2 failed (zlib code %d)", path.c_str(), rc);
    }
    zinit_ = true;
  }
}

TFRecordReader::~TFRecordReader() {
  if (zinit_) inflateEnd(&zs_);
  if (fd_ >= 0) ::close(fd_);
}

std::string TFRecordReader::record_where() const {
  return strfmt("record %llu at %sbyte offset %llu",
                static_cast<unsigned long long>(n_records_ == 0 ? 0 : n_records_ - 1),
                compression_ == Compression::kNone ? "" : "uncompressed ",
                static_cast<unsigned long long>(record_offset_));
}

void TFRecordReader::fail_at(uint64_t record, uint64_t offset, const std::string& what) const {
  if (compression_ == Compression::kNone) {
    fail("%s: record %llu at byte offset %llu: %s", path_.c_str(),
         static_cast<unsigned long long>(record), static_cast<unsigned long long>(offset),
         what.c_str());
  }
  fail("%s: record %llu at uncompressed byte offset %llu (%s file): %s", path_.c_str(),
       static_cast<unsigned long long>(record), static_cast<unsigned long long>(offset),
       compression_name(compression_), what.c_str());
}

size_t TFRecordReader::read_file(char* dst, size_t n) {
  if (file_eof_) return 0;
  for (;;) {
    ssize_t r = ::read(fd_, dst, std::min(n, kZChunkBytes));
    if (r < 0) {
      if (errno == EINTR) continue;
      fail("%s: read failed at file byte %llu: %s", path_.c_str(),
           static_cast<unsigned long long>(file_bytes_), std::strerror(errno));
    }
    if (r == 0) file_eof_ = true;
    file_crc_ = crc32c_extend(file_crc_, dst, static_cast<size_t>(r));
    file_bytes_ += static_cast<uint64_t>(r);
    return static_cast<size_t>(r);
  }
}

bool TFRecordReader::fill_file() {
  in_pos_ = 0;
  in_len_ = read_file(in_.data(), in_.size());
  return in_len_ > 0;
}

size_t TFRecordReader::get(char* dst, size_t n) {
  size_t got = compression_ == Compression::kNone ? get_plain(dst, n) : get_inflate(dst, n);
  stream_pos_ += got;
  return got;
}

size_t TFRecordReader::get_plain(char* dst, size_t n) {
  size_t got = 0;
  while (got < n) {
    if (in_pos_ == in_len_ && n - got >= in_.size()) {
      size_t r = read_file(dst + got, n - got);  // big payloads skip the buffer
      if (r == 0) break;
      got += r;
      continue;
    }
    if (in_pos_ == in_len_ && !fill_file()) break;
    size_t k = std::min(n - got, in_len_ - in_pos_);
    std::memcpy(dst + got, in_.data() + in_pos_, k);
    in_pos_ += k;
    got += k;
  }
  return got;
}

size_t TFRecordReader::get_inflate(char* dst, size_t n) {
  size_t got = 0;
  while (got < n) {
    if (zs_.avail_in == 0 && fill_file()) {
      zs_.next_in = reinterpret_cast<Bytef*>(in_.data());
      zs_.avail_in = static_cast<uInt>(in_len_);
    }
    if (zdone_) {
      // After the end marker: nothing more is a clean end; a gzip file may hold several
      // members (like `gzip -c a b`); anything else is garbage.
      if (zs_.avail_in == 0) break;
      if (compression_ != Compression::kGzip) {
        fail_at(n_records_, cur_start_, "unexpected bytes after the end of the zlib stream");
      }
      if (inflateReset(&zs_) != Z_OK) fail_at(n_records_, cur_start_, "inflateReset failed");
      zdone_ = false;
    }
    size_t want = std::min(n - got, kZChunkBytes);
    zs_.next_out = reinterpret_cast<Bytef*>(dst + got);
    zs_.avail_out = static_cast<uInt>(want);
    int rc = inflate(&zs_, Z_NO_FLUSH);
    got += want - zs_.avail_out;
    if (rc == Z_STREAM_END) {
      zdone_ = true;
    } else if (rc == Z_BUF_ERROR) {
      if (zs_.avail_in == 0 && file_eof_) {
        fail_at(n_records_, cur_start_,
                strfmt("truncated %s stream: the file ends at uncompressed byte offset %llu "
                       "before the stream's end marker",
                       compression_name(compression_),
                       static_cast<unsigned long long>(stream_pos_ + got)));
      }
    } else if (rc != Z_OK) {
      fail_at(
          n_records_, cur_start_,
          strfmt("corrupt %s stream near uncompressed byte offset %llu: %s (zlib code %d)",
                 compression_name(compression_), static_cast<unsigned long long>(stream_pos_ + got),
                 zs_.msg ? zs_.msg : "no message", rc));
    }
  }
  return got;
}

bool TFRecordReader::next(std::string& record) {
  cur_start_ = stream_pos_;
  const uint64_t rec = n_records_;
  char header[kHeaderBytes];
  size_t got = get(header, sizeof header);
  if (got == 0) return false;
  if (got < sizeof header) {
    fail_at(rec, cur_start_,
            strfmt("truncated record: header has %zu of %d bytes", got, kHeaderBytes));
  }
  uint64_t len = load_le64(header);
  uint32_t stored = load_le32(header + 8);
  if (crc32c_mask(crc32c(header, 8)) != stored) {
    fail_at(rec, cur_start_,
            strfmt("length crc32c mismatch (corrupt length field, stored 0x%08x, "
                   "computed 0x%08x)",
                   crc32c_unmask(stored), crc32c(header, 8)));
  }
  uint64_t left = UINT64_MAX;  // bytes after the header, when the file size is known
  if (file_size_ >= static_cast<int64_t>(stream_pos_)) {
    left = static_cast<uint64_t>(file_size_) - stream_pos_;
  }
  if (compression_ == Compression::kNone && len > left) {
    fail_at(rec, cur_start_,
            strfmt("truncated record: length %llu but only %llu bytes left in the file",
                   static_cast<unsigned long long>(len), static_cast<unsigned long long>(left)));
  }
  // Grow step by step so a corrupt-but-crc-valid length cannot demand a huge allocation.
  record.clear();
  uint64_t have = 0;
  while (have < len) {
    size_t step = static_cast<size_t>(std::min<uint64_t>(len - have, kGrowBytes));
    if (compression_ == Compression::kNone) step = static_cast<size_t>(len - have);
    record.resize(have + step);
    size_t g = get(&record[have], step);
    have += g;
    if (g < step) {
      fail_at(rec, cur_start_,
              strfmt("truncated record: data has %llu of %llu bytes",
                     static_cast<unsigned long long>(have), static_cast<unsigned long long>(len)));
    }
  }
  char footer[kFooterBytes];
  got = get(footer, sizeof footer);
  if (got < sizeof footer) {
    fail_at(rec, cur_start_,
            strfmt("truncated record: data crc has %zu of %d bytes", got, kFooterBytes));
  }
  uint32_t stored_data = crc32c_unmask(load_le32(footer));
  uint32_t computed = crc32c(record.data(), record.size());
  if (stored_data != computed) {
    fail_at(rec, cur_start_,
            strfmt("data crc32c mismatch (stored 0x%08x, computed 0x%08x; %llu data bytes)",
                   stored_data, computed, static_cast<unsigned long long>(len)));
  }
  record_offset_ = cur_start_;
  ++n_records_;
  return true;
}

}  // namespace bend
