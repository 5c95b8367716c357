// safetensors reader (mmap, fully validated header) and F32 writer. No torch here. Shard
// indexes: safetensors_index.cpp.
#include "bend/models/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/half.hpp"

namespace bend {

namespace {

// The reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

bool host_is_little_endian() {
  const uint32_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

// Reads a non-negative integer JSON value; throws naming the file, tensor and field.
uint64_t json_u64(const nlohmann::json& v, const std::string& path, const std::string& name,
                  const char* field) {
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0)) {
    fail("%s: tensor '%s': %s must hold non-negative integers, got %s", path.c_str(), name.c_str(),
         field, v.dump().c_str());
  }
  return v.get<uint64_t>();
}

// Parses and checks one tensor entry {"dtype", "shape", "data_offsets"} of the header.
TensorInfo parse_tensor_entry(const nlohmann::json& v, const std::string& path,
                              const std::string& name, uint64_t data_size_bytes) {
  if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
      !v.contains("data_offsets")) {
    fail("%s: tensor '%s': entry needs dtype, shape and data_offsets", path.c_str(), name.c_str());
  }
  TensorInfo t;
  if (!v["dtype"].is_string())
    fail("%s: tensor '%s': dtype is not a string", path.c_str(), name.c_str());
  t.dtype = v["dtype"].get<std::string>();
  const size_t elem_bytes = safetensors_dtype_size(t.dtype);
  if (elem_bytes == 0)
    fail("%s: tensor '%s': unknown dtype '%s'", path.c_str(), name.c_str(), t.dtype.c_str());
  if (!v["shape"].is_array())
    fail("%s: tensor '%s': shape is not an array", path.c_str(), name.c_str());
  uint64_t n_elems = 1;
  bool overflow = false;
  for (const auto& d : v["shape"]) {
    uint64_t dim = json_u64(d, path, name, "shape");
    t.shape.push_back(static_cast<int64_t>(dim));
    if (dim != 0 && n_elems > (UINT64_MAX / elem_bytes) / dim) overflow = true;
    n_elems *= dim;
  }
  const auto& offs = v["data_offsets"];
  if (!offs.is_array() || offs.size() != 2) {
    fail("%s: tensor '%s': data_offsets must be [begin, end]", path.c_str(), name.c_str());
  }
  const uint64_t begin = json_u64(offs[0], path, name, "data_offsets");
  const uint64_t end = json_u64(offs[1], path, name, "data_offsets");
  if (begin > end || end > data_size_bytes) {
    fail("%s: tensor '%s': data_offsets [%llu, %llu] out of range (data section has %llu bytes)",
         path.c_str(), name.c_str(), (unsigned long long)begin, (unsigned long long)end,
         (unsigned long long)data_size_bytes);
  }
  if (overflow || n_elems * elem_bytes != end - begin) {
    fail(
        "%s: tensor '%s': size mismatch: %s shape has %llu elements = %llu bytes, but "
        "data_offsets span %llu bytes",
        path.c_str(), name.c_str(), t.dtype.c_str(), (unsigned long long)n_elems,
        (unsigned long long)(n_elems * elem_bytes), (unsigned long long)(end - begin));
  }
  t.offset_bytes = begin;
  t.size_bytes = end - begin;
  return t;
}

// Throws when two non-empty tensors share bytes of the data section.
void check_no_overlap(const std::map<std::string, TensorInfo>& tensors, const std::string& path) {
  std::vector<std::pair<uint64_t, const std::string*>> starts;
  for (const auto& kv : tensors) {
    if (kv.second.size_bytes > 0) starts.push_back({kv.second.offset_bytes, &kv.first});
  }
  std::sort(starts.begin(), starts.end());
  for (size_t i = 1; i < starts.size(); i++) {
    const TensorInfo& prev = tensors.at(*starts[i - 1].second);
    if (prev.offset_bytes + prev.size_bytes > starts[i].first) {
      fail("%s: tensors '%s' and '%s' overlap in the data section", path.c_str(),
           starts[i - 1].second->c_str(), starts[i].second->c_str());
    }
  }
}

}  // namespace

