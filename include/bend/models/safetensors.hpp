// safetensors: the only way weights enter bend (pickles are never read).
// Layout: u64 little-endian header length N, N bytes of JSON header
//   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<value>"}}
// then the data; offsets count from the first byte after the header.
// Sharded checkpoints (as the 2.5B Nucleotide Transformers ship): model.safetensors.index.json
//   {"metadata": {...}, "weight_map": {"<name>": "model-00001-of-00002.safetensors", ...}}
// next to the shard files it names (paths relative to the index's folder); SafetensorsFile
// opened on the index presents every shard's tensors as one file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bend {

// One tensor's entry in a safetensors header.
struct TensorInfo {
  std::string dtype;           // "F32", "F16", "BF16", "I64", ... as written in the file
  std::vector<int64_t> shape;  // outermost first, row-major (C order)
  uint64_t offset_bytes = 0;   // start of its data, from the start of the data section
  uint64_t size_bytes = 0;     // = prod(shape) * element size
  uint32_t file = 0;           // which of SafetensorsFile::files() holds it (shards)
};

// Bytes per element of a safetensors dtype name ("F32" -> 4), or 0 for an unknown name.
size_t safetensors_dtype_size(const std::string& dtype);

// A safetensors file (or a sharded checkpoint's shards), memory-mapped read-only. The
// constructor validates every header; afterwards every method is const and safe to call from
// several threads at once.
class SafetensorsFile {
 public:
  // Maps `path` and checks the header: length within the file, valid JSON, known dtypes,
  // offsets in range, sizes = prod(shape) * element size, no two tensors overlapping, metadata
  // string -> string. Throws bend::Error naming the file (and the tensor) on any problem.
  // A `path` ending in ".index.json" is a shard index: every shard it names is mapped and
  // checked as above, and bend::Error names the index and the shard when a shard is missing, a
  // tensor the index lists is absent from its shard, a shard holds a tensor the index does not
  // list, or two shards hold the same tensor.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // The path given to the constructor (the index of a sharded checkpoint).
  const std::string& path() const { return path_; }
  // The data files: {path()}, or the shards in the index's order of first mention.
  std::vector<std::string> files() const;
  // The data file holding tensor `name` (a shard's path, or path()); throws when absent.
  const std::string& file_of(const std::string& name) const;
  // All tensors by name (the "__metadata__" entry is not a tensor and is not listed).
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  // True when the file holds a tensor named `name`.
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Entry of tensor `name`; throws bend::Error naming the file when it is absent.
  const TensorInfo& info(const std::string& name) const;
  // Raw little-endian bytes of tensor `name` (size info(name).size_bytes, no alignment
  // guarantee), valid while this object lives. Throws bend::Error when absent.
  const char* data(const std::string& name) const;
  // Values of tensor `name` as float32 (F32 copied, F16/BF16/F64 converted), row-major.
  // Throws bend::Error naming file and tensor for other dtypes.
  std::vector<float> read_f32(const std::string& name) const;
  // The "__metadata__" strings (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // CRC-32C of the whole file's bytes (computed on each call: it reads the whole file); for a
  // sharded checkpoint, weights_crc32c(path()).
  uint32_t crc32c() const;
  // Size of the whole file in bytes (sharded: the shards' sizes summed).
  uint64_t file_size_bytes() const;

 private:
  // One mapped file.
  struct Mapping {
    std::string path;
    const char* map = nullptr;  // whole file, read-only mapping
    uint64_t size_bytes = 0;
    uint64_t data_start_bytes = 0;  // 8 + header length
  };
  // Maps `path` as files_[index] and adds its tensors (and metadata) to `tensors`.
  void open_file(const std::string& path, uint32_t index,
                 std::map<std::string, TensorInfo>& tensors);
  void open_index();

  std::string path_;
  std::vector<Mapping> files_;  // one, or the shards
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Where the weights of checkpoint directory `dir` are: dir/model.safetensors, or, when only it
// is absent, dir/model.safetensors.index.json (sharded). Throws bend::Error naming `dir` when
// neither exists.
std::string checkpoint_weights_path(const std::string& dir);
// True for a shard index path ("....index.json").
bool is_safetensors_index(const std::string& path);
// CRC-32C fingerprint of a weights path: file_crc32c(path) for one file; for an index, the
// index's bytes followed by each of its shards' CRC-32C (little-endian), shards in the index's
// order. Streams the files. Throws naming the file that cannot be read.
uint32_t weights_crc32c(const std::string& path);

// One float32 tensor to write.
struct F32Tensor {
  std::string name;
  std::vector<int64_t> shape;  // row-major; prod(shape) must equal values.size()
  std::vector<float> values;
};

// Writes `tensors` as F32 in the given order, with `metadata` as "__metadata__"; the header is
// padded with spaces to a multiple of 8 bytes. Atomic (core/files.hpp
// write_file_atomic: `path`.tmp, fsync, rename).
// Throws bend::Error naming the path on I/O failure, duplicate names or size mismatches.
void write_safetensors(const std::string& path, const std::vector<F32Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

}  // namespace bend
