// tf.train.Example in protobuf wire format, hand-written (no libprotobuf): the generic form
// (a map of features) and a fast path for the embedding records the pipeline writes.
// Encoding matches protobuf's deterministic serialization: keys sorted, packed int64/float
// lists, map entries with key and value always present. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bend {

// One tf.train.Feature: exactly one of the three lists is meaningful, chosen by `kind`.
// A feature whose oneof is unset on the wire decodes as an empty bytes list.
struct Feature {
  enum Kind { kBytes, kInt64, kFloat } kind = kBytes;
  std::vector<std::string> bytes_list;
  std::vector<int64_t> int64_list;
  std::vector<float> float_list;
};

// Feature constructors, for brevity at call sites.
Feature bytes_feature(std::vector<std::string> values);
Feature int64_feature(std::vector<int64_t> values);
Feature float_feature(std::vector<float> values);

// tf.train.Example: feature name -> feature (std::map keeps the names sorted).
using Example = std::map<std::string, Feature>;

// Appends the serialized Example to `out` (keys in sorted order, packed int64/float lists).
void encode_example(const Example& ex, std::string& out);
// Parses a serialized Example. Accepts packed and unpacked lists, unknown fields, repeated
// keys (last wins) and split messages (merged), like protobuf. Throws bend::Error saying
// what is malformed and at which byte of the record.
Example decode_example(const char* data, size_t n);

// The embedding record, as the pipeline produces it. Non-owning: `inputs` points into the
// caller's buffer ([length, dim] row-major, little-endian, in `dtype`).
struct EmbeddingRecord {
  const char* inputs = nullptr;  // [length, dim] elements of dtype
  size_t inputs_bytes = 0;       // length * dim * dtype_size(dtype)
  int64_t length = 0, dim = 0;
  const char* dtype = "float32";  // "float32" | "float16" | "bfloat16"
  bool outputs_is_float = false;
  std::vector<int64_t> outputs_int;    // labels when !outputs_is_float
  std::vector<float> outputs_float;    // labels when outputs_is_float
  std::vector<int64_t> outputs_shape;  // shape of the labels (product = their count)
  int64_t index = 0;                   // BED row number
  std::string region;                  // "chrom:start-end(strand)"
  // Token-level output (`--token-level`): (start_bp, len_bp) of each of the `length` vectors,
  // flattened [length * 2]; empty = one vector per position (feature `token_spans` absent).
  std::vector<int64_t> token_spans;
};

// Appends the Example with features inputs (bytes), inputs_shape (int64 [length, dim]),
// inputs_dtype (bytes), outputs (int64 or float list), outputs_shape (int64), index
// (int64 [1]), region (bytes) and, when r.token_spans is not empty, token_spans (int64
// [length * 2]). Byte-identical to encode_example of the same Example; copies `inputs`
// exactly once (into out). Throws bend::Error when inputs_bytes does not match length * dim *
// dtype size, dtype is unknown or token_spans is invalid (check_token_spans).
void encode_embedding_example(const EmbeddingRecord& r, std::string& out);

// Zero-copy decode: fills `r` with `inputs` pointing into data[0, n) (valid while it is).
// Checks every feature is present with the right type and sizes agree, and token_spans (when
// present) with check_token_spans; unknown features are ignored. Throws bend::Error naming the
// missing or mistyped feature (callers add the shard and record).
void decode_embedding_view(const char* data, size_t n, EmbeddingRecord& r);

// Checks flattened (start_bp, len_bp) spans of `n_vectors` token-level vectors: 2 * n_vectors
// values, the first starting at 0, each starting where the previous one ends, every length
// >= 1. Returns the nucleotides they cover (the upsampled length). Throws bend::Error naming
// the first bad vector.
int64_t check_token_spans(const std::vector<int64_t>& spans, int64_t n_vectors);

// An owning decoded embedding record.
struct DecodedRecord {
  std::string inputs;  // [length, dim] elements of dtype, little-endian
  int64_t length = 0, dim = 0;
  std::string dtype;
  bool outputs_is_float = false;
  std::vector<int64_t> outputs_int;
  std::vector<float> outputs_float;
  std::vector<int64_t> outputs_shape;
  int64_t index = 0;
  std::string region;
  std::vector<int64_t> token_spans;  // [length * 2] (start_bp, len_bp); empty = per position
};

// Like decode_embedding_view but owning (inputs copied once). Same errors.
DecodedRecord decode_embedding_example(const char* data, size_t n);

}  // namespace bend
