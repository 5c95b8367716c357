// Progress over all ranks, shown by rank 0: a live bar when the user's terminal shows it
// (also under mpirun, whose ranks write into pipes), periodic log lines otherwise (`--progress`).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace bend {

// Counters one rank's pipeline updates as it goes (any thread).
struct RankCounters {
  std::atomic<int64_t> rows_done{0};
  std::atomic<int64_t> bp_done{0};
  std::atomic<int64_t> bytes_written{0};
  std::atomic<int64_t> shards_done{0};
  std::atomic<int64_t> bend_dropped{0};  // rows BEND's code would drop (Embedder::bend_drops_row)
};

// `--progress`: kAuto is a bar when stderr_shows_terminal(), else lines.
enum class ProgressMode { kAuto, kBar, kLines, kNone };

// "auto" | "bar" | "lines" | "none"; throws bend::Error naming the accepted values.
ProgressMode parse_progress_mode(const std::string& name);

// True when what this process writes to stderr reaches a terminal: stderr is one, or the
// process was started by Open MPI's mpirun (OMPI_COMM_WORLD_SIZE set; the rank's stderr is a
// pipe that mpirun forwards) and mpirun's own stderr, /proc/<parent>/fd/2, is a terminal.
bool stderr_shows_terminal();

// How rank 0 reports progress.
struct ProgressSettings {
  double interval_s = 10.0;                 // seconds between log lines (a bar redraws every 0.5 s)
  ProgressMode mode = ProgressMode::kAuto;
};

// Aggregates the last-known counters of every rank. Thread-safe.
class ProgressMeter {
 public:
  // Totals cover the work of this run (already finished shards excluded).
  ProgressMeter(int n_ranks, int64_t total_rows, int64_t total_bp, const ProgressSettings& settings);
  void update(int rank, int64_t rows_done, int64_t bp_done);
  // Prints when the interval has passed (bar: every 0.5 s), or always with `force`.
  void maybe_print(bool force = false);
  // Ends the bar line.
  void finish();

 private:
  std::mutex mutex_;
  std::vector<int64_t> rows_, bp_;
  int64_t total_rows_, total_bp_;
  double interval_s_, start_s_, last_print_s_;
  ProgressMode mode_;  // kBar, kLines or kNone (kAuto resolved)
  bool printed_bar_ = false;
};

}  // namespace bend
