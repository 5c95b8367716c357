// Commands that honour the graceful stop (bend/core/stop.hpp) run their body through
// run_stoppable(): a RunStopped leaving the body (its message already printed by rank 0)
// becomes exit status 75 through CLI11's RuntimeError, which main() returns silently.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "bend/core/log.hpp"
#include "bend/core/stop.hpp"
#include "bend/dist/comm.hpp"

namespace bend {

// Runs `body`, which must own the command's Comm, so MPI is finalised before the exit.
template <typename Body>
void run_stoppable(Body&& body) {
  try {
    body();
  } catch (const RunStopped&) {
    throw CLI::RuntimeError(kExitStopped);
  }
}

// The body of a distributed command (`bend embed`, `genome`, `variants`) on every rank: opens the
// job's Comm, installs the stop handlers (SIGTERM/SIGINT/SIGUSR1: stop cleanly, exit 75), tags
// log lines with the rank, and runs `run(comm)`. A CollectiveError (every rank knows, RunStopped
// too) goes on to main(), which prints it on rank 0 only; any other failure on one rank of
// several is printed with its rank and aborts the job, since the other ranks wait on this one.
template <typename Run>
void run_on_every_rank(const char* command, Run&& run) {
  Comm comm;
  install_stop_handlers();
  set_log_rank(comm.size() > 1 ? comm.rank() : -1);
  try {
    run(comm);
  } catch (const CollectiveError&) {
    throw;
  } catch (const std::exception& e) {
    if (comm.size() == 1) throw;
    std::fprintf(stderr, "%s: error (rank %d): %s\n", command, comm.rank(), e.what());
    std::fflush(stderr);
    comm.abort(1);
  }
}

}  // namespace bend
