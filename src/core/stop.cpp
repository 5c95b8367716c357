#include "bend/core/stop.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace bend {

namespace {

std::atomic<int> g_signal{0};      // first stop signal, 0 while none
std::atomic<int> g_n_hard{0};      // SIGINT/SIGTERM received so far
std::atomic<bool> g_installed{false};
static_assert(std::atomic<int>::is_always_lock_free, "signal handlers need lock-free atomics");

void write_stderr(const char* text) {  // async-signal-safe: write(2) only
  size_t n = std::strlen(text);
  while (n > 0) {
    ssize_t k = ::write(STDERR_FILENO, text, n);
    if (k <= 0) return;
    text += k;
    n -= static_cast<size_t>(k);
  }
}

void on_stop_signal(int sig) {
  int saved_errno = errno;
  if ((sig == SIGINT || sig == SIGTERM) && g_n_hard.fetch_add(1) >= 1) {
    write_stderr(sig == SIGINT ? "bend: second SIGINT: exiting at once (the next run removes temporary files)\n"
                               : "bend: second SIGTERM: exiting at once (the next run removes temporary files)\n");
    _exit(128 + sig);
  }
  request_stop(sig);
  errno = saved_errno;
}

}  // namespace

void install_stop_handlers() {
  if (g_installed.exchange(true)) return;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // blocking reads and writes continue; we poll the flag
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) {
    if (sigaction(sig, &sa, nullptr) != 0) fail("cannot install the %s handler: %s", signal_name(sig).c_str(),
                                                std::strerror(errno));
  }
}

bool stop_requested() { return g_signal.load() != 0; }

int stop_signal() { return g_signal.load(); }

void request_stop(int signal_number) {
  int none = 0;
  if (signal_number != 0) g_signal.compare_exchange_strong(none, signal_number);
}

void throw_run_stopped(const std::string& msg, bool print, int signal_number) {
  if (print) {
    std::fprintf(stderr, "bend: %s\n", msg.c_str());
    std::fflush(stderr);
  }
  throw RunStopped(msg, signal_number);
}

std::string signal_name(int signal_number) {
  switch (signal_number) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGHUP: return "SIGHUP";
    case SIGKILL: return "SIGKILL";
    default: return strfmt("signal %d", signal_number);
  }
}

}  // namespace bend
