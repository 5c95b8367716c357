// Graceful stop: SIGTERM, SIGINT and SIGUSR1 ask a run to stop cleanly (no new work, work in
// flight finished, manifest or checkpoint consistent) and the process exits with kExitStopped.
// A second SIGINT or SIGTERM exits at once with 128 + signal; it leaves only temporary files,
// which the next run removes. docs/cli.md ("Stopping and resuming") describes the behaviour.
#pragma once

#include <string>

#include "bend/core/error.hpp"

namespace bend {

// Exit status of a run that stopped before finishing (EX_TEMPFAIL): rerun the same command.
constexpr int kExitStopped = 75;

// Installs the handlers for SIGTERM, SIGINT and SIGUSR1 (idempotent). Call on every rank after
// MPI is initialised. The handlers only store to lock-free atomics (async-signal-safe), except
// that a second SIGINT/SIGTERM writes one line to stderr and calls _exit(128 + signal).
void install_stop_handlers();

// True once a stop signal arrived (or request_stop was called). Any thread.
bool stop_requested();

// The first stop signal received (SIGTERM, SIGINT, SIGUSR1), or 0 when none. Any thread.
int stop_signal();

// Asks for a stop as if `signal_number` (non-zero) had arrived; the first request wins.
// Async-signal-safe.
void request_stop(int signal_number);

// "SIGTERM", "SIGINT", "SIGUSR1", ... ("signal N" for others).
std::string signal_name(int signal_number);

// Thrown on every rank of a run that stopped early because of a stop request, after the
// output (manifest, journal, checkpoint) is consistent; the command then exits with
// kExitStopped. `what()` is the message ("stopped by SIGTERM after 3 of 8 shards; run the same
// command again to resume"); throw_run_stopped() has printed it on rank 0 already.
class RunStopped : public CollectiveError {
 public:
  RunStopped(const std::string& msg, int signal_number) : CollectiveError(msg, false), signal_(signal_number) {}
  int signal_number() const { return signal_; }

 private:
  int signal_;
};

// Prints "bend: <msg>" to stderr when `print` (rank 0) and throws RunStopped. Printing here, not
// after MPI_Finalize, gets the message out before mpirun may kill the job.
[[noreturn]] void throw_run_stopped(const std::string& msg, bool print, int signal_number);

}  // namespace bend
