// tf.train.Example wire format. Message layout (field numbers from tensorflow/core/example):
//   Example  { Features features = 1; }
//   Features { map<string, Feature> feature = 1; }   // entries: { key = 1; value = 2; }
//   Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list =
//   3; } } BytesList { repeated bytes value = 1; }  FloatList/Int64List { repeated ... value = 1
//   [packed]; }
// Sizes are computed first (protobuf prefixes every message with its length), then written.
#include "bend/store/example.hpp"

#include <cstring>
#include <utility>

#include "bend/core/error.hpp"
#include "bend/core/half.hpp"

namespace bend {
namespace {

constexpr char kTag1 = 0x0A;  // field 1, length-delimited
constexpr char kTag2 = 0x12;  // field 2, length-delimited
constexpr char kTag3 = 0x1A;  // field 3, length-delimited

size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void put_varint(std::string& out, uint64_t v) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}

// Size of a length-delimited field (tag + length + payload) with a 1-byte tag.
size_t ld_size(size_t payload) {
  return 1 + varint_size(payload) + payload;
}

size_t int64_body_size(const int64_t* v, size_t n) {
  if (n == 0) return 0;
  size_t payload = 0;
  for (size_t i = 0; i < n; ++i) payload += varint_size(static_cast<uint64_t>(v[i]));
  return ld_size(payload);
}

size_t float_body_size(size_t n) {
  return n == 0 ? 0 : ld_size(4 * n);
}

size_t bytes_body_size(const std::vector<std::string>& v) {
  size_t s = 0;
  for (const std::string& b : v) s += ld_size(b.size());
  return s;
}

char kind_tag(Feature::Kind k) {
  return k == Feature::kBytes ? kTag1 : (k == Feature::kFloat ? kTag2 : kTag3);
}

// Size of the Features map entry (without its own tag and length).
size_t entry_size(size_t key_len, size_t body_size) {
  return ld_size(key_len) + ld_size(ld_size(body_size));
}

// Everything of a map entry up to its feature's list body; the caller appends body_size bytes.
void put_entry_header(std::string& out, const char* key, size_t key_len, char list_tag,
                      size_t body_size) {
  out.push_back(kTag1);
  put_varint(out, entry_size(key_len, body_size));
  out.push_back(kTag1);
  put_varint(out, key_len);
  out.append(key, key_len);
  out.push_back(kTag2);
  put_varint(out, ld_size(body_size));
  out.push_back(list_tag);
  put_varint(out, body_size);
}

void put_int64_body(std::string& out, const int64_t* v, size_t n) {
  if (n == 0) return;
  size_t payload = 0;
  for (size_t i = 0; i < n; ++i) payload += varint_size(static_cast<uint64_t>(v[i]));
  out.push_back(kTag1);
  put_varint(out, payload);
  for (size_t i = 0; i < n; ++i) put_varint(out, static_cast<uint64_t>(v[i]));
}

void put_float_body(std::string& out, const float* v, size_t n) {
  if (n == 0) return;
  out.push_back(kTag1);
  put_varint(out, 4 * n);
  size_t at = out.size();
  out.resize(at + 4 * n);
  char* dst = &out[at];
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int k = 0; k < 4; ++k) dst[4 * i + k] = static_cast<char>((u >> (8 * k)) & 0xFF);
  }
}

void put_bytes_value(std::string& out, const char* p, size_t n) {
  out.push_back(kTag1);
  put_varint(out, n);
  out.append(p, n);
}

size_t feature_body_size(const Feature& f) {
  switch (f.kind) {
    case Feature::kBytes:
      return bytes_body_size(f.bytes_list);
    case Feature::kInt64:
      return int64_body_size(f.int64_list.data(), f.int64_list.size());
    case Feature::kFloat:
      return float_body_size(f.float_list.size());
  }
  return 0;
}

}  // namespace

Feature bytes_feature(std::vector<std::string> values) {
  Feature f;
  f.kind = Feature::kBytes;
  f.bytes_list = std::move(values);
  return f;
}

Feature int64_feature(std::vector<int64_t> values) {
  Feature f;
  f.kind = Feature::kInt64;
  f.int64_list = std::move(values);
  return f;
}

Feature float_feature(std::vector<float> values) {
  Feature f;
  f.kind = Feature::kFloat;
  f.float_list = std::move(values);
  return f;
}

