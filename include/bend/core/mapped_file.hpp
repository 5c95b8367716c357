// Read-only memory maps of whole files, for readers that would otherwise copy every byte out of
// the page cache with pread (bend train's shard reader: docs/benchmarks.md).
//
// A mapped file that shrinks while mapped (another process truncates or rewrites it) makes the
// next access to a page past its new end raise SIGBUS. While any MappedFile exists, a SIGBUS
// handler turns that into a clear error naming the file: "bend: error: PATH changed size while
// being read (...)" on stderr, then _exit(1); nothing is written after it, and the outputs bend
// writes are all renamed into place when complete, so nothing that looks complete is left.
// A SIGBUS at any other address goes to the handler that was there before (default: core dump).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace bend {

class MappedFile {
 public:
  // Maps the first `size` bytes of `path` (open with O_RDONLY), which must be at most the file's
  // size now. size 0 maps nothing (data() is nullptr). Throws bend::Error naming the file when it
  // cannot be opened, is shorter than `size`, or cannot be mapped.
  MappedFile(const std::string& path, uint64_t size);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const char* data_ = nullptr;
  uint64_t size_ = 0;
  int slot_ = -1;  // in the SIGBUS handler's table of mappings
};

}  // namespace bend
