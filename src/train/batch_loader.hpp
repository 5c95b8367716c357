// Reads and collates this rank's part of each global batch on a background thread, so data
// loading overlaps the forward and backward passes. Global batch b is records
// order[b*B, (b+1)*B); rank r takes a contiguous slice of it (sizes differ by at most one).
// Records of uncompressed TFRecord shards in the [n, max_len, dim] layout (float32, from dim 128)
// are parsed on the loader thread with their data CRC still unchecked; next() copies their
// values into the batch and checks their CRCs in one pass, spread over the compute threads
// (`parallel`): a loader thread beside busy compute threads costs about its own CPU time in
// wall time, the same work spread over all threads between steps half of it on 2 cores
// (docs/benchmarks.md). A batch whose CRCs do not all match is never handed out.
// Batches come in the head's layout (HeadBatchBuilder: inputs [n, dim, max_len] for dim < 128,
// [n, max_len, dim] from 128, Batch::channels_first says which) and their
// buffers go round through a BatchPool: next() hands the previous batch back, the loader
// refills it, and the pool keeps them from one loader (epoch, evaluation) to the next.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bend/core/queue.hpp"
#include "bend/train/dataset.hpp"
#include "head_batch.hpp"

namespace bend {

// [begin, end) of rank `rank`'s slice of the global range [begin, end).
inline std::pair<int64_t, int64_t> rank_slice(int64_t begin, int64_t end, int rank, int size) {
  int64_t n = end - begin, base = n / size, extra = n % size;
  int64_t lo = begin + rank * base + std::min<int64_t>(rank, extra);
  return {lo, lo + base + (rank < extra ? 1 : 0)};
}

// BEND collates each global batch in one process: every row zero-padded to the longest row of
// the whole batch, every label to its longest label. A rank holds a slice, padded by the loader
// to the slice's own longest row; GlobalPadding pads it to the global batch's (pad_batch_to).
// Without it the rows next to a slice's end would see other padding at every rank count: the
// head's 'same' convolutions carry what the padding becomes (GELU(bias) after the first) into a
// row's last positions. The shapes need no collective of their own: each rank's shape of the
// NEXT batch (BatchLoader::peek_shape) travels in the sum the current step makes anyway (its
// loss), each rank in its own 2 slots, so the sum holds every rank's values; only a pass's first
// batch needs a sum of its own. One rank: nothing to exchange or pad.
class GlobalPadding {
 public:
  GlobalPadding(int rank, int size) : rank_(rank), size_(size) {}
  // Doubles this rank adds to a sum over ranks: 2 * size (0 on one rank).
  int n_values() const { return size_ > 1 ? 2 * size_ : 0; }
  // Writes this rank's part of a batch's shape (its slice's longest row and label, 0 for an
  // empty slice) into v[0, n_values()), zeros in the other ranks' slots.
  void put(int64_t max_len, int64_t label_len, double* v) const;
  // Reads the global shape from the summed values: the batch the next pad() call pads.
  void take(const double* v);
  // Pads `b`, this rank's slice of that batch, to the global shape (n == 0: left alone).
  void pad(Batch& b) const;

 private:
  int rank_, size_;
  int64_t len_ = 0, label_len_ = 0;
};

// Used batches whose buffers are refilled instead of allocated (a 64 x 512 x 256 float32 batch
// is 32 MiB: fresh memory costs a zero-fill or page faults on every batch). Thread-safe.
class BatchPool {
 public:
  // A used batch (contents unspecified), or an empty one when none is kept.
  Batch take();
  // Keeps `b` for a later take(), unless kMaxKept are kept already or it holds no inputs.
  void give(Batch&& b);

 private:
  static constexpr size_t kMaxKept = 5;  // in the queue (2), being filled, peeked, in the consumer's hands
  std::mutex mutex_;
  std::vector<Batch> kept_;
};

// Runs body(begin, end) over [0, n) in chunks, possibly on several threads (at::parallel_for in
// bend train); empty: one call on the calling thread.
using ParallelRows = std::function<void(int64_t n, const std::function<void(int64_t, int64_t)>& body)>;

class BatchLoader {
 public:
  // `reader` is used only by the loader thread until the loader is destroyed. Global batches
  // before `first_batch` are skipped (resuming inside an epoch); n_batches() still counts them.
  // Batches come from and go back to `pool`, which must outlive the loader.
  BatchLoader(SplitReader& reader, std::vector<RecordRef> order, int64_t batch_size, int rank, int size,
              BatchPool& pool, int64_t first_batch = 0, ParallelRows parallel = {});
  ~BatchLoader();
  int64_t n_batches() const { return n_batches_; }
  // The next global batch's local part (n may be 0), in HeadBatchBuilder's layout
  // (Batch::channels_first). What `out` held goes back to the pool first, so nothing may still
  // point into its buffers (a tensor made with from_blob). Rethrows a read error; throws
  // bend::Error naming the shard file and record when a record's data CRC does not match.
  bool next(Batch& out);
  // The shape of this rank's part of the batch next() gives next, without handing it out (waits
  // until it is read): its longest row and its labels' first dimension (label_shape[1], 0 for
  // scalar labels), both 0 for an empty part; false (and zeros) after the last batch. Rethrows
  // a read error.
  bool peek_shape(int64_t& max_len, int64_t& label_len);

 private:
  struct Loaded {                      // a batch as the loader thread leaves it
    Batch batch;
    std::vector<DeferredRow> deferred; // rows still to copy and check (head_batch.hpp)
  };
  void run();
  void fill_deferred(Loaded& l);

  SplitReader& reader_;
  std::vector<RecordRef> order_;
  int64_t batch_size_, n_batches_, first_batch_;
  int rank_, size_;
  BatchPool& pool_;
  ParallelRows parallel_;
  BoundedQueue<Loaded> queue_{2};
  Loaded peeked_;                      // taken from the queue by peek_shape(), not yet by next()
  bool has_peeked_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace bend
