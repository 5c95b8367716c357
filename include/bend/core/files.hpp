// File-system helpers with the project's rules built in: every error names the path, and
// files that must never look complete when they are not are written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

// mkdir -p. Throws bend::Error naming the path on failure.
void make_dirs(const std::string& path);
bool path_exists(const std::string& path);
// Size in bytes, or -1 when the file does not exist.
int64_t file_size_or_neg(const std::string& path);
// Whole file into memory. Throws bend::Error naming the path.
std::string read_file(const std::string& path);
// Writes `content` to `path` via "<path>.tmp", fsync, rename, fsync of the directory.
void write_file_atomic(const std::string& path, const std::string& content);
// rename(2) + fsync of the destination directory. Throws naming both paths.
void rename_durable(const std::string& from, const std::string& to);
// rename(2) only: atomic, but durable only after a later fsync_dir() of the destination's
// directory (one per batch of renames; bend embed does one per rank at the end). Throws naming
// both paths.
void rename_file(const std::string& from, const std::string& to);
// fsync of a directory (makes renames durable).
void fsync_dir(const std::string& dir);
// Removes a file if present; throws on any error other than "does not exist".
void remove_if_exists(const std::string& path);
// Names (not paths) of the entries of a directory, sorted.
std::vector<std::string> list_dir(const std::string& dir);
// CRC32C of a file's bytes, streamed. Throws naming the path.
uint32_t file_crc32c(const std::string& path);
// Directory part of a path ("." when none).
std::string dir_name(const std::string& path);
// Joins two path parts with one '/'.
std::string path_join(const std::string& a, const std::string& b);
// Absolute, normalised form of an existing path (realpath); the input when that fails.
std::string absolute_path(const std::string& path);
// Free bytes on the file system holding `path`, or -1 when unknown.
int64_t free_space_bytes(const std::string& path);

}  // namespace bend
