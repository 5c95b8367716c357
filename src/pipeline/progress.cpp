#include "bend/pipeline/progress.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "bend/core/error.hpp"
#include "bend/core/log.hpp"

namespace bend {

ProgressMode parse_progress_mode(const std::string& name) {
  if (name == "auto") return ProgressMode::kAuto;
  if (name == "bar") return ProgressMode::kBar;
  if (name == "lines") return ProgressMode::kLines;
  if (name == "none") return ProgressMode::kNone;
  fail("--progress '%s': expected auto, bar, lines or none", name.c_str());
}

bool stderr_shows_terminal() {
  if (isatty(STDERR_FILENO)) return true;
  // Open MPI's mpirun forwards each rank's stderr from a pipe (stdout from a pty of its own,
  // whatever mpirun's stdout is: no hint there). Rank 0 runs on mpirun's node as its child.
  if (std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr) return false;
  const std::string parent_stderr = "/proc/" + std::to_string(getppid()) + "/fd/2";
  const int fd = ::open(parent_stderr.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return false;  // another user's process, or no /proc
  const bool tty = isatty(fd) != 0;
  ::close(fd);
  return tty;
}

static ProgressMode resolve(ProgressMode m) {
  if (m != ProgressMode::kAuto) return m;
  return stderr_shows_terminal() ? ProgressMode::kBar : ProgressMode::kLines;
}

ProgressMeter::ProgressMeter(int n_ranks, int64_t total_rows, int64_t total_bp, const ProgressSettings& settings)
    : rows_(n_ranks, 0),
      bp_(n_ranks, 0),
      total_rows_(total_rows),
      total_bp_(total_bp),
      interval_s_(settings.interval_s),
      start_s_(wall_seconds()),
      last_print_s_(wall_seconds()),
      mode_(resolve(settings.mode)) {}

void ProgressMeter::update(int rank, int64_t rows_done, int64_t bp_done) {
  std::lock_guard<std::mutex> lock(mutex_);
  rows_[rank] = rows_done;
  bp_[rank] = bp_done;
}

void ProgressMeter::maybe_print(bool force) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (mode_ == ProgressMode::kNone) return;
  double now = wall_seconds();
  const bool bar_mode = mode_ == ProgressMode::kBar;
  double period = bar_mode ? 0.5 : interval_s_;
  if (!force && now - last_print_s_ < period) return;
  last_print_s_ = now;
  int64_t rows = 0, bp = 0;
  for (size_t r = 0; r < bp_.size(); ++r) {
    rows += rows_[r];
    bp += bp_[r];
  }
  double elapsed = now - start_s_;
  double rate = elapsed > 0 ? bp / elapsed : 0;
  double frac = total_bp_ > 0 ? static_cast<double>(bp) / total_bp_ : 1.0;
  double eta = rate > 0 ? (total_bp_ - bp) / rate : -1;
  if (bar_mode) {
    char bar[31];
    int filled = static_cast<int>(frac * 30);
    for (int i = 0; i < 30; ++i) bar[i] = i < filled ? '#' : '.';
    bar[30] = 0;
    std::fprintf(stderr, "\r[%s] %5.1f%% %lld/%lld rows %s/%s nt %s nt/s ETA %s   ", bar,
                 100 * frac, (long long)rows, (long long)total_rows_, human_count(bp).c_str(),
                 human_count(total_bp_).c_str(), human_count(rate).c_str(),
                 human_duration(eta).c_str());
    std::fflush(stderr);
    printed_bar_ = true;
  } else {
    log_info("progress: %.1f%% %lld/%lld rows, %s/%s nt, %s nt/s, ETA %s", 100 * frac,
             (long long)rows, (long long)total_rows_, human_count(bp).c_str(),
             human_count(total_bp_).c_str(), human_count(rate).c_str(), human_duration(eta).c_str());
  }
}

void ProgressMeter::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (printed_bar_) std::fprintf(stderr, "\n");
}

}  // namespace bend
