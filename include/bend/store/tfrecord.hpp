// TFRecord files, byte-compatible with TensorFlow's tf.io.TFRecordWriter / TFRecordDataset:
// each record is  uint64 length (LE) | uint32 masked crc32c(length bytes) | data |
// uint32 masked crc32c(data). ZLIB and GZIP files are one deflate stream over that whole
// record stream (windowBits 15, resp. 15+16), exactly what TFRecordOptions writes.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

// Compression of a whole TFRecord file.
enum class Compression { kNone, kZlib, kGzip };

// "none" | "zlib" | "gzip" (also "" and TF's "ZLIB"/"GZIP"); else throws bend::Error.
Compression parse_compression(const std::string& s);
// "none", "zlib" or "gzip". Static storage.
const char* compression_name(Compression c);
// File-name suffix after ".tfrecord": "", ".zlib" or ".gz".
const char* compression_suffix(Compression c);
// Compression implied by a path's suffix: ".gz" -> gzip, ".zlib" -> zlib, else none.
Compression compression_from_path(const std::string& path);

// Writes one TFRecord file, streaming (memory is bounded by its fixed buffers whatever the
// record sizes). One thread per writer. Every failure throws bend::Error naming the path.
// Destroying a writer without close() abandons the file (it stays detectably incomplete).
class TFRecordWriter {
 public:
  // Creates/truncates `path`. `level` is the zlib level 0-9 (ignored for kNone).
  TFRecordWriter(const std::string& path, Compression c, int level = 6);
  ~TFRecordWriter();
  TFRecordWriter(const TFRecordWriter&) = delete;
  TFRecordWriter& operator=(const TFRecordWriter&) = delete;

  // Appends one record of n bytes (n may be 0). Throws on write errors.
  void write(const char* data, size_t n);
  // Same, for a whole string.
  void write(const std::string& record) { write(record.data(), record.size()); }
  // Finishes the compressed stream, flushes, fsyncs and closes. Throws on any error (disk
  // full, I/O error). Calling it twice is a no-op.
  void close();

  // Records written so far.
  uint64_t n_records() const { return n_records_; }
  // Bytes handed to the file so far (compressed size); final after close().
  uint64_t file_bytes() const { return file_bytes_; }
  // CRC32C of those bytes as they are in the file; final after close().
  uint32_t file_crc32c() const { return file_crc_; }
  // The path given to the constructor.
  const std::string& path() const { return path_; }

 private:
  void put(const char* data, size_t n);  // into the record stream (compressing)
  void deflate_some(const char* data, size_t n, int flush);
  void raw_write(const char* data, size_t n);  // to the file, via buf_
  void flush_buf();
  void write_fd(const char* data, size_t n);

  std::string path_;
  Compression compression_;
  int fd_ = -1;
  bool zinit_ = false;
  bool closed_ = false;
  z_stream zs_{};
  std::vector<char> buf_;  // pending file bytes [0, n_buf_)
  size_t n_buf_ = 0;
  uint64_t fd_bytes_ = 0;      // bytes handed to write(2)
  uint64_t writeback_from_ = 0;  // start of the range whose write-back has not been started yet
  std::vector<char> zout_;  // deflate output chunk
  uint64_t n_records_ = 0;
  uint64_t file_bytes_ = 0;
  uint32_t file_crc_ = 0;
};

// Reads a TFRecord file written by TensorFlow or TFRecordWriter, checking every CRC.
// Streaming: memory is the largest record plus fixed buffers. One thread per reader.
class TFRecordReader {
 public:
  // Opens `path`; throws bend::Error naming it when it cannot be opened.
  TFRecordReader(const std::string& path, Compression c);
  ~TFRecordReader();
  TFRecordReader(const TFRecordReader&) = delete;
  TFRecordReader& operator=(const TFRecordReader&) = delete;

  // Reads the next record into `record`. Returns false at a clean end of file. Throws
  // bend::Error "path: record N at byte offset X: <what>" (N counts from 0; for compressed
  // files X is the offset in the uncompressed record stream, and the message says so) on a
  // length or data CRC mismatch, a truncated record or a corrupt compressed stream.
  bool next(std::string& record);

  // Records returned so far.
  uint64_t n_records() const { return n_records_; }
  // Offset of the last returned record in the (uncompressed) record stream.
  uint64_t record_offset() const { return record_offset_; }
  // "record N at byte offset X" (or "... uncompressed byte offset X") of the record most
  // recently returned; used by callers to name a record whose content is bad.
  std::string record_where() const;
  // Bytes read from the file so far, and their CRC32C; after next() returned false they
  // cover the whole file.
  uint64_t file_bytes() const { return file_bytes_; }
  uint32_t file_crc32c() const { return file_crc_; }
  // The path given to the constructor.
  const std::string& path() const { return path_; }

 private:
  size_t get(char* dst, size_t n);  // from the record stream; < n only at its end
  size_t get_plain(char* dst, size_t n);
  size_t get_inflate(char* dst, size_t n);
  size_t read_file(char* dst, size_t n);  // from the file (CRC'd); 0 at EOF
  bool fill_file();                       // refills in_ from the file; false at EOF
  [[noreturn]] void fail_at(uint64_t record, uint64_t offset, const std::string& what) const;

  std::string path_;
  Compression compression_;
  int fd_ = -1;
  bool zinit_ = false;
  bool zdone_ = false;  // compressed stream reached its end marker
  bool file_eof_ = false;
  z_stream zs_{};
  std::vector<char> in_;  // file bytes [in_pos_, in_len_) not yet consumed
  size_t in_pos_ = 0;
  size_t in_len_ = 0;
  uint64_t stream_pos_ = 0;  // offset in the record stream
  uint64_t n_records_ = 0;
  uint64_t record_offset_ = 0;
  uint64_t cur_start_ = 0;  // stream offset of the record being read
  uint64_t file_bytes_ = 0;
  uint32_t file_crc_ = 0;
  int64_t file_size_ = -1;  // for sanity checks of uncompressed lengths
};

}  // namespace bend
