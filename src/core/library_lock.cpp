#include "bend/core/library_lock.hpp"

namespace bend {

std::recursive_mutex& library_mutex() {
  static std::recursive_mutex m;
  return m;
}

}  // namespace bend
