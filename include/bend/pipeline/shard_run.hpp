// The part of a sharded embedding run that `bend embed` and `bend genome` share once rank 0
// has planned: the dynamic shard queue over all ranks (scheduler.hpp), each rank's pipeline
// (embed_worker.hpp), graceful stop (core/stop.hpp) and the job-wide agreement on the outcome.
//
// Steps, on every rank:
//   1. Rank 0 serves the queue on a thread (Dispatcher) and runs its own pipeline; other ranks
//      run their pipelines against RemoteSource.
//   2. Every rank's counters are gathered on rank 0. 2b. Every rank calls `finish_all` when
//      given (collective: e.g. the HDF5 output's checksums and `complete` attribute).
//   3. Rank 0 calls `finish_rank0` (write the manifest, print the summary).
//   4. Rank 0 broadcasts the outcome; only then may any rank exit, so a rank that exits with
//      a non-zero status (75 after a stop) never makes mpirun kill rank 0 mid-write.
//   5. After a stop, every rank throws RunStopped (exit status 75, message printed by rank 0).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "bend/pipeline/embed_worker.hpp"
#include "bend/pipeline/progress.hpp"
#include "bend/pipeline/scheduler.hpp"

namespace bend {

class Comm;
class Embedder;

// What rank 0 planned. Left empty on other ranks.
struct ShardQueuePlan {
  std::vector<ShardSpec> todo;   // shards still to do, handed out in this order (moved into the queue)
  Dispatcher::BuildFn build;     // ShardSpec -> ShardWork (called under the dispatcher's lock)
  Dispatcher::DoneFn on_done;    // records a finished shard (journal); under the same lock
  int64_t todo_rows = 0;         // rows (records) and nucleotides in `todo`, for progress
  int64_t todo_bp = 0;
  int64_t n_planned = 0;         // shards of the whole run
  int64_t n_done_before = 0;     // shards already complete when this run started
  const char* shard_option = "--shard-rows";  // the option that sets rows per shard (warning text)
};

// One rank's counters, gathered on rank 0 for the summary line.
struct RankStats {
  int64_t rows = 0, bp = 0, bytes = 0, shards = 0, peak_rss = 0;
  double cpu_s = 0;
  int64_t bend_dropped = 0;  // rows BEND's own code would drop (Embedder::bend_drops_row)
};

// The outcome, the same on every rank.
struct ShardQueueResult {
  int stop_signal = 0;              // 0: every shard is done; else the signal that stopped the run
  int64_t n_done = 0;               // shards complete now (before + this run); rank 0 only
  std::vector<RankStats> ranks;     // every rank's counters, rank order; rank 0 only
};

// A rank's pipeline: takes shards from the source until it has none (default: run_embed_worker).
using ShardWorkerFn = std::function<void(ShardSource& source, RankCounters& counters)>;

// Runs steps 1-5 on every rank of `comm` (collective). A failure in a pipeline throws
// bend::Error on the rank that hit it (the caller aborts the job); rank 0's finish_rank0 may
// throw the same way. After a stop, throws RunStopped on every rank once finish_rank0 is done.
// `worker` replaces run_embed_worker(settings, embedder, ...) as each rank's pipeline (bend
// variants).
void run_shard_queue(Comm& comm, const WorkerSettings& settings, Embedder& embedder, ShardQueuePlan& plan,
                     const ProgressSettings& progress,
                     const std::function<void(const ShardQueueResult&)>& finish_rank0,
                     const std::function<void()>& finish_all = nullptr,
                     const ShardWorkerFn& worker = nullptr);

// Rank 0's last line: rows, nucleotides, wall and CPU time, nt/s, bytes; then rows and peak
// RSS per rank. `verb` is "done" or "stopped".
void print_run_summary(const char* verb, const std::vector<RankStats>& ranks, double wall_s, size_t n_shards);

}  // namespace bend
