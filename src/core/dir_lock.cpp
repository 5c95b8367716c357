#include "bend/core/dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bend/core/error.hpp"
#include "bend/core/log.hpp"

namespace bend {

DirLock::DirLock(const std::string& dir, const char* who) {
  fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) fail("cannot open directory %s: %s", dir.c_str(), std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  const int e = errno;
  if (e == EWOULDBLOCK) {
    ::close(fd_);
    fd_ = -1;
    fail("%s is in use: another %s (or bend run) is writing it now; wait until it has finished, "
         "or choose another output directory",
         dir.c_str(), who);
  }
  if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS || e == EBADF) {
    log_warn("%s: the file system does not support locks (%s); two runs writing it at once would "
             "not be detected", dir.c_str(), std::strerror(e));
    return;
  }
  ::close(fd_);
  fd_ = -1;
  fail("cannot lock %s: %s", dir.c_str(), std::strerror(e));
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace bend
