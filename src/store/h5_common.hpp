// Private helpers of the HDF5 embedding files (h5_embeddings.cpp, h5_embeddings_reader.cpp):
// owned identifiers, HDF5's error stack as text, stored types and attributes. Callers hold
// library_mutex() around every use.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bend/core/half.hpp"

namespace bend {
namespace h5 {

// Owns one HDF5 identifier and closes it with the matching H5xclose (H5Iget_type decides).
class Id {
 public:
  Id() = default;
  explicit Id(hid_t id) : id_(id) {}
  ~Id() { reset(); }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  void reset(hid_t id = -1);
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }
  hid_t release() {
    hid_t id = id_;
    id_ = -1;
    return id;
  }

 private:
  hid_t id_ = -1;
};

// Turns HDF5's automatic error printing off while alive (errors become bend::Error text).
class Quiet {
 public:
  Quiet();
  ~Quiet();

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
  bool saved_ = false;
};

// The innermost messages of HDF5's current error stack, e.g. "MPI_File_write_at failed
// (MPI error: No space left on device)"; "unknown HDF5 error" when empty.
std::string error_text();
// Throws bend::Error "<path>: <what>: <error_text()>".
[[noreturn]] void fail_h5(const std::string& path, const std::string& what);
// Throws via fail_h5 when rc < 0.
inline void check(herr_t rc, const std::string& path, const std::string& what) {
  if (rc < 0) fail_h5(path, what);
}

// The file type of stored embeddings: IEEE float32 LE, IEEE binary16 LE (h5py reads '<f2'),
// or, for bfloat16, uint16 LE bit patterns (HDF5 1.10 has no bfloat16; see docs/formats.md).
hid_t stored_type(DType dt);
// Bytes of the fixed-length region strings: the longest region (at least 1).
size_t region_width(const std::vector<std::string>& regions);
// `strings` NUL-padded to `width` bytes each, concatenated: a fixed-length string dataset's bytes.
std::string pack_strings(const std::vector<std::string>& strings, int64_t width);
// The fixed-length string type of `n_bytes` (NUL-padded UTF-8); -1 on failure.
hid_t string_type(size_t n_bytes);

// Reads (write = false) or writes the block of rows [first_row, first_row + n_rows) x all
// `n_cols` columns of 2-D dataset `dset` from or to `buf` (memory type `mem_type`, row-major,
// contiguous). `dxpl` is the transfer property list. Returns false on any HDF5 failure; the
// caller names the file and the rows (fail_h5). Call with the library lock held.
bool transfer_rows(hid_t dset, hid_t mem_type, hid_t dxpl, int64_t first_row, int64_t n_rows,
                   int64_t n_cols, void* buf, bool write);

// Attributes. Writers are collective in parallel files (same value on every rank). Strings are
// variable-length UTF-8 (h5py reads them as str; format version 2); read_attr_str also reads the
// fixed-length strings of version 1 files.
void write_attr_str(hid_t loc, const char* name, const std::string& value, const std::string& path);
void write_attr_i64(hid_t loc, const char* name, int64_t value, const std::string& path);
void write_attr_u32(hid_t loc, const char* name, uint32_t value, const std::string& path);
// Overwrites an existing int64 attribute's value in place (no new file space: the file's
// metadata does not depend on when it is set); creates it when missing.
void set_attr_i64(hid_t loc, const char* name, int64_t value, const std::string& path);
bool has_attr(hid_t loc, const char* name);
std::string read_attr_str(hid_t loc, const char* name, const std::string& path);
int64_t read_attr_i64(hid_t loc, const char* name, const std::string& path);

// Dataset names.
constexpr const char* kEmbeddings = "embeddings";
constexpr const char* kOffsets = "offsets";
constexpr const char* kIndex = "index";
constexpr const char* kRegion = "region";
constexpr const char* kLabels = "labels";
constexpr const char* kLabelOffsets = "label_offsets";
constexpr const char* kLabelShapes = "label_shapes";
constexpr const char* kShardCrc = "shard_crc32c";
constexpr const char* kShardOffsets = "shard_offsets";
constexpr const char* kTokenSpans = "token_spans";
constexpr const char* kChrom = "chrom";
constexpr const char* kStart = "start";
constexpr const char* kEnd = "end";
constexpr const char* kBinBp = "bin_bp";
constexpr const char* kFormat = "bend-embeddings";

}  // namespace h5
}  // namespace bend
