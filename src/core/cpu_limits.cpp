#include "bend/core/cpu_limits.hpp"

#include <sched.h>
#include <unistd.h>

#include "bend/core/error.hpp"

namespace bend {

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<int>(online) : 1;
}

int max_threads() { return kThreadsPerCpu * usable_cpus(); }

void check_thread_count(int n, const char* option) {
  if (n < 1) fail("%s must be at least 1 (got %d)", option, n);
  const int cpus = usable_cpus();
  if (n > kThreadsPerCpu * cpus) {
    fail("%s %d is more than this rank can use: it may run on %d CPU(s) (its affinity mask), so "
         "at most %d threads (%d per CPU); under mpirun, --bind-to none or --map-by ...:PE=N "
         "gives each rank more CPUs",
         option, n, cpus, kThreadsPerCpu * cpus, kThreadsPerCpu);
  }
}

}  // namespace bend
