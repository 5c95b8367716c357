// Input paths named on the command line (or in a --config file) must exist: checked when the
// chosen command runs, not by CLI11 validators, which also check the values of the other
// commands' sections of a job file (`bend embed --config job.toml` would refuse [train]'s
// `data`, which embed is about to write). A missing path is a usage error (exit 2, main.cpp).
#pragma once

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace bend {

enum class PathKind { kFile, kDirectory, kAny };

// Throws CLI::ValidationError ("--bed: File does not exist: x.bed") when `path` is set but is
// not an existing file / directory / anything.
inline void require_path(const char* option, const std::string& path, PathKind kind) {
  if (path.empty()) return;
  struct stat st;
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (kind == PathKind::kFile && !(exists && !S_ISDIR(st.st_mode)))
    throw CLI::ValidationError(option, (exists ? "Not a file: " : "File does not exist: ") + path);
  if (kind == PathKind::kDirectory && !(exists && S_ISDIR(st.st_mode)))
    throw CLI::ValidationError(option, (exists ? "Not a directory: " : "Directory does not exist: ") + path);
  if (kind == PathKind::kAny && !exists) throw CLI::ValidationError(option, "Path does not exist: " + path);
}

inline void require_paths(const char* option, const std::vector<std::string>& paths, PathKind kind) {
  for (const std::string& p : paths) require_path(option, p, kind);
}

}  // namespace bend
