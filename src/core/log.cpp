#include "bend/core/log.hpp"

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace bend {

static std::atomic<int> g_rank{-1};
static std::mutex g_log_mutex;

void set_log_rank(int rank) { g_rank = rank; }

static void vlog(const char* level, const char* fmt, va_list ap) {
  char msg[4096];
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  std::time_t t = std::time(nullptr);
  std::tm tm_now;
  localtime_r(&t, &tm_now);
  char ts[16];
  std::strftime(ts, sizeof ts, "%H:%M:%S", &tm_now);
  std::lock_guard<std::mutex> lock(g_log_mutex);
  if (g_rank >= 0) {
    std::fprintf(stderr, "[bend r%d %s]%s %s\n", g_rank.load(), ts, level, msg);
  } else {
    std::fprintf(stderr, "[bend %s]%s %s\n", ts, level, msg);
  }
}

void log_info(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog("", fmt, ap);
  va_end(ap);
}

void log_warn(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(" warning:", fmt, ap);
  va_end(ap);
}

double wall_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// VmHWM of /proc/self/status: the high-water mark of this process image's own memory.
// getrusage's ru_maxrss is only the fallback: Linux carries it over fork and execve, so a process
// started by a large parent (a Python driver) reports the parent's RSS at fork time.
int64_t peak_rss_bytes() {
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    long long kib = -1;
    while (std::fgets(line, sizeof line, f)) {
      if (std::sscanf(line, "VmHWM: %lld kB", &kib) == 1) break;
    }
    std::fclose(f);
    if (kib >= 0) return static_cast<int64_t>(kib) * 1024;
  }
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

std::string human_bytes(double n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (std::fabs(n) >= 1024.0 && u < 5) {
    n /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
  return buf;
}

std::string human_count(double n) {
  char buf[32];
  if (std::fabs(n) >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fG", n / 1e9);
  } else if (std::fabs(n) >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
  } else if (std::fabs(n) >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", n);
  }
  return buf;
}

std::string human_duration(double s) {
  if (!(s >= 0) || s > 1e8) return "?";
  long t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  } else if (t >= 60) {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lds", t);
  }
  return buf;
}

}  // namespace bend
