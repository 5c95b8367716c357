// An exclusive advisory lock on an output directory (flock on the directory itself: no lock
// file appears among the outputs). Two runs writing one directory at once would mix their
// files (one run's curves beside the other's best row); the second one is refused instead.
#pragma once

#include <string>

namespace bend {

class DirLock {
 public:
  // Locks `dir` (which must exist). Throws bend::Error naming `dir` and `who` ("bend train")
  // when another process holds it. File systems without locks only log a warning.
  DirLock(const std::string& dir, const char* who);
  ~DirLock();  // releases the lock (the kernel does too when the process dies)
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace bend
