// tune_allocator_for_batches (see bend/core/alloc_tuning.hpp).
#include "bend/core/alloc_tuning.hpp"

#include <malloc.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "bend/core/log.hpp"

namespace bend {

void tune_allocator_for_batches() {
  static bool done = false;
  if (done) return;
  done = true;
  const char* keep = std::getenv("BEND_MALLOC_DEFAULTS");
  if (keep && std::strcmp(keep, "1") == 0) return;
#ifdef __GLIBC__
  // M_TRIM_THRESHOLD first: setting it also stops glibc from moving the thresholds itself.
  if (mallopt(M_TRIM_THRESHOLD, INT_MAX) != 1 || mallopt(M_MMAP_MAX, 0) != 1) {
    log_warn("mallopt refused the batch allocator settings; keeping glibc's defaults");
  }
#endif
}

}  // namespace bend
