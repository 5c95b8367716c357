// `bend bench load`: the cost of bend train's data loading alone (see bench_train.hpp).
#include <algorithm>

#include "batch_loader.hpp"
#include "bend/core/log.hpp"
#include "bend/train/bench_train.hpp"

namespace bend {

LoadBenchResult bench_load_batches(const LoadBenchSettings& s) {
  SplitReader reader(s.data_dir, {s.split});
  BatchPool pool;
  LoadBenchResult r;
  Batch batch;
  // one warm-up pass (offset index, page cache, pooled buffers), then timed passes
  for (int pass = 0; pass <= s.passes; ++pass) {
    const double t0 = wall_seconds(), c0 = cpu_seconds();
    BatchLoader loader(reader,
                       epoch_order(reader.records_per_shard(), s.seed + pass, 0, s.shuffle_buffer),
                       s.batch_rows, 0, 1, pool);
    int64_t n = 0, bytes = 0;
    while (loader.next(batch)) {
      ++n;
      bytes += static_cast<int64_t>(batch.inputs.size() * sizeof(float));
    }
    if (pass == 0) continue;
    r.batches += n;
    r.input_bytes += bytes;
    r.wall_s += wall_seconds() - t0;
    r.cpu_s += cpu_seconds() - c0;
  }
  return r;
}

}  // namespace bend
