// Shared by the fuzz targets (tests/fuzz/fuzz_*.cpp): each defines LLVMFuzzerTestOneInput, run
// by libFuzzer in the clang build (-DBEND_FUZZ=ON, docs/testing.md) or by replay_main.cpp in the
// ordinary build (a short seeded run in ctest). A parser may throw bend::Error for bad bytes;
// any other exception, a crash, a hang or a sanitizer report is a finding.
#pragma once

#include <ftw.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "bend/core/error.hpp"

namespace bend_fuzz {

inline int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  return std::remove(path);
}

// A private directory for the files a target writes (parsers that take paths); removed with its
// files when the process exits normally (a crash leaves it for the post-mortem).
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string t = std::string(base && *base ? base : "/tmp") + "/bend-fuzz-XXXXXX";
    if (!mkdtemp(&t[0])) std::abort();
    return t;
  }();
  static const bool cleanup_registered = [] {
    std::atexit([] { nftw(dir.c_str(), remove_entry, 8, FTW_DEPTH | FTW_PHYS); });
    return true;
  }();
  (void)cleanup_registered;
  return dir;
}

// Writes `n` bytes to scratch_dir()/name and returns the path.
inline std::string write_scratch(const std::string& name, const uint8_t* data, size_t n) {
  const std::string path = scratch_dir() + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (n && std::fwrite(data, 1, n, f) != n) std::abort();
  std::fclose(f);
  return path;
}

// Runs fn(); bend::Error is the clean way to refuse input; anything else aborts (a finding).
template <class F>
void expect_clean(const char* what, F&& fn) {
  try {
    fn();
  } catch (const bend::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz %s: exception that is not a bend::Error: %s\n", what, e.what());
    std::abort();
  }
}

}  // namespace bend_fuzz