size_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
      {"U16", 2},  {"I16", 2}, {"F16", 2}, {"BF16", 2},    {"U32", 4},
      {"I32", 4},  {"F32", 4}, {"U64", 8}, {"I64", 8},     {"F64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  if (!host_is_little_endian()) fail("%s: safetensors needs a little-endian host", path.c_str());
  try {
    if (is_safetensors_index(path)) {
      open_index();
    } else {
      open_file(path, 0, tensors_);
    }
  } catch (...) {
    for (const Mapping& m : files_) {
      if (m.map) ::munmap(const_cast<char*>(m.map), m.size_bytes);
    }
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  for (const Mapping& m : files_) {
    if (m.map) ::munmap(const_cast<char*>(m.map), m.size_bytes);
  }
}

void SafetensorsFile::open_file(const std::string& path, uint32_t index,
                                std::map<std::string, TensorInfo>& tensors) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("%s: cannot open: %s", path.c_str(), std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail("%s: cannot stat: %s", path.c_str(), std::strerror(err));
  }
  Mapping m;
  m.path = path;
  m.size_bytes = static_cast<uint64_t>(st.st_size);
  if (m.size_bytes < 8) {
    ::close(fd);
    fail("%s: not a safetensors file: %llu bytes, shorter than the 8-byte header length",
         path.c_str(), (unsigned long long)m.size_bytes);
  }
  void* addr = ::mmap(nullptr, m.size_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (addr == MAP_FAILED) fail("%s: cannot mmap: %s", path.c_str(), std::strerror(err));
  m.map = static_cast<const char*>(addr);
  if (files_.size() <= index) files_.resize(index + 1);
  files_[index] = m;  // unmapped by the destructor / the constructor's catch from here on
  uint64_t header_size_bytes;
  std::memcpy(&header_size_bytes, m.map, 8);
  const char* p = path.c_str();
  if (header_size_bytes > kMaxHeaderBytes || header_size_bytes > m.size_bytes - 8) {
    fail("%s: corrupt safetensors header: header length %llu bytes but the file has %llu bytes", p,
         (unsigned long long)header_size_bytes, (unsigned long long)m.size_bytes);
  }
  files_[index].data_start_bytes = 8 + header_size_bytes;
  const uint64_t data_size_bytes = m.size_bytes - files_[index].data_start_bytes;
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(m.map + 8, m.map + files_[index].data_start_bytes);
  } catch (const nlohmann::json::exception& e) {
    fail("%s: corrupt safetensors header: not valid JSON (%s)", p, e.what());
  }
  if (!header.is_object()) fail("%s: corrupt safetensors header: not a JSON object", p);
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail("%s: __metadata__ is not an object", p);
      for (auto md = v.begin(); md != v.end(); ++md) {
        if (!md.value().is_string())
          fail("%s: __metadata__ '%s' is not a string", p, md.key().c_str());
        metadata_[md.key()] = md.value().get<std::string>();
      }
      continue;
    }
    tensors[name] = parse_tensor_entry(v, path, name, data_size_bytes);
    tensors[name].file = index;
  }
  check_no_overlap(tensors, path);
}

std::vector<std::string> SafetensorsFile::files() const {
  std::vector<std::string> out;
  for (const Mapping& m : files_) out.push_back(m.path);
  return out;
}

const std::string& SafetensorsFile::file_of(const std::string& name) const {
  return files_[info(name).file].path;
}

uint64_t SafetensorsFile::file_size_bytes() const {
  uint64_t n = 0;
  for (const Mapping& m : files_) n += m.size_bytes;
  return n;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("%s: no tensor named '%s'", path_.c_str(), name.c_str());
  return it->second;
}

const char* SafetensorsFile::data(const std::string& name) const {
  const TensorInfo& t = info(name);
  return files_[t.file].map + files_[t.file].data_start_bytes + t.offset_bytes;
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
  const TensorInfo& t = info(name);
  const char* src = data(name);
  const size_t elem_bytes = safetensors_dtype_size(t.dtype);
  const size_t n = t.size_bytes / elem_bytes;
  std::vector<float> out(n);
  if (t.dtype == "F32") {
    if (n) std::memcpy(out.data(), src, n * 4);
  } else if (t.dtype == "F16" || t.dtype == "BF16") {
    const bool is_bf16 = t.dtype == "BF16";
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      out[i] = is_bf16 ? bfloat16_to_float(h) : half_to_float(h);
    }
  } else if (t.dtype == "F64") {
    for (size_t i = 0; i < n; i++) {
      double d;
      std::memcpy(&d, src + 8 * i, 8);
      out[i] = static_cast<float>(d);
    }
  } else {
    fail("%s: tensor '%s' has dtype %s; expected a floating-point tensor (F32, F16, BF16, F64)",
         file_of(name).c_str(), name.c_str(), t.dtype.c_str());
  }
  return out;
}

uint32_t SafetensorsFile::crc32c() const {
  if (files_.size() == 1 && files_[0].path == path_)
    return crc32c_extend(0, files_[0].map, files_[0].size_bytes);
  return weights_crc32c(path_);
}

void write_safetensors(const std::string& path, const std::vector<F32Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  if (!host_is_little_endian()) fail("%s: safetensors needs a little-endian host", path.c_str());
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset_bytes = 0;
  std::set<std::string> names;
  for (const F32Tensor& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second) {
      fail("%s: cannot write tensor name '%s' twice or as __metadata__", path.c_str(),
           t.name.c_str());
    }
    uint64_t n_elems = 1;
    for (int64_t d : t.shape) {
      if (d < 0) fail("%s: tensor '%s' has a negative dimension", path.c_str(), t.name.c_str());
      n_elems *= static_cast<uint64_t>(d);
    }
    if (n_elems != t.values.size()) {
      fail("%s: tensor '%s': shape has %llu elements but %zu values were given", path.c_str(),
           t.name.c_str(), (unsigned long long)n_elems, t.values.size());
    }
    const uint64_t size_bytes = 4 * n_elems;
    header[t.name] = {{"dtype", "F32"},
                      {"shape", t.shape},
                      {"data_offsets", {offset_bytes, offset_bytes + size_bytes}}};
    offset_bytes += size_bytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  std::string content;
  content.reserve(8 + header_text.size() + offset_bytes);
  const uint64_t header_size_bytes = header_text.size();
  content.append(reinterpret_cast<const char*>(&header_size_bytes), 8);
  content += header_text;
  for (const F32Tensor& t : tensors) {
    content.append(reinterpret_cast<const char*>(t.values.data()), 4 * t.values.size());
  }
  write_file_atomic(path, content);
}

}  // namespace bend
