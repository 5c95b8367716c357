// FastaReader: htslib faidx builds and validates the index. A plain FASTA is read with pread into
// a reused window: a region far from the last one reads exactly its own bytes (rows in random
// order cost one small read each), a region just after the window reads a large window ahead
// (sorted rows cost one read per window). A bgzip FASTA is read with one bgzf_read per region.
// Either way one table pass normalizes the bytes and drops line ends.
#include "bend/genome/fasta.hpp"

#include <htslib/bgzf.h>
#include <htslib/faidx.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "bend/core/error.hpp"

namespace bend {

namespace {

// Decompressed-block cache per reader: regions are often fetched near each other.
constexpr int kBgzfCacheBytes = 16 << 20;
// Plain FASTA read-ahead: a region that starts within this many bytes after the buffered
// window (rows in file order) reads this much at once; any other region reads only its
// own bytes. Small enough that rows jumping back and forth in one area cost little (~5 us).
constexpr int64_t kReadAheadBytes = 64 << 10;

using ByteTable = std::array<char, 256>;

// byte -> normalized base; every byte that is not A/C/G/T (any case) maps to 'N'.
constexpr ByteTable make_base_table() {
  ByteTable t{};
  for (int c = 0; c < 256; ++c) t[c] = 'N';
  t['A'] = t['a'] = 'A';
  t['C'] = t['c'] = 'C';
  t['G'] = t['g'] = 'G';
  t['T'] = t['t'] = 'T';
  return t;
}

// Like the base table, but bytes that are not printable non-space characters (newlines, '\r',
// spaces) map to 0 = skip. Matches htslib, which keeps isgraph() characters of sequence lines.
constexpr ByteTable make_fetch_table() {
  ByteTable t = make_base_table();
  for (int c = 0; c < 256; ++c) {
    if (c <= ' ' || c >= 127) t[c] = 0;
  }
  return t;
}

// normalized base -> complement; anything else -> 'N'.
constexpr ByteTable make_complement_table() {
  ByteTable t{};
  for (int c = 0; c < 256; ++c) t[c] = 'N';
  t['A'] = 'T';
  t['C'] = 'G';
  t['G'] = 'C';
  t['T'] = 'A';
  return t;
}

constexpr ByteTable kBase = make_base_table();
constexpr ByteTable kFetch = make_fetch_table();
constexpr ByteTable kComplement = make_complement_table();

// One .fai line: name, length, byte offset of the first base, bases per line, bytes per line.
struct FaiEntry {
  std::string name;
  int64_t len_bp = 0;
  int64_t offset_bytes = 0;
  int64_t line_bases = 0;
  int64_t line_bytes = 0;
};

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Throws unless `path` is an existing, readable, regular (or symlinked) file.
void check_fasta_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) fail("FASTA '%s': file not found", path.c_str());
    fail("FASTA '%s': cannot access: %s", path.c_str(), std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) fail("FASTA '%s': is a directory, not a FASTA file", path.c_str());
  if (!S_ISREG(st.st_mode)) fail("FASTA '%s': not a regular file (a pipe or device?)", path.c_str());
  if (::access(path.c_str(), R_OK) != 0) {
    fail("FASTA '%s': cannot be read: %s", path.c_str(), std::strerror(errno));
  }
}

// 0 = uncompressed, 1 = plain gzip, 2 = BGZF (htslib's bgzf_compression codes).
int detect_compression(const std::string& path) {
  BGZF* fp = bgzf_open(path.c_str(), "r");
  if (!fp) fail("FASTA '%s': cannot open: %s", path.c_str(), std::strerror(errno));
  int kind = bgzf_compression(fp);
  if (bgzf_close(fp) != 0) fail("FASTA '%s': error closing after format check", path.c_str());
  if (kind < 0) fail("FASTA '%s': cannot detect the compression format", path.c_str());
  return kind;
}

