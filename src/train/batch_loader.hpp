// Reads and collates this rank's part of each global batch on a background thread, so data
// loading overlaps the forward and backward passes. Global batch b is records
// order[b*B, (b+1)*B); rank r takes a contiguous slice of it (sizes differ by at most one).
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "bend/core/queue.hpp"
#include "bend/train/dataset.hpp"

namespace bend {

// [begin, end) of rank `rank`'s slice of the global range [begin, end).
inline std::pair<int64_t, int64_t> rank_slice(int64_t begin, int64_t end, int rank, int size) {
  int64_t n = end - begin, base = n / size, extra = n % size;
  int64_t lo = begin + rank * base + std::min<int64_t>(rank, extra);
  return {lo, lo + base + (rank < extra ? 1 : 0)};
}

class BatchLoader {
 public:
  // `reader` is used only by the loader thread until the loader is destroyed. Global batches
  // before `first_batch` are skipped (resuming inside an epoch); n_batches() still counts them.
  BatchLoader(SplitReader& reader, std::vector<RecordRef> order, int64_t batch_size, int rank, int size,
              int64_t first_batch = 0);
  ~BatchLoader();
  int64_t n_batches() const { return n_batches_; }
  // The next global batch's local part (n may be 0). Rethrows a read error.
  bool next(Batch& out);

 private:
  void run();

  SplitReader& reader_;
  std::vector<RecordRef> order_;
  int64_t batch_size_, n_batches_, first_batch_;
  int rank_, size_;
  BoundedQueue<Batch> queue_{2};
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace bend
