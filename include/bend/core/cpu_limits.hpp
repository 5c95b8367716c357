// How many threads a rank may ask for: bounded by the CPUs it can run on, so a typo such as
// `--threads 100000` is a clear error instead of thousands of threads.
#pragma once

namespace bend {

// CPUs this process may run on (its affinity mask; all online CPUs when the mask is unknown).
int usable_cpus();

// Threads per rank allowed for `usable_cpus()` CPUs: kThreadsPerCpu each (some
// oversubscription, e.g. a job file's threads = 4 on a 2-core laptop, stays possible).
constexpr int kThreadsPerCpu = 4;
int max_threads();

// Throws bend::Error naming `option` when n < 1 or n > max_threads().
void check_thread_count(int n, const char* option);

}  // namespace bend