// Builds path.fai (and path.gzi when `bgzf`) into temp files, then renames them into place so
// that a concurrent reader never sees a half-written index.
void build_index(const std::string& path, bool bgzf) {
  std::string dir = parent_dir(path);
  const char* wanted = bgzf ? ".fai and .gzi" : ".fai";
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    fail(
        "FASTA '%s': no index (%s) and it cannot be built: directory '%s' is not writable "
        "(%s); run `samtools faidx %s` somewhere writable or copy the FASTA",
        path.c_str(), wanted, dir.c_str(), std::strerror(errno), path.c_str());
  }
  static std::atomic<int> counter{0};
  std::string suffix = strfmt(".tmp.%d.%d", static_cast<int>(::getpid()), counter++);
  std::string fai_tmp = path + ".fai" + suffix;
  std::string gzi_tmp = path + ".gzi" + suffix;
  errno = 0;
  if (fai_build3(path.c_str(), fai_tmp.c_str(), gzi_tmp.c_str()) != 0) {
    int err = errno;
    std::remove(fai_tmp.c_str());
    std::remove(gzi_tmp.c_str());
    fail(
        "FASTA '%s': building the index (%s) failed%s%s; is it a FASTA file with equal line "
        "lengths within each sequence? (htslib's message above says more)",
        path.c_str(), wanted, err ? ": " : "", err ? std::strerror(err) : "");
  }
  if (bgzf && std::rename(gzi_tmp.c_str(), (path + ".gzi").c_str()) != 0) {
    int err = errno;
    std::remove(fai_tmp.c_str());
    std::remove(gzi_tmp.c_str());
    fail("FASTA '%s': cannot move the built index into place as %s.gzi: %s", path.c_str(),
         path.c_str(), std::strerror(err));
  }
  if (std::rename(fai_tmp.c_str(), (path + ".fai").c_str()) != 0) {
    int err = errno;
    std::remove(fai_tmp.c_str());
    fail("FASTA '%s': cannot move the built index into place as %s.fai: %s", path.c_str(),
         path.c_str(), std::strerror(err));
  }
}

// Parses a non-negative decimal field of a .fai line; false when malformed.
bool parse_fai_number(const char*& p, const char* end, int64_t& out) {
  while (p < end && (*p == '\t' || *p == ' ')) ++p;
  if (p == end || *p < '0' || *p > '9') return false;
  int64_t v = 0;
  for (; p < end && *p >= '0' && *p <= '9'; ++p) {
    if (v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (*p - '0');
  }
  out = v;
  return true;
}

// Reads a .fai file (name, length, offset, line bases, line bytes per line). Duplicate names
// keep the first entry, as htslib does.
std::vector<FaiEntry> read_fai(const std::string& fai_path) {
  FILE* f = std::fopen(fai_path.c_str(), "rb");
  if (!f) fail("FASTA index '%s': cannot open: %s", fai_path.c_str(), std::strerror(errno));
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) fail("FASTA index '%s': read error", fai_path.c_str());

  std::vector<FaiEntry> entries;
  std::unordered_map<std::string, int> seen;
  const char* p = text.data();
  const char* end = p + text.size();
  for (int64_t line_no = 1; p < end; ++line_no) {
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (!eol) eol = end;
    const char* tab = static_cast<const char*>(std::memchr(p, '\t', eol - p));
    FaiEntry e;
    bool ok = tab != nullptr && tab > p;
    if (ok) {
      e.name.assign(p, tab);
      const char* q = tab;
      ok = parse_fai_number(q, eol, e.len_bp) && parse_fai_number(q, eol, e.offset_bytes) &&
           parse_fai_number(q, eol, e.line_bases) && parse_fai_number(q, eol, e.line_bytes) &&
           e.line_bytes >= e.line_bases && (e.line_bases > 0 || e.len_bp == 0) &&
           e.line_bytes - e.line_bases <= 2;  // '\n' or "\r\n" (a huge one made fetch allocate TBs)
      // The sequence's last byte must be addressable without overflow.
      ok = ok && (e.len_bp == 0 ||
                  (e.len_bp - 1) / e.line_bases <= (INT64_MAX / 2 - e.offset_bytes) / e.line_bytes);
    }
    if (!ok) {
      fail(
          "%s:%lld: malformed FASTA index line (expected name, length, offset, line bases, "
          "line bytes; delete the index to rebuild it)",
          fai_path.c_str(), static_cast<long long>(line_no));
    }
    if (seen.emplace(e.name, static_cast<int>(entries.size())).second) entries.push_back(e);
    p = eol + 1;
  }
  return entries;
}

}  // namespace

struct FastaReader::Impl {
  std::string path;
  std::vector<FaiEntry> entries;  // .fai order
  std::unordered_map<std::string, int32_t> by_name;
  BGZF* fp = nullptr;     // owned (bgzip FASTA only); sequential state, hence one per thread
  std::vector<char> raw;  // reused read buffer (bases + line ends)
  int fd = -1;             // plain FASTA: the file (owned), read with pread into `raw`
  int64_t file_bytes = 0;  // its size
  int64_t win_first = 0;   // `raw` holds bytes [win_first, win_end) of the plain file
  int64_t win_end = 0;