void encode_example(const Example& ex, std::string& out) {
  size_t features_size = 0;
  for (const auto& kv : ex) {
    features_size += ld_size(entry_size(kv.first.size(), feature_body_size(kv.second)));
  }
  out.reserve(out.size() + ld_size(features_size));
  out.push_back(kTag1);
  put_varint(out, features_size);
  for (const auto& kv : ex) {
    const Feature& f = kv.second;
    put_entry_header(out, kv.first.data(), kv.first.size(), kind_tag(f.kind), feature_body_size(f));
    switch (f.kind) {
      case Feature::kBytes:
        for (const std::string& b : f.bytes_list) put_bytes_value(out, b.data(), b.size());
        break;
      case Feature::kInt64:
        put_int64_body(out, f.int64_list.data(), f.int64_list.size());
        break;
      case Feature::kFloat:
        put_float_body(out, f.float_list.data(), f.float_list.size());
        break;
    }
  }
}

// ---- embedding fast path ----------------------------------------------------

namespace {

// One feature of an embedding record, described without copying its values.
struct FastFeature {
  const char* key;
  Feature::Kind kind;
  const char* bytes;  // kBytes: one value
  size_t n_bytes;
  const int64_t* ints;  // kInt64
  const float* floats;  // kFloat
  size_t n;             // number of ints/floats
  size_t body_size() const {
    if (kind == Feature::kBytes) return ld_size(n_bytes);
    if (kind == Feature::kInt64) return int64_body_size(ints, n);
    return float_body_size(n);
  }
};

FastFeature fast_bytes(const char* key, const char* p, size_t n) {
  return FastFeature{key, Feature::kBytes, p, n, nullptr, nullptr, 0};
}
FastFeature fast_ints(const char* key, const int64_t* v, size_t n) {
  return FastFeature{key, Feature::kInt64, nullptr, 0, v, nullptr, n};
}

}  // namespace

void encode_embedding_example(const EmbeddingRecord& r, std::string& out) {
  DType dt = parse_dtype(r.dtype ? r.dtype : "");
  if (r.length < 0 || r.dim < 0 ||
      static_cast<uint64_t>(r.length) * static_cast<uint64_t>(r.dim) * dtype_size(dt) !=
          r.inputs_bytes) {
    fail("embedding record %lld (%s): inputs has %zu bytes, shape [%lld, %lld] of %s needs %llu",
         static_cast<long long>(r.index), r.region.c_str(), r.inputs_bytes,
         static_cast<long long>(r.length), static_cast<long long>(r.dim), r.dtype,
         static_cast<unsigned long long>(r.length * r.dim * dtype_size(dt)));
  }
  const int64_t shape[2] = {r.length, r.dim};
  const char* dtype = dtype_name(dt);
  FastFeature outputs = r.outputs_is_float
                            ? FastFeature{"outputs",
                                          Feature::kFloat,
                                          nullptr,
                                          0,
                                          nullptr,
                                          r.outputs_float.data(),
                                          r.outputs_float.size()}
                            : fast_ints("outputs", r.outputs_int.data(), r.outputs_int.size());
  if (!r.token_spans.empty()) {
    try {
      check_token_spans(r.token_spans, r.length);
    } catch (const Error& e) {
      fail("embedding record %lld (%s): %s", static_cast<long long>(r.index), r.region.c_str(),
           e.what());
    }
  }
  // In sorted key order, as std::map would hold them; token_spans (last) only when given.
  const FastFeature fs[8] = {
      fast_ints("index", &r.index, 1),
      fast_bytes("inputs", r.inputs, r.inputs_bytes),
      fast_bytes("inputs_dtype", dtype, std::strlen(dtype)),
      fast_ints("inputs_shape", shape, 2),
      outputs,
      fast_ints("outputs_shape", r.outputs_shape.data(), r.outputs_shape.size()),
      fast_bytes("region", r.region.data(), r.region.size()),
      fast_ints("token_spans", r.token_spans.data(), r.token_spans.size()),
  };
  const size_t n_fs = r.token_spans.empty() ? 7 : 8;
  size_t features_size = 0;
  for (size_t i = 0; i < n_fs; ++i)
    features_size += ld_size(entry_size(std::strlen(fs[i].key), fs[i].body_size()));
  out.reserve(out.size() + ld_size(features_size));
  out.push_back(kTag1);
  put_varint(out, features_size);
  for (size_t i = 0; i < n_fs; ++i) {
    const FastFeature& f = fs[i];
    put_entry_header(out, f.key, std::strlen(f.key), kind_tag(f.kind), f.body_size());
    if (f.kind == Feature::kBytes) put_bytes_value(out, f.bytes, f.n_bytes);
    if (f.kind == Feature::kInt64) put_int64_body(out, f.ints, f.n);
    if (f.kind == Feature::kFloat) put_float_body(out, f.floats, f.n);
  }
}

// ---- decoding ---------------------------------------------------------------

