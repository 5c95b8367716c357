// `bend extract`: bend's extraction path (read_bed + validate_regions + FastaReader::fetch) as a
// command of its own, writing FASTA. Used by the benchmarks against samtools/bedtools/pysam and
// handy to look at exactly the sequences `bend embed` would see.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/task/bed.hpp"
#include "cli_paths.hpp"
#include "commands.hpp"

namespace bend {

namespace {

// What `bend extract` was given.
struct ExtractArgs {
  std::string bed_path;
  std::string genome_path;
  std::string out_path;
  bool read_strand = false;
  int64_t flank_bp = 0;
  std::vector<std::string> splits;  // empty: all
};

// An output file written through one large buffer to "<path>.tmp"; commit() fsyncs and renames
// it to `path`. Destroying an uncommitted writer removes the temporary file.
class FastaOut {
 public:
  explicit FastaOut(const std::string& path) : path_(path), tmp_path_(path + ".tmp") {
    fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("bend extract: cannot create '%s': %s", tmp_path_.c_str(), std::strerror(errno));
    buf_.reserve(kFlushBytes + (1 << 20));
  }
  ~FastaOut() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(tmp_path_.c_str());
    }
  }
  FastaOut(const FastaOut&) = delete;
  FastaOut& operator=(const FastaOut&) = delete;

  // Appends `n` bytes; flushes when the buffer holds kFlushBytes.
  void append(const char* data, size_t n) {
    buf_.append(data, n);
    if (buf_.size() >= kFlushBytes) flush();
  }
  // Flushes, fsyncs, closes and renames to the final path. Throws naming the file.
  void commit() {
    flush();
    if (::fsync(fd_) != 0) fail("bend extract: fsync '%s': %s", tmp_path_.c_str(), std::strerror(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) fail("bend extract: close '%s': %s", tmp_path_.c_str(), std::strerror(errno));
    rename_durable(tmp_path_, path_);
  }
  int64_t n_bytes() const { return n_bytes_ + static_cast<int64_t>(buf_.size()); }

 private:
  static constexpr size_t kFlushBytes = 8u << 20;

  void flush() {
    size_t off = 0;
    while (off < buf_.size()) {
      const ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("bend extract: write '%s': %s", tmp_path_.c_str(), std::strerror(errno));
      off += static_cast<size_t>(n);
    }
    n_bytes_ += static_cast<int64_t>(buf_.size());
    buf_.clear();
  }

  std::string path_, tmp_path_;
  int fd_ = -1;
  std::string buf_;
  int64_t n_bytes_ = 0;  // bytes already written to the file
};

// keep[split_id] for the requested splits (all when none). Throws naming the BED file when a
// requested split has no row.
std::vector<bool> selected_splits(const BedTable& bed, const std::vector<std::string>& splits) {
  std::vector<bool> keep(bed.split_names.size(), splits.empty());
  for (const std::string& s : splits) {
    const int32_t id = find_split(bed, s);
    if (id < 0) fail("%s: no row has split '%s'", bed.path.c_str(), s.c_str());
    keep[static_cast<size_t>(id)] = true;
  }
  return keep;
}

void run_extract(const ExtractArgs& a) {
  const double t0 = wall_seconds();
  if (a.flank_bp < 0) fail("bend extract: --flank must be >= 0 (got %lld)", (long long)a.flank_bp);
  BedOptions bed_opt;
  bed_opt.require_split = false;
  const BedTable bed = read_bed(a.bed_path, bed_opt);
  FastaReader fa(a.genome_path);
  validate_regions(bed, fa, a.flank_bp);
  const std::vector<bool> keep = selected_splits(bed, a.splits);

  FastaOut out(a.out_path);
  std::string seq, header;
  int64_t n_rows = 0, n_bp = 0;
  for (size_t row = 0; row < bed.rows.size(); ++row) {
    const Region& r = bed.rows[row];
    if (!keep[static_cast<size_t>(r.split_id)]) continue;
    const std::string& chrom = bed.chrom_names[static_cast<size_t>(r.chrom_id)];
    const int64_t start_bp = r.start_bp - a.flank_bp, end_bp = r.end_bp + a.flank_bp;
    const bool minus = a.read_strand && r.strand == '-';
    try {
      fa.fetch(chrom, start_bp, end_bp, minus, seq);
    } catch (const std::exception& e) {
      fail("%s:%lld: %s", bed.path.c_str(), (long long)bed.line_of(static_cast<int64_t>(row)), e.what());
    }
    header = strfmt(">%s:%lld-%lld(%c)\n", chrom.c_str(), (long long)start_bp, (long long)end_bp,
                    r.strand);
    out.append(header.data(), header.size());
    seq.push_back('\n');
    out.append(seq.data(), seq.size());
    n_rows++;
    n_bp += end_bp - start_bp;
  }
  out.commit();
  const double wall_s = wall_seconds() - t0;
  std::fprintf(stderr,
               "bend extract: %lld rows, %s bp -> %s (%s) in %.3f s, %s nt/s, peak RSS %s\n",
               (long long)n_rows, human_count(double(n_bp)).c_str(), a.out_path.c_str(),
               human_bytes(double(out.n_bytes())).c_str(), wall_s,
               human_count(wall_s > 0 ? double(n_bp) / wall_s : 0.0).c_str(),
               human_bytes(double(peak_rss_bytes())).c_str());
}

}  // namespace

void add_extract_command(CLI::App& app) {
  auto a = std::make_shared<ExtractArgs>();
  CLI::App* c = app.add_subcommand(
      "extract", "Write the sequences of a BED's regions as FASTA (bend's own extraction path)");
  c->add_option("--bed", a->bed_path, "BED file: BEND layout, or BED3/BED6 (split column optional)")
      ->required();
  c->add_option("--genome", a->genome_path, "Reference FASTA (plain or bgzip; .fai/.gzi built if missing)")
      ->required();
  c->add_option("--out", a->out_path, "Output FASTA: >chrom:start-end(strand), one line per sequence")
      ->required();
  c->add_flag("--read-strand", a->read_strand, "Reverse-complement rows on the '-' strand");
  c->add_option("--flank", a->flank_bp, "Extend every region by this many bp on both sides")
      ->capture_default_str();
  c->add_option("--splits", a->splits, "Only these splits (default: all rows)")->delimiter(',');
  c->callback([a] {
    require_path("--bed", a->bed_path, PathKind::kFile);
    require_path("--genome", a->genome_path, PathKind::kFile);
    run_extract(*a);
  });
}

}  // namespace bend
