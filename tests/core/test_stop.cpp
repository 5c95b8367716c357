// Graceful-stop signals (bend/core/stop.hpp). Each case runs in a forked child, because the
// stop state is process-wide and a second SIGINT/SIGTERM ends the process.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <functional>

#include "bend/core/stop.hpp"

namespace {

// Runs `body` in a child process; returns its exit status, or 1000 + signal when killed.
int in_child(const std::function<int()>& body) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(body());
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("a stop signal sets the flag, records the first signal and the process keeps running") {
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) {
    CHECK(in_child([sig] {
            bend::install_stop_handlers();
            if (bend::stop_requested() || bend::stop_signal() != 0) return 2;
            raise(sig);
            if (!bend::stop_requested() || bend::stop_signal() != sig) return 3;
            raise(SIGUSR1);  // a later request does not replace the first
            return bend::stop_signal() == sig ? 0 : 4;
          }) == 0);
  }
}

TEST_CASE("a second SIGINT or SIGTERM exits at once with 128 + signal") {
  CHECK(in_child([] {
          bend::install_stop_handlers();
          raise(SIGINT);
          raise(SIGINT);
          return 5;  // not reached
        }) == 130);
  CHECK(in_child([] {
          bend::install_stop_handlers();
          raise(SIGTERM);
          raise(SIGINT);
          return 5;
        }) == 130);
  CHECK(in_child([] {
          bend::install_stop_handlers();
          raise(SIGINT);
          raise(SIGTERM);
          return 5;
        }) == 143);
}

TEST_CASE("SIGUSR1 repeated, or before a SIGTERM, never exits at once") {
  CHECK(in_child([] {
          bend::install_stop_handlers();
          raise(SIGUSR1);
          raise(SIGUSR1);
          raise(SIGTERM);  // the first hard signal: still a graceful stop
          return bend::stop_signal() == SIGUSR1 ? 0 : 6;
        }) == 0);
}

TEST_CASE("without the handlers the signals keep their default action") {
  CHECK(in_child([] {
          raise(SIGUSR1);
          return 7;
        }) == 1000 + SIGUSR1);
}

TEST_CASE("request_stop works like a signal and ignores 0; signal_name names the signals") {
  CHECK(in_child([] {
          bend::request_stop(0);
          if (bend::stop_requested()) return 8;
          bend::request_stop(SIGUSR1);
          return bend::stop_signal() == SIGUSR1 ? 0 : 9;
        }) == 0);
  CHECK(bend::signal_name(SIGTERM) == "SIGTERM");
  CHECK(bend::signal_name(SIGINT) == "SIGINT");
  CHECK(bend::signal_name(SIGUSR1) == "SIGUSR1");
  CHECK(bend::signal_name(64) == "signal 64");
  CHECK(bend::kExitStopped == 75);
}
