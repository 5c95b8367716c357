#include "bend/pipeline/shard_run.hpp"

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "bend/core/bytes.hpp"
#include "bend/core/log.hpp"
#include "bend/core/stop.hpp"
#include "bend/dist/comm.hpp"

namespace bend {

namespace {

// Rank 0 of a multi-rank job, while its queue server runs: prints the error and ends the whole
// job with exit status 1 (MPI_Abort), without unwinding (which would free what the server uses).
[[noreturn]] void abort_job(Comm& comm, const char* what) {
  static std::mutex once;
  once.lock();  // the worker and the server thread may both fail: one message, one abort
  std::fprintf(stderr, "bend: error: %s\n", what);
  std::fflush(stderr);
  comm.abort(1);
}

// Step 1 on rank 0: serve the queue on a thread while this rank's own pipeline runs.
// Returns the signal that stopped the run, or 0.
// The queue hands out whole shards: with fewer shards than ranks, some ranks get nothing to do.
void warn_if_ranks_idle(const ShardQueuePlan& plan, int n_ranks) {
  const int64_t n = static_cast<int64_t>(plan.todo.size());
  if (n == 0 || n >= n_ranks) return;
  const int64_t suggest = std::max<int64_t>(1, (plan.todo_rows + 2 * n_ranks - 1) / (2 * n_ranks));
  log_warn("%lld shard%s to do for %d ranks: %lld rank%s will have no work (%s %lld gives each rank about two)",
           (long long)n, n == 1 ? "" : "s", n_ranks, (long long)(n_ranks - n), n_ranks - n == 1 ? "" : "s",
           plan.shard_option, (long long)suggest);
}

int serve_and_work(Comm& comm, const ShardWorkerFn& work, ShardQueuePlan& plan,
                   const ProgressSettings& progress_settings, RankCounters& counters, int64_t& n_done_now) {
  ProgressMeter progress(comm.size(), plan.todo_rows, plan.todo_bp, progress_settings);
  auto on_done = [&](const ShardDone& d) {
    plan.on_done(d);
    ++n_done_now;
  };
  Dispatcher dispatcher(comm, std::move(plan.todo), plan.build, on_done, progress, counters);
  std::exception_ptr server_error;  // one rank only: rethrown after the join
  std::thread server([&] {
    try {
      dispatcher.serve();
    } catch (const std::exception& e) {  // a full disk in the journal, a bad row in build()
      if (comm.size() > 1) abort_job(comm, e.what());
      server_error = std::current_exception();
    }
  });
  try {
    work(dispatcher, counters);
  } catch (const std::exception& e) {
    dispatcher.local_finished();
    // Remote ranks wait on this rank's queue, so the job ends here: unwinding first would
    // destroy the dispatcher, the plan and the run's state under the server thread still
    // serving them (SIGSEGV instead of exit 1).
    if (comm.size() > 1) abort_job(comm, e.what());
    server.join();
    throw;
  }
  dispatcher.local_finished();
  server.join();
  if (server_error) std::rethrow_exception(server_error);
  // A signal that came as the pipeline drained may have dropped shards after serve()'s last poll.
  if (stop_requested()) dispatcher.stop(stop_signal(), comm.rank());
  progress.maybe_print(true);
  progress.finish();
  return dispatcher.stopped_by();
}

}  // namespace

void run_shard_queue(Comm& comm, const WorkerSettings& ws, Embedder& embedder, ShardQueuePlan& plan,
                     const ProgressSettings& progress,
                     const std::function<void(const ShardQueueResult&)>& finish_rank0,
                     const std::function<void()>& finish_all, const ShardWorkerFn& worker) {
  ShardWorkerFn work = worker;
  if (!work) work = [&](ShardSource& src, RankCounters& c) { run_embed_worker(ws, embedder, src, c); };
  RankCounters counters;
  ShardQueueResult result;
  int64_t n_done_now = 0;
  if (comm.rank() == 0) {
    warn_if_ranks_idle(plan, comm.size());
    int sig = serve_and_work(comm, work, plan, progress, counters, n_done_now);
    BEND_ASSERT(sig != 0 || plan.n_done_before + n_done_now == plan.n_planned);  // else a rank failed
    if (sig != 0 && plan.n_done_before + n_done_now == plan.n_planned) {
      log_info("the stop request came when every shard was finishing: the run is complete");
      sig = 0;
    }
    result.stop_signal = sig;
  } else {
    RemoteSource source(comm, counters);
    work(source, counters);
    source.finish();
  }

  // Step 2: counters to rank 0.
  RankStats mine{counters.rows_done, counters.bp_done, counters.bytes_written, counters.shards_done,
                 peak_rss_bytes(), cpu_seconds()};
  mine.bend_dropped = counters.bend_dropped;
  std::string packed(reinterpret_cast<const char*>(&mine), sizeof mine);
  std::vector<std::string> all = comm.gather(packed, 0);
  if (finish_all) finish_all();  // step 2b: collective output finishing (HDF5 files)

  // Steps 3-4: rank 0 finishes the output, then everyone learns the outcome.
  std::string outcome;
  if (comm.rank() == 0) {
    result.n_done = plan.n_done_before + n_done_now;
    result.ranks.resize(all.size());
    for (size_t r = 0; r < all.size(); ++r) std::memcpy(&result.ranks[r], all[r].data(), sizeof(RankStats));
    finish_rank0(result);
    ByteWriter bw(outcome);
    bw.put<int32_t>(result.stop_signal);
    bw.put<int64_t>(result.n_done);
    bw.put<int64_t>(plan.n_planned);
  }
  comm.bcast(outcome, 0);
  ByteReader in(outcome.data(), outcome.size());
  result.stop_signal = in.get<int32_t>();
  int64_t n_done = in.get<int64_t>();
  int64_t n_planned = in.get<int64_t>();

  // Step 5.
  if (result.stop_signal != 0) {
    throw_run_stopped(strfmt("stopped by %s after %lld of %lld shards; run the same command again to resume",
                             signal_name(result.stop_signal).c_str(), (long long)n_done, (long long)n_planned),
                      comm.rank() == 0, result.stop_signal);
  }
}

void print_run_summary(const char* verb, const std::vector<RankStats>& st, double wall_s, size_t n_shards) {
  RankStats t;
  std::string per_rank_rows, per_rank_rss;
  for (const RankStats& r : st) {
    t.rows += r.rows;
    t.bp += r.bp;
    t.bytes += r.bytes;
    t.cpu_s += r.cpu_s;
    t.bend_dropped += r.bend_dropped;
    per_rank_rows += " " + std::to_string(r.rows);
    per_rank_rss += " " + human_bytes(static_cast<double>(r.peak_rss));
  }
  log_info("%s: %lld rows, %s nt in %.2f s wall (%.1f s CPU): %s nt/s, %s written, %zu shards", verb,
           (long long)t.rows, human_count(t.bp).c_str(), wall_s, t.cpu_s,
           human_count(wall_s > 0 ? t.bp / wall_s : 0).c_str(), human_bytes(t.bytes).c_str(), n_shards);
  log_info("rows per rank:%s; peak RSS per rank:%s", per_rank_rows.c_str(), per_rank_rss.c_str());
  if (t.bend_dropped > 0) {
    log_warn("%lld rows have a run of >= 10 N: BEND's own code gives them fewer vectors than bases "
             "and its scripts drop them; bend kept them (the '-' token's vector over its N run; "
             "docs/differences.md)", (long long)t.bend_dropped);
  }
}

}  // namespace bend
