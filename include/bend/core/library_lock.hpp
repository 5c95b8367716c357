// One process-wide lock for the two libraries that are not thread-safe in this build: MPI
// (initialised MPI_THREAD_SERIALIZED: one thread in MPI at a time) and HDF5 (built without
// --enable-threadsafe). Parallel HDF5 calls into MPI, so one lock covers both.
#pragma once

#include <mutex>

namespace bend {

// Hold it around every MPI call (bend::Comm does) and every HDF5 call (labels, store/h5_*).
// Recursive: a holder may call Comm. Never held across a wait on another thread of this process.
std::recursive_mutex& library_mutex();

// RAII holder of library_mutex().
using LibraryLock = std::lock_guard<std::recursive_mutex>;

}  // namespace bend
