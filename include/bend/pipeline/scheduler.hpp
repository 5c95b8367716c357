// The dynamic shard queue of `bend embed`. Rank 0 owns the queue; every rank (rank 0 too)
// asks for its next shard when its pipeline has room, so long and short shards balance.
//
// Protocol (tags in scheduler.cpp):
//   1. Worker -> 0, REQUEST: its counters, its stop signal (0: none; core/stop.hpp) and the
//      reports of shards finished since last time.
//   2. 0 -> worker, ASSIGN: a flag, then the ShardWork when there is one. No shard = stop
//      asking: flag 0 = every shard is handed out; flag 2 + signal = the run is stopping.
//   3. Worker -> 0, FINAL: counters and remaining reports, after its pipeline has drained.
//   4. Rank 0's serve() returns when every worker sent FINAL and rank 0's own pipeline is done.
// Graceful stop: a stop signal on any rank reaches rank 0 in that rank's next REQUEST (rank 0
// polls its own flag); from then on rank 0 hands out no shard. Each rank finishes the shards
// its model has started on and drops those it only prefetched (ShardSource::stopping), so a
// rerun does them. Signals that reach only some ranks thus stop the whole job.
// Threads: on rank 0 only the thread in serve() calls MPI; on other ranks only the reader
// thread (next) and, after the pipeline has joined, the main thread (finish).
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "bend/pipeline/plan.hpp"
#include "bend/pipeline/progress.hpp"
#include "bend/pipeline/work.hpp"

namespace bend {

class Comm;

// Where a rank's pipeline gets shards from and reports finished ones to.
class ShardSource {
 public:
  virtual ~ShardSource() = default;
  // Next shard to embed; false when there is no more work. Reader thread only.
  virtual bool next(ShardWork& out) = 0;
  // A shard whose file is complete under its final name. Writer thread.
  virtual void report(const ShardDone& done) = 0;
  // True once the run is stopping (graceful stop): shards handed out but not started yet are
  // dropped (not reported, so a rerun does them). Any thread.
  virtual bool stopping() const { return false; }
};

// Rank 0's side: the queue, served to rank 0's own pipeline and to the others over MPI.
class Dispatcher : public ShardSource {
 public:
  using BuildFn = std::function<ShardWork(const ShardSpec&)>;  // ShardSpec -> rows + labels
  using DoneFn = std::function<void(const ShardDone&)>;        // journal the finished shard
  // `todo` is handed out in the given order. `build` and `on_done` are called under a lock.
  Dispatcher(Comm& comm, std::vector<ShardSpec> todo, BuildFn build, DoneFn on_done,
             ProgressMeter& progress, const RankCounters& local);
  bool next(ShardWork& out) override;
  void report(const ShardDone& done) override;
  // Serves remote ranks and prints progress until all work is reported (protocol step 4).
  void serve();
  // Rank 0's own pipeline has drained.
  void local_finished() { local_done_ = true; }
  // Hands out no further shards (graceful stop); shards in flight still finish. The first
  // call wins; it is logged once with the signal and the rank that received it.
  void stop(int signal_number, int from_rank);
  // The signal that stopped the run, or 0 when it was not stopped.
  int stopped_by() const { return stop_signal_; }
  // Shards not handed out yet (left for a rerun when the run was stopped).
  size_t n_left();
  bool stopping() const override;

 private:
  bool take(ShardSpec& spec);
  void handle_reports(int rank, const std::string& msg, bool final_msg);

  Comm& comm_;
  std::deque<ShardSpec> todo_;
  BuildFn build_;
  DoneFn on_done_;
  ProgressMeter& progress_;
  const RankCounters& local_;
  std::mutex mutex_;
  std::atomic<bool> local_done_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<int> stop_signal_{0};
};

// Ranks > 0: asks rank 0 for work over MPI.
class RemoteSource : public ShardSource {
 public:
  RemoteSource(Comm& comm, const RankCounters& counters) : comm_(comm), counters_(counters) {}
  bool next(ShardWork& out) override;
  void report(const ShardDone& done) override;
  // Protocol step 3. Call once, from the main thread, after the pipeline has joined.
  void finish();
  // The signal rank 0 said the run is stopping for, or 0 (valid after next() returned false).
  int stopped_by() const { return stop_signal_; }
  bool stopping() const override;

 private:
  std::string take_message();

  Comm& comm_;
  const RankCounters& counters_;
  std::mutex mutex_;
  std::vector<ShardDone> pending_;
  std::atomic<int> stop_signal_{0};
};

}  // namespace bend