namespace {

// Reads protobuf wire format from [p, end); errors name the byte offset from `base`.
class WireReader {
 public:
  WireReader(const char* p, const char* end, const char* base) : p_(p), end_(end), base_(base) {}
  bool done() const { return p_ >= end_; }

  [[noreturn]] void bad(const char* what) const {
    fail("malformed Example at byte %zu: %s", static_cast<size_t>(p_ - base_), what);
  }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ >= end_) bad("truncated varint");
      unsigned char b = static_cast<unsigned char>(*p_++);
      if (shift == 63 && b > 1) bad("varint overflows 64 bits");
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
    }
    bad("varint longer than 10 bytes");
  }

  // Reads a field key; returns false at the end of the message.
  bool field(uint32_t& number, int& wire_type) {
    if (p_ >= end_) return false;
    uint64_t key = varint();
    number = static_cast<uint32_t>(key >> 3);
    wire_type = static_cast<int>(key & 7);
    if (number == 0 || (key >> 3) > 0x1FFFFFFF) bad("invalid field number");
    return true;
  }

  WireReader sub() {
    uint64_t n = varint();
    if (n > static_cast<uint64_t>(end_ - p_)) bad("length-delimited field runs past its message");
    WireReader r(p_, p_ + n, base_);
    p_ += n;
    return r;
  }

  uint32_t fixed32() {
    if (end_ - p_ < 4) bad("truncated fixed32");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v |= static_cast<uint32_t>(static_cast<unsigned char>(p_[i])) << (8 * i);
    p_ += 4;
    return v;
  }

  void skip(int wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        return;
      case 1:
        if (end_ - p_ < 8) bad("truncated fixed64");
        p_ += 8;
        return;
      case 2:
        sub();
        return;
      case 5:
        fixed32();
        return;
      default:
        bad("unsupported wire type (groups or invalid)");
    }
  }

  const char* data() const { return p_; }
  size_t size() const { return static_cast<size_t>(end_ - p_); }

 private:
  const char* p_;
  const char* end_;
  const char* base_;
};

// A decoded Feature whose byte values still point into the record.
struct FeatureView {
  int kind = -1;  // Feature::Kind, or -1 when the oneof is unset
  std::vector<std::pair<const char*, size_t>> bytes;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  void clear() {
    kind = -1;
    bytes.clear();
    ints.clear();
    floats.clear();
  }
  void set_kind(int k) {
    if (kind == k) return;  // a repeated oneof message merges into the existing one
    clear();
    kind = k;
  }
};

float float_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

void parse_list(WireReader r, int kind, FeatureView& fv) {
  uint32_t num;
  int wt;
  while (r.field(num, wt)) {
    if (num != 1) {
      r.skip(wt);
    } else if (kind == Feature::kBytes && wt == 2) {
      WireReader v = r.sub();
      fv.bytes.emplace_back(v.data(), v.size());
    } else if (kind == Feature::kInt64 && wt == 0) {
      fv.ints.push_back(static_cast<int64_t>(r.varint()));
    } else if (kind == Feature::kInt64 && wt == 2) {
      WireReader v = r.sub();
      while (!v.done()) fv.ints.push_back(static_cast<int64_t>(v.varint()));
    } else if (kind == Feature::kFloat && wt == 5) {
      fv.floats.push_back(float_from_bits(r.fixed32()));
    } else if (kind == Feature::kFloat && wt == 2) {
      WireReader v = r.sub();
      if (v.size() % 4 != 0) v.bad("packed float_list length is not a multiple of 4");
      while (!v.done()) fv.floats.push_back(float_from_bits(v.fixed32()));
    } else {
      r.bad("list value has the wrong wire type");
    }
  }
}

void parse_feature(WireReader r, FeatureView& fv) {
  uint32_t num;
  int wt;
  while (r.field(num, wt)) {
    int kind = num == 1   ? Feature::kBytes
               : num == 2 ? Feature::kFloat
               : num == 3 ? Feature::kInt64
                          : -1;
    if (kind < 0) {
      r.skip(wt);
      continue;
    }
    if (wt != 2) r.bad("Feature list is not length-delimited");
    fv.set_kind(kind);
    parse_list(r.sub(), kind, fv);
  }
}