  ~Impl() {
    if (fp) bgzf_close(fp);
    if (fd >= 0) ::close(fd);
  }
  bool open_plain();
  // Fills `raw` with bytes [first, first + n) of the plain file (n <= what is left of it).
  void pread_window(int64_t first, size_t n);
  // The n_raw bytes from byte `first` of the file, read into (or already in) `raw`; valid until
  // the next call. Throws naming the region (s, e) when the file is shorter than the .fai says.
  const char* raw_bytes(const std::string& chrom, long long s, long long e, int64_t first,
                        size_t n_raw);
  const FaiEntry* find(const std::string& chrom) const {
    auto it = by_name.find(chrom);
    return it == by_name.end() ? nullptr : &entries[it->second];
  }
};

// Opens a plain FASTA for pread; false (nothing changed) when it cannot be opened or sized,
// and the caller falls back to reading through htslib.
bool FastaReader::Impl::open_plain() {
  const int f = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f < 0) return false;
  struct stat st;
  if (::fstat(f, &st) != 0) {
    ::close(f);
    return false;
  }
  fd = f;
  file_bytes = static_cast<int64_t>(st.st_size);
  return true;
}

void FastaReader::Impl::pread_window(int64_t first, size_t n) {
  if (raw.size() < n) raw.resize(n + n / 4);
  win_first = win_end = first;  // empty until the read succeeds
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, raw.data() + got, n - got, static_cast<off_t>(first + got));
    if (r < 0 && errno == EINTR) continue;
    const long long at = first + static_cast<int64_t>(got);
    if (r < 0) fail("FASTA '%s': read at byte %lld: %s", path.c_str(), at, std::strerror(errno));
    if (r == 0) {
      fail("FASTA '%s': file ended at byte %lld (truncated while in use?)", path.c_str(), at);
    }
    got += static_cast<size_t>(r);
  }
  win_end = first + static_cast<int64_t>(n);
}

FastaReader::FastaReader(const std::string& path) : impl_(new Impl) {
  impl_->path = path;
  check_fasta_file(path);
  int kind = detect_compression(path);
  if (kind == 1) {
    fail(
        "FASTA '%s': compressed with plain gzip, which cannot be read at random positions; "
        "recompress with bgzip (zcat '%s' | bgzip -c > out.fa.gz)",
        path.c_str(), path.c_str());
  }
  bool bgzf = kind == 2;
  if (!file_exists(path + ".fai") || (bgzf && !file_exists(path + ".gzi"))) {
    build_index(path, bgzf);
  }
  impl_->entries = read_fai(path + ".fai");
  // Let htslib validate the index against the file (it refuses e.g. a missing .gzi).
  faidx_t* fai = fai_load3(path.c_str(), nullptr, nullptr, 0);
  if (!fai) {
    fail("FASTA '%s': cannot load its index %s.fai%s (delete the index files to rebuild them)",
         path.c_str(), path.c_str(), bgzf ? " / .gzi" : "");
  }
  int n_seq = faidx_nseq(fai);
  fai_destroy(fai);
  if (static_cast<int>(impl_->entries.size()) != n_seq) {
    fail("FASTA '%s': index %s.fai lists %zu sequences but htslib reads %d", path.c_str(),
         path.c_str(), impl_->entries.size(), n_seq);
  }
  for (size_t i = 0; i < impl_->entries.size(); ++i) {
    impl_->by_name.emplace(impl_->entries[i].name, static_cast<int32_t>(i));
  }
  if (!bgzf && impl_->open_plain()) return;
  impl_->fp = bgzf_open(path.c_str(), "r");
  if (!impl_->fp) fail("FASTA '%s': cannot open: %s", path.c_str(), std::strerror(errno));
  if (bgzf && bgzf_index_load(impl_->fp, path.c_str(), ".gzi") != 0) {
    fail("FASTA '%s': cannot load the bgzip index %s.gzi (delete it to rebuild)", path.c_str(),
         path.c_str());
  }
  bgzf_set_cache_size(impl_->fp, kBgzfCacheBytes);
}

FastaReader::~FastaReader() = default;
FastaReader::FastaReader(FastaReader&& other) noexcept = default;
FastaReader& FastaReader::operator=(FastaReader&& other) noexcept = default;

const std::string& FastaReader::path() const {
  return impl_->path;
}

int64_t FastaReader::chrom_length(const std::string& chrom) const {
  const FaiEntry* e = impl_->find(chrom);
  return e ? e->len_bp : -1;
}

std::vector<std::pair<std::string, int64_t>> FastaReader::chromosomes() const {
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(impl_->entries.size());
  for (const FaiEntry& e : impl_->entries) out.emplace_back(e.name, e.len_bp);
  return out;
}

