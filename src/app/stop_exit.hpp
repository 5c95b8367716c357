// Commands that honour the graceful stop (bend/core/stop.hpp) run their body through
// run_stoppable(): a RunStopped leaving the body (its message already printed by rank 0)
// becomes exit status 75 through CLI11's RuntimeError, which main() returns silently.
#pragma once

#include <CLI/CLI.hpp>

#include "bend/core/stop.hpp"

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

}  // namespace bend