// Calls on_entry(key, key_len, FeatureView&) for every map entry of the Example, in order.
template <typename F>
void for_each_entry(const char* data, size_t n, F on_entry) {
  WireReader ex(data, data + n, data);
  uint32_t num;
  int wt;
  FeatureView fv;
  while (ex.field(num, wt)) {
    if (num != 1 || wt != 2) {
      ex.skip(wt);
      continue;
    }
    WireReader features = ex.sub();
    while (features.field(num, wt)) {
      if (num != 1 || wt != 2) {
        features.skip(wt);
        continue;
      }
      WireReader entry = features.sub();
      const char* key = "";
      size_t key_len = 0;
      fv.clear();
      while (entry.field(num, wt)) {
        if (num == 1 && wt == 2) {
          WireReader k = entry.sub();
          key = k.data();
          key_len = k.size();
        } else if (num == 2 && wt == 2) {
          parse_feature(entry.sub(), fv);
        } else {
          entry.skip(wt);
        }
      }
      on_entry(key, key_len, fv);
    }
  }
}

}  // namespace

Example decode_example(const char* data, size_t n) {
  Example ex;
  for_each_entry(data, n, [&ex](const char* key, size_t key_len, const FeatureView& fv) {
    Feature f;
    if (fv.kind == Feature::kInt64) {
      f.kind = Feature::kInt64;
      f.int64_list = fv.ints;
    } else if (fv.kind == Feature::kFloat) {
      f.kind = Feature::kFloat;
      f.float_list = fv.floats;
    } else {
      f.kind = Feature::kBytes;
      for (const auto& b : fv.bytes) f.bytes_list.emplace_back(b.first, b.second);
    }
    ex[std::string(key, key_len)] = std::move(f);
  });
  return ex;
}

// ---- embedding records --------------------------------------------------------

namespace {

constexpr int kNumEmbeddingKeys = 8;
const char* const kEmbeddingKeys[kNumEmbeddingKeys] = {
    "index",   "inputs",        "inputs_dtype", "inputs_shape",
    "outputs", "outputs_shape", "region",       "token_spans"};
enum { kIndex, kInputs, kInputsDtype, kInputsShape, kOutputs, kOutputsShape, kRegion, kTokenSpans };

const char* kind_name(int kind) {
  switch (kind) {
    case Feature::kBytes:
      return "bytes_list";
    case Feature::kInt64:
      return "int64_list";
    case Feature::kFloat:
      return "float_list";
  }
  return "no value list";
}

// The last occurrence of one embedding feature.
struct Slot {
  bool present = false;
  int kind = -1;
  size_t n_values = 0;
  const char* bytes = nullptr;  // first bytes value
  size_t n_bytes = 0;
  std::vector<int64_t> ints;
  std::vector<float> floats;
};

// Throws unless slot `i` holds `kind` with `n_values` values (any count when n_values < 0).
void expect(const Slot* slots, int i, int kind, long n_values) {
  const Slot& s = slots[i];
  const char* key = kEmbeddingKeys[i];
  if (!s.present) fail("embedding Example has no feature '%s'", key);
  if (s.kind != kind)
    fail("embedding Example feature '%s': expected %s, got %s", key, kind_name(kind),
         kind_name(s.kind));
  if (n_values >= 0 && s.n_values != static_cast<size_t>(n_values)) {
    fail("embedding Example feature '%s': expected %ld value(s), got %zu", key, n_values,
         s.n_values);
  }
}

void check_shapes(const EmbeddingRecord& r) {
  if (r.length < 0 || r.dim < 0) {
    fail("embedding Example feature 'inputs_shape': negative shape [%lld, %lld]",
         static_cast<long long>(r.length), static_cast<long long>(r.dim));
  }
  DType dt = parse_dtype(r.dtype);
  unsigned __int128 need =
      static_cast<unsigned __int128>(r.length) * static_cast<uint64_t>(r.dim) * dtype_size(dt);
  if (need != r.inputs_bytes) {
    fail("embedding Example: 'inputs' has %zu bytes but inputs_shape [%lld, %lld] of %s needs %llu",
         r.inputs_bytes, static_cast<long long>(r.length), static_cast<long long>(r.dim), r.dtype,
         static_cast<unsigned long long>(need));
  }
  unsigned __int128 n_out = 1;
  for (int64_t d : r.outputs_shape) {
    if (d < 0)
      fail("embedding Example feature 'outputs_shape': negative dimension %lld",
           static_cast<long long>(d));
    n_out *= static_cast<uint64_t>(d);
  }
  size_t have = r.outputs_is_float ? r.outputs_float.size() : r.outputs_int.size();
  if (n_out != have) {
    fail("embedding Example: 'outputs' has %zu values but outputs_shape needs %llu", have,
         static_cast<unsigned long long>(n_out));
  }
}

}  // namespace