void FastaReader::fetch(const std::string& chrom, int64_t start_bp, int64_t end_bp,
                        bool minus_strand, std::string& out) const {
  Impl& im = *impl_;
  const char* file = im.path.c_str();
  const long long s = start_bp, e = end_bp;
  const FaiEntry* ent = im.find(chrom);
  if (!ent)
    fail("%s:%lld-%lld: unknown chromosome '%s' in FASTA %s", chrom.c_str(), s, e, chrom.c_str(),
         file);
  if (start_bp < 0 || end_bp < start_bp || end_bp > ent->len_bp) {
    fail("%s:%lld-%lld: outside %s (length %lld) in FASTA %s", chrom.c_str(), s, e, chrom.c_str(),
         static_cast<long long>(ent->len_bp), file);
  }
  const int64_t want = end_bp - start_bp;
  out.resize(static_cast<size_t>(want));
  if (want == 0) return;

  // Byte range from the first base to one past the last base; only line ends lie between.
  const int64_t first =
      ent->offset_bytes + start_bp / ent->line_bases * ent->line_bytes + start_bp % ent->line_bases;
  const int64_t last = ent->offset_bytes + (end_bp - 1) / ent->line_bases * ent->line_bytes +
                       (end_bp - 1) % ent->line_bases;
  const size_t n_raw = static_cast<size_t>(last - first + 1);
  const char* src = im.raw_bytes(chrom, s, e, first, n_raw);

  // One table pass: keep printable bytes (normalized), drop line ends. Branch-free store.
  if (out.size() < n_raw) out.resize(n_raw);
  char* dst = &out[0];
  size_t n_out = 0;
  for (size_t i = 0; i < n_raw; ++i) {
    char c = kFetch[static_cast<unsigned char>(src[i])];
    dst[n_out] = c;
    n_out += c != 0;
  }
  if (n_out != static_cast<size_t>(want)) {
    fail(
        "%s:%lld-%lld: got %zu bases instead of %lld from FASTA %s (stale or wrong .fai index? "
        "delete it to rebuild)",
        chrom.c_str(), s, e, n_out, static_cast<long long>(want), file);
  }
  out.resize(static_cast<size_t>(want));
  if (minus_strand) reverse_complement(&out[0], out.size());
}

const char* FastaReader::Impl::raw_bytes(const std::string& chrom, long long s, long long e,
                                         int64_t first, size_t n_raw) {
  const char* file = path.c_str();
  if (fd >= 0) {
    const int64_t end = first + static_cast<int64_t>(n_raw);
    if (end > file_bytes) {
      fail("%s:%lld-%lld: bytes %lld-%lld are past the end of FASTA %s (%lld bytes; truncated "
           "file or stale .fai?)",
           chrom.c_str(), s, e, static_cast<long long>(first), static_cast<long long>(end), file,
           static_cast<long long>(file_bytes));
    }
    if (first < win_first || end > win_end) {
      const bool ahead = first >= win_first && first <= win_end + kReadAheadBytes;
      int64_t n = static_cast<int64_t>(n_raw);
      if (ahead) n = std::min(std::max(n, kReadAheadBytes), file_bytes - first);
      pread_window(first, static_cast<size_t>(n));
    }
    return raw.data() + (first - win_first);
  }
  if (raw.size() < n_raw) raw.resize(n_raw + n_raw / 4);
  if (bgzf_useek(fp, first, SEEK_SET) != 0) {
    fail("%s:%lld-%lld: cannot seek to byte %lld of FASTA %s (corrupt .gzi index?)", chrom.c_str(),
         s, e, static_cast<long long>(first), file);
  }
  ssize_t got = bgzf_read(fp, raw.data(), n_raw);
  if (got != static_cast<ssize_t>(n_raw)) {
    fail("%s:%lld-%lld: read %lld of %zu bytes from FASTA %s (truncated file or stale .fai?)",
         chrom.c_str(), s, e, static_cast<long long>(got), n_raw, file);
  }
  return raw.data();
}

void normalize_bases(char* seq, size_t n) {
  for (size_t i = 0; i < n; ++i) seq[i] = kBase[static_cast<unsigned char>(seq[i])];
}

void reverse_complement(char* seq, size_t n) {
  if (n == 0) return;
  size_t i = 0, j = n - 1;
  while (i < j) {
    char a = kComplement[static_cast<unsigned char>(seq[i])];
    char b = kComplement[static_cast<unsigned char>(seq[j])];
    seq[i++] = b;
    seq[j--] = a;
  }
  if (i == j) seq[i] = kComplement[static_cast<unsigned char>(seq[i])];
}

}  // namespace bend
