#include "bend/genome/windows.hpp"

#include <algorithm>

#include "bend/core/error.hpp"
#include "bend/genome/fasta.hpp"

namespace bend {

NRunIndex::NRunIndex(const FastaReader& fasta, const std::string& chrom, int64_t start_bp, int64_t end_bp,
                     int64_t block_bp) {
  BEND_ASSERT(block_bp > 0 && start_bp <= end_bp);
  std::string block;
  for (int64_t a = start_bp; a < end_bp; a += block_bp) {
    int64_t b = std::min(end_bp, a + block_bp);
    fasta.fetch(chrom, a, b, false, block);
    add_block(block.data(), block.size(), a);
  }
}

NRunIndex::NRunIndex(const std::string& seq, int64_t start_bp) { add_block(seq.data(), seq.size(), start_bp); }

void NRunIndex::add_block(const char* seq, size_t n, int64_t pos_bp) {
  size_t i = 0;
  while (i < n) {
    if (seq[i] != 'N') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < n && seq[j] == 'N') ++j;
    int64_t s = pos_bp + static_cast<int64_t>(i), e = pos_bp + static_cast<int64_t>(j);
    if (!run_end_.empty() && run_end_.back() == s) {  // continues the run of the previous block
      run_end_.back() = e;
    } else {
      n_before_.push_back(n_before_.empty() ? 0 : n_before_.back() + run_end_.back() - run_start_.back());
      run_start_.push_back(s);
      run_end_.push_back(e);
    }
    i = j;
  }
}

int64_t NRunIndex::count_before(int64_t x_bp) const {
  // The last run starting before x: everything before it counts fully, it counts up to x.
  auto it = std::lower_bound(run_start_.begin(), run_start_.end(), x_bp);
  if (it == run_start_.begin()) return 0;
  size_t k = static_cast<size_t>(it - run_start_.begin()) - 1;
  return n_before_[k] + std::min(x_bp, run_end_[k]) - run_start_[k];
}

int64_t NRunIndex::count(int64_t a_bp, int64_t b_bp) const {
  if (b_bp <= a_bp) return 0;
  return count_before(b_bp) - count_before(a_bp);
}

int64_t count_windows(int64_t start_bp, int64_t end_bp, int64_t stride_bp) {
  BEND_ASSERT(stride_bp > 0);
  if (end_bp <= start_bp) return 0;
  return (end_bp - start_bp + stride_bp - 1) / stride_bp;
}

}  // namespace bend
