// MappedFile and its SIGBUS handler (see mapped_file.hpp).
#include "bend/core/mapped_file.hpp"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "bend/core/error.hpp"

namespace bend {
namespace {

// The mappings the handler knows, published with release stores and read in the handler with
// acquire loads (no locks there). A slot is free while its `end` is 0; `path` points at the
// MappedFile's own path while the slot is in use. As many slots as Linux allows mappings by
// default (vm.max_map_count): bend train keeps a shard mapped while rows of queued batches
// point into it, which with one-record shards and large batches is thousands of files. Zero
// pages until used.
constexpr int kSlots = 65536;
struct Slot {
  std::atomic<uintptr_t> begin{0}, end{0};
  std::atomic<const char*> path{nullptr};
};
Slot g_slots[kSlots];
std::mutex g_slots_mutex;  // taken by constructors and destructors only
int g_next_slot = 0;       // where the next search for a free slot starts (under the mutex)
std::once_flag g_handler_once;
struct sigaction g_previous;

void write_all(const char* s, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return;
    }
    s += w;
    n -= static_cast<size_t>(w);
  }
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& s : g_slots) {
    const uintptr_t end = s.end.load(std::memory_order_acquire);
    if (end == 0 || a >= end || a < s.begin.load(std::memory_order_acquire)) continue;
    static const char kHead[] = "bend: error: ";
    static const char kTail[] =
        " changed size while being read (truncated or rewritten by another process?); stopped "
        "without writing anything further\n";
    const char* path = s.path.load(std::memory_order_acquire);
    size_t n = 0;
    while (path && path[n] != '\0') ++n;
    write_all(kHead, sizeof kHead - 1);
    if (path) write_all(path, n);
    write_all(kTail, sizeof kTail - 1);
    _exit(1);
  }
  // Not one of ours: put the previous handler back; returning re-runs the faulting access,
  // which now reaches it (or the default action).
  sigaction(SIGBUS, &g_previous, nullptr);
  (void)sig;
  (void)context;
}

void install_handler() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGBUS, &sa, &g_previous) != 0) {
    fail("cannot install the SIGBUS handler for mapped files: %s", std::strerror(errno));
  }
}

}  // namespace

MappedFile::MappedFile(const std::string& path, uint64_t size) : path_(path), size_(size) {
  std::call_once(g_handler_once, install_handler);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open %s: %s", path.c_str(), std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail("cannot stat %s: %s", path.c_str(), std::strerror(e));
  }
  if (static_cast<uint64_t>(st.st_size) < size) {
    ::close(fd);
    fail("%s: %llu bytes, expected at least %llu (truncated?)", path.c_str(),
         static_cast<unsigned long long>(st.st_size), static_cast<unsigned long long>(size));
  }
  if (size == 0) {
    ::close(fd);
    return;
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_SHARED, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED)
    fail("cannot map %s (%llu bytes): %s", path.c_str(), static_cast<unsigned long long>(size),
         std::strerror(e));
  data_ = static_cast<const char*>(p);
  std::lock_guard<std::mutex> lock(g_slots_mutex);
  for (int k = 0; k < kSlots; ++k) {
    const int i = (g_next_slot + k) % kSlots;
    Slot& s = g_slots[i];
    if (s.end.load(std::memory_order_relaxed) != 0) continue;
    s.path.store(path_.c_str(), std::memory_order_release);
    s.begin.store(reinterpret_cast<uintptr_t>(data_), std::memory_order_release);
    s.end.store(reinterpret_cast<uintptr_t>(data_) + size, std::memory_order_release);
    slot_ = i;
    g_next_slot = (i + 1) % kSlots;
    return;
  }
  ::munmap(p, static_cast<size_t>(size));
  data_ = nullptr;
  fail("cannot map %s: %d files are mapped already", path.c_str(), kSlots);
}

MappedFile::~MappedFile() {
  if (data_ == nullptr) return;
  if (slot_ >= 0) {
    std::lock_guard<std::mutex> lock(g_slots_mutex);
    g_slots[slot_].end.store(0, std::memory_order_release);
    g_slots[slot_].begin.store(0, std::memory_order_release);
    g_slots[slot_].path.store(nullptr, std::memory_order_release);
  }
  ::munmap(const_cast<char*>(data_), static_cast<size_t>(size_));
}

}  // namespace bend
