// Whole-genome tiling for `bend genome`: windows over a sequence or a region exactly as
// `bedtools makewindows -w W -s S` makes them, and the N content of any window from one
// streaming pass over the sequence (no chromosome is held in memory).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

class FastaReader;

// The positions of N (every base other than A/C/G/T after normalisation) in one span of a
// sequence, as sorted runs. Memory grows with the number of runs, not the span. Immutable
// after construction: count() is thread-safe.
class NRunIndex {
 public:
  // Scans chrom[start_bp, end_bp) of `fasta`, fetching blocks of `block_bp` nucleotides.
  // Throws bend::Error from FastaReader::fetch (unknown chromosome, range outside it).
  NRunIndex(const FastaReader& fasta, const std::string& chrom, int64_t start_bp, int64_t end_bp,
            int64_t block_bp = int64_t(1) << 20);
  // From a normalised sequence in memory that starts at `start_bp` (tests, small inputs).
  NRunIndex(const std::string& seq, int64_t start_bp);

  // Number of N in [a_bp, b_bp); positions outside the scanned span count as not N.
  int64_t count(int64_t a_bp, int64_t b_bp) const;
  // N in the whole span, and the number of maximal runs of N.
  int64_t n_total() const { return n_before_.empty() ? 0 : n_before_.back() + run_end_.back() - run_start_.back(); }
  size_t n_runs() const { return run_start_.size(); }

 private:
  void add_block(const char* seq, size_t n, int64_t pos_bp);
  int64_t count_before(int64_t x_bp) const;  // N in [span start, x_bp)

  std::vector<int64_t> run_start_, run_end_;  // [n_runs], half-open, sorted, non-adjacent
  std::vector<int64_t> n_before_;             // [n_runs]: N bases in runs 0..i-1
};

// Number of windows `bedtools makewindows -w window_bp -s stride_bp` makes on [start_bp, end_bp):
// one starting at every start_bp + k * stride_bp < end_bp.
int64_t count_windows(int64_t start_bp, int64_t end_bp, int64_t stride_bp);

// Window k of that tiling: [start_bp + k * stride_bp, min(that + window_bp, end_bp)).
inline int64_t window_start(int64_t start_bp, int64_t k, int64_t stride_bp) { return start_bp + k * stride_bp; }
inline int64_t window_end(int64_t start_bp, int64_t end_bp, int64_t k, int64_t window_bp, int64_t stride_bp) {
  int64_t e = start_bp + k * stride_bp + window_bp;
  return e < end_bp ? e : end_bp;
}

}  // namespace bend
