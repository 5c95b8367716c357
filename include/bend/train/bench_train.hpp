// `bend bench train`: the speed of BEND's head training steps on in-memory batches (no data
// loading), the baseline that `bend train` is compared with in tools/bench (docs/benchmarks.md).
#pragma once

#include <cstdint>
#include <string>

#include "bend/train/head_config.hpp"

namespace bend {

class Comm;

struct TrainBenchSettings {
  HeadConfig head;            // input_dim, hidden, kernel, output_window, n_out
  LossConfig loss;            // bce (multi-hot targets) or cross_entropy (class ids)
  int64_t batch_rows = 64;    // rows per step
  int64_t len = 512;          // positions per row
  double lr = 0.003;          // AdamW, weight decay 0.01 as bend train
  double min_seconds = 3.0;   // measured time after one warm-up step
  int threads = 1;            // torch intra-op threads
  uint64_t seed = 1;          // weights and the random batches
};

struct TrainBenchResult {
  int64_t steps = 0;
  double wall_s = 0;
  double rows_per_s = 0;
};

// Runs forward + loss + backward + AdamW step on 4 pre-made random batches in turn until
// `min_seconds` have passed. The batches are in the layout bend train's loader gives the head
// (channels first below dim 128, src/train/head_batch.hpp), and the allocator is set up as for bend train (tune_allocator_for_training).
// Throws bend::Error on a bad head configuration.
TrainBenchResult bench_train_steps(const TrainBenchSettings& s);

// `bend bench load`: bend train's data loading on its own (BatchLoader: read, check CRCs, decode,
// collate) over one split of an embed output, without the model. The loader thread and
// BatchLoader::next() on the caller's thread (the deferred copies of wide rows, serially) do all
// the work, so the process CPU time is the loading's. One untimed warm-up pass (offset index,
// page cache, pooled buffers).
struct LoadBenchSettings {
  std::string data_dir;          // a `bend embed` output directory
  std::string split = "train";
  int64_t batch_rows = 64;
  int64_t shuffle_buffer = 1000; // bend train's default
  int passes = 3;                // timed passes over the split, each in its own epoch order
  uint64_t seed = 1;
};

struct LoadBenchResult {
  int64_t batches = 0;
  int64_t input_bytes = 0;       // float32 bytes of the batches' inputs (padding included)
  double wall_s = 0, cpu_s = 0;  // over the timed passes
};

// Throws bend::Error as SplitReader does (missing or damaged data).
LoadBenchResult bench_load_batches(const LoadBenchSettings& s);

// `bend bench allreduce`: the gradient reducer bend train uses, timed on one fused buffer.
struct AllreduceBenchSettings {
  double mib = 64;       // buffer size per rank, MiB of float32
  int iters = 20;        // timed sums, after one checked warm-up sum (at most 30: values grow)
  bool use_cuda = false; // device buffer on cuda:<local rank>, summed by NCCL (CUDA builds)
};

struct AllreduceBenchResult {
  std::string reducer;   // "mpi" or "nccl"
  int n_ranks = 1;
  double seconds_per_sum = 0;
  double algbw_gb_s = 0;  // bytes / time (1e9 B/s)
  double busbw_gb_s = 0;  // algbw * 2 (n - 1) / n, as nccl-tests reports it
};

// Collective over `comm`: fills each rank's buffer with rank + 1, checks that one sum gives
// n (n + 1) / 2 everywhere (throws bend::Error naming the first wrong element), then times
// `iters` in-place sums. Every rank gets the result (rank 0's timing).
AllreduceBenchResult bench_allreduce(const AllreduceBenchSettings& s, Comm& comm);

}  // namespace bend
