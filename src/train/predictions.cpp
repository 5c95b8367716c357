#include "bend/train/predictions.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"

namespace bend {

namespace {

// One array of the .npz: NumPy's dtype string ("<f4", "<i8"), shape and raw little-endian bytes.
struct NpyArray {
  std::string name;  // without ".npy"
  const char* descr = "<f4";
  std::vector<int64_t> shape;
  std::string bytes;
};

template <typename T>
std::string raw_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// A .npy file (format 1.0): magic, header length, the header dict padded with spaces to a
// multiple of 64 bytes (numpy's alignment), then the data.
std::string npy_file(const NpyArray& a) {
  std::string shape = "(";
  for (size_t i = 0; i < a.shape.size(); ++i) shape += std::to_string(a.shape[i]) + (a.shape.size() == 1 ? "," : i + 1 < a.shape.size() ? ", " : "");
  shape += ")";
  std::string dict = std::string("{'descr': '") + a.descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  uint16_t hlen = static_cast<uint16_t>(dict.size());
  out.append(reinterpret_cast<const char*>(&hlen), 2);
  return out + dict + a.bytes;
}

void put16(std::string& s, uint32_t v) { s += char(v & 0xff); s += char((v >> 8) & 0xff); }
void put32(std::string& s, uint32_t v) { put16(s, v & 0xffff); put16(s, v >> 16); }

// A zip archive of stored (uncompressed) entries, all dated 1980-01-01 00:00 so the bytes depend
// on the contents only. Without zip64: refused past 4 GiB.
std::string zip_stored(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out, central;
  for (const auto& f : files) {
    if (out.size() + f.second.size() + 1024 > 0xffffffffull) {
      fail("the predictions file would exceed 4 GiB (zip without zip64): %s", f.first.c_str());
    }
    const uint32_t crc = static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(f.second.data()),
                                                     static_cast<uInt>(f.second.size())));
    const uint32_t size = static_cast<uint32_t>(f.second.size()), offset = static_cast<uint32_t>(out.size());
    std::string common;  // version needed .. extra length, shared by both headers
    put16(common, 20); put16(common, 0); put16(common, 0);      // version, flags, method: stored
    put16(common, 0); put16(common, (0 << 9) | (1 << 5) | 1);   // time 00:00, date 1980-01-01
    put32(common, crc); put32(common, size); put32(common, size);
    put16(common, static_cast<uint32_t>(f.first.size())); put16(common, 0);
    put32(out, 0x04034b50);
    out += common + f.first + f.second;
    put32(central, 0x02014b50);
    put16(central, 20);  // made by
    central += common;
    put16(central, 0); put16(central, 0); put16(central, 0);  // comment, disk, internal attrs
    put32(central, 0); put32(central, offset);
    central += f.first;
  }
  const uint32_t cd_offset = static_cast<uint32_t>(out.size()), cd_size = static_cast<uint32_t>(central.size());
  out += central;
  put32(out, 0x06054b50);
  put16(out, 0); put16(out, 0);
  put16(out, static_cast<uint32_t>(files.size())); put16(out, static_cast<uint32_t>(files.size()));
  put32(out, cd_size); put32(out, cd_offset); put16(out, 0);
  return out;
}

// `v` as stored: int64 class ids or float32 values.
NpyArray values_array(const char* name, const std::vector<float>& v, bool class_ids, std::vector<int64_t> shape) {
  NpyArray a{name, class_ids ? "<i8" : "<f4", std::move(shape), {}};
  if (class_ids) {
    std::vector<int64_t> ids(v.begin(), v.end());
    a.bytes = raw_bytes(ids);
  } else {
    a.bytes = raw_bytes(v);
  }
  return a;
}

}  // namespace

void sort_outputs_by_row(EvalOutputs& out) {
  const size_t n = out.y_true.size();
  if (out.bed_row.size() != n || out.position.size() != n || out.y_pred.size() != n) {
    fail("internal: predictions without their BED rows (%zu values, %zu rows)", n, out.bed_row.size());
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return out.bed_row[a] != out.bed_row[b] ? out.bed_row[a] < out.bed_row[b] : out.position[a] < out.position[b];
  });
  EvalOutputs s;
  s.matrix = out.matrix;
  s.width = out.width;
  for (size_t i : order) {
    s.y_true.push_back(out.y_true[i]);
    s.y_pred.push_back(out.y_pred[i]);
    s.bed_row.push_back(out.bed_row[i]);
    s.position.push_back(out.position[i]);
  }
  out = std::move(s);
}

void write_predictions_npz(const std::string& path, const EvalOutputs& out, bool class_ids) {
  const int64_t n = static_cast<int64_t>(out.y_true.size());
  std::vector<NpyArray> arrays;
  if (out.matrix) {
    const int64_t w = out.width, n_rows = n / w;
    arrays.push_back(values_array("y_true", out.y_true, class_ids, {n_rows, w}));
    arrays.push_back(values_array("y_pred", out.y_pred, class_ids, {n_rows, w}));
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < n; i += w) rows.push_back(out.bed_row[i]);
    arrays.push_back(NpyArray{"bed_row", "<i8", {n_rows}, raw_bytes(rows)});
  } else {
    arrays.push_back(values_array("y_true", out.y_true, class_ids, {n}));
    arrays.push_back(values_array("y_pred", out.y_pred, class_ids, {n}));
    arrays.push_back(NpyArray{"bed_row", "<i8", {n}, raw_bytes(out.bed_row)});
    arrays.push_back(NpyArray{"position", "<i8", {n}, raw_bytes(out.position)});
  }
  std::vector<std::pair<std::string, std::string>> files;
  for (const NpyArray& a : arrays) files.emplace_back(a.name + ".npy", npy_file(a));
  write_file_atomic(path, zip_stored(files));
}

}  // namespace bend