int64_t check_token_spans(const std::vector<int64_t>& spans, int64_t n_vectors) {
  if (n_vectors < 0 || spans.size() != 2 * static_cast<uint64_t>(n_vectors)) {
    fail("token_spans has %zu values but inputs_shape has %lld vectors (needs 2 per vector)",
         spans.size(), static_cast<long long>(n_vectors));
  }
  int64_t end_bp = 0;
  for (int64_t i = 0; i < n_vectors; ++i) {
    const int64_t start = spans[2 * i], len = spans[2 * i + 1];
    if (start != end_bp || len < 1 || len > INT64_MAX - start) {
      fail("token_spans: vector %lld covers (start %lld, length %lld) bp; expected start %lld "
           "(spans must be contiguous from 0) and length >= 1",
           static_cast<long long>(i), static_cast<long long>(start), static_cast<long long>(len),
           static_cast<long long>(end_bp));
    }
    end_bp = start + len;
  }
  return end_bp;
}

void decode_embedding_view(const char* data, size_t n, EmbeddingRecord& r) {
  Slot slots[kNumEmbeddingKeys];
  for_each_entry(data, n, [&slots](const char* key, size_t key_len, const FeatureView& fv) {
    for (int i = 0; i < kNumEmbeddingKeys; ++i) {
      if (std::strlen(kEmbeddingKeys[i]) != key_len ||
          std::memcmp(kEmbeddingKeys[i], key, key_len) != 0)
        continue;
      Slot& s = slots[i];
      s.present = true;
      s.kind = fv.kind;
      s.n_values = fv.kind == Feature::kInt64   ? fv.ints.size()
                   : fv.kind == Feature::kFloat ? fv.floats.size()
                                                : fv.bytes.size();
      s.bytes = fv.bytes.empty() ? nullptr : fv.bytes[0].first;
      s.n_bytes = fv.bytes.empty() ? 0 : fv.bytes[0].second;
      s.ints = fv.ints;
      s.floats = fv.floats;
    }
  });
  expect(slots, kInputs, Feature::kBytes, 1);
  expect(slots, kInputsShape, Feature::kInt64, 2);
  expect(slots, kInputsDtype, Feature::kBytes, 1);
  expect(slots, kOutputsShape, Feature::kInt64, -1);
  expect(slots, kIndex, Feature::kInt64, 1);
  expect(slots, kRegion, Feature::kBytes, 1);
  const Slot& out = slots[kOutputs];
  if (!out.present) fail("embedding Example has no feature 'outputs'");
  if (out.kind != Feature::kInt64 && out.kind != Feature::kFloat) {
    fail("embedding Example feature 'outputs': expected int64_list or float_list, got %s",
         kind_name(out.kind));
  }
  std::string dtype(slots[kInputsDtype].bytes, slots[kInputsDtype].n_bytes);
  if (dtype != "float32" && dtype != "float16" && dtype != "bfloat16") {
    fail(
        "embedding Example feature 'inputs_dtype': unknown dtype '%s' (valid: float32, float16, "
        "bfloat16)",
        dtype.c_str());
  }
  r.dtype = dtype_name(parse_dtype(dtype));  // static storage, valid after `dtype` dies
  r.inputs = slots[kInputs].bytes;
  r.inputs_bytes = slots[kInputs].n_bytes;
  r.length = slots[kInputsShape].ints[0];
  r.dim = slots[kInputsShape].ints[1];
  r.outputs_is_float = out.kind == Feature::kFloat;
  r.outputs_int = std::move(slots[kOutputs].ints);
  r.outputs_float = std::move(slots[kOutputs].floats);
  r.outputs_shape = std::move(slots[kOutputsShape].ints);
  r.index = slots[kIndex].ints[0];
  r.region.assign(slots[kRegion].bytes, slots[kRegion].n_bytes);
  check_shapes(r);
  r.token_spans.clear();
  if (slots[kTokenSpans].present) {  // --token-level record
    expect(slots, kTokenSpans, Feature::kInt64, -1);  // count: check_token_spans
    r.token_spans = std::move(slots[kTokenSpans].ints);
    check_token_spans(r.token_spans, r.length);
  }
}

DecodedRecord decode_embedding_example(const char* data, size_t n) {
  EmbeddingRecord v;
  decode_embedding_view(data, n, v);
  DecodedRecord d;
  d.inputs.assign(v.inputs, v.inputs_bytes);
  d.length = v.length;
  d.dim = v.dim;
  d.dtype = v.dtype;
  d.outputs_is_float = v.outputs_is_float;
  d.outputs_int = std::move(v.outputs_int);
  d.outputs_float = std::move(v.outputs_float);
  d.outputs_shape = std::move(v.outputs_shape);
  d.index = v.index;
  d.region = std::move(v.region);
  d.token_spans = std::move(v.token_spans);
  return d;
}
}  // namespace bend
