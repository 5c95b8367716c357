// `bend bench train`: the speed of BEND's head training steps on in-memory batches (no data
// loading), the baseline that `bend train` is compared with in tools/bench (docs/benchmarks.md).
#pragma once

#include <cstdint>

#include "bend/train/head_config.hpp"

namespace bend {

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
// `min_seconds` have passed. The batches are channels first, the layout bend train's loader
// gives the head, and the allocator is set up as for bend train (tune_allocator_for_training).
// Throws bend::Error on a bad head configuration.
TrainBenchResult bench_train_steps(const TrainBenchSettings& s);

}  // namespace bend
