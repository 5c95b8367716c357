// Shard verification: stream every record through the CRC-checking reader and the Example
// decoder, collecting a summary (and optionally a per-record listing).
#include "bend/store/inspect.hpp"

#include <nlohmann/json.hpp>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/store/h5_embeddings.hpp"
#include "bend/store/example.hpp"
#include "bend/store/tfrecord.hpp"

namespace bend {
namespace {

std::string shape_text(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(v[i]);
  }
  return s + "]";
}

// `positions`: rows bend train sees (the nucleotides of a token-level record).
void print_record(FILE* out, InspectFormat fmt, const std::string& path, uint64_t record,
                  const EmbeddingRecord& r, int64_t positions) {
  std::string line;
  if (fmt == InspectFormat::kJson) {
    nlohmann::json j;
    j["shard"] = path;
    j["record"] = record;
    j["index"] = r.index;
    j["region"] = r.region;
    j["shape"] = {r.length, r.dim};
    j["dtype"] = r.dtype;
    j["outputs_shape"] = r.outputs_shape;
    j["outputs_dtype"] = r.outputs_is_float ? "float" : "int64";
    j["positions"] = positions;
    if (!r.token_spans.empty()) j["token_level"] = true;
    line = j.dump();
  } else {
    line = strfmt("%s\t%llu\t%lld\t%s\t[%lld,%lld]\t%s\t%s\t%lld", path.c_str(),
                  static_cast<unsigned long long>(record), static_cast<long long>(r.index),
                  r.region.c_str(), static_cast<long long>(r.length), static_cast<long long>(r.dim),
                  r.dtype, shape_text(r.outputs_shape).c_str(), static_cast<long long>(positions));
  }
  line += "\n";
  if (std::fwrite(line.data(), 1, line.size(), out) != line.size())
    fail("inspect: cannot write output");
}

}  // namespace

ShardSummary inspect_shard(const std::string& path, bool list_records, FILE* out,
                           InspectFormat fmt) {
  ShardSummary s;
  s.path = path;
  TFRecordReader reader(path, compression_from_path(path));
  std::string record;
  EmbeddingRecord r;
  while (reader.next(record)) {
    uint64_t i = reader.n_records() - 1;
    int64_t positions = 0;
    try {
      decode_embedding_view(record.data(), record.size(), r);  // checks token_spans
      positions = r.token_spans.empty() ? r.length : check_token_spans(r.token_spans, r.length);
      if (i == 0) {
        s.dim = r.dim;
        s.dtype = r.dtype;
        s.min_len = s.max_len = r.length;
      } else if (r.dim != s.dim || s.dtype != r.dtype) {
        fail("embedding [%lld, %lld] of %s differs from the shard's first record (dim %lld, %s)",
             static_cast<long long>(r.length), static_cast<long long>(r.dim), r.dtype,
             static_cast<long long>(s.dim), s.dtype.c_str());
      }
    } catch (const Error& e) {
      fail("%s: %s: %s", path.c_str(), reader.record_where().c_str(), e.what());
    }
    if (r.length < s.min_len) s.min_len = r.length;
    if (r.length > s.max_len) s.max_len = r.length;
    s.n_vectors += r.length;
    s.n_positions += positions;
    s.n_token_level += r.token_spans.empty() ? 0 : 1;
    if (list_records) print_record(out, fmt, path, i, r, positions);
  }
  s.n_records = reader.n_records();
  s.file_bytes = reader.file_bytes();
  s.file_crc32c = reader.file_crc32c();
  return s;
}

ShardSummary inspect_h5_file(const std::string& path, bool list_records, FILE* out,
                             InspectFormat fmt) {
  H5EmbeddingReader reader(path, true);
  reader.verify();
  const H5SplitLayout& L = reader.layout();
  ShardSummary s;
  s.path = path;
  s.n_records = static_cast<uint64_t>(L.n_rows());
  s.file_bytes = static_cast<uint64_t>(file_size_or_neg(path));
  uint64_t n_bytes = 0;
  s.file_crc32c = reader.rows_crc32c(0, L.n_rows(), n_bytes);
  s.dim = L.dim;
  s.dtype = dtype_name(L.dtype);
  H5Row row;
  std::vector<int64_t> spans;
  for (int64_t i = 0; i < L.n_rows(); ++i) {
    int64_t len = L.offsets[i + 1] - L.offsets[i];
    if (i == 0 || len < s.min_len) s.min_len = len;
    if (i == 0 || len > s.max_len) s.max_len = len;
    int64_t positions = len;
    if (L.token_spans) {  // token-level: checked as in TFRecord records
      reader.read_row_spans(i, spans);
      try {
        positions = check_token_spans(spans, len);
      } catch (const Error& e) {
        fail("%s: row %lld: %s", path.c_str(), static_cast<long long>(i), e.what());
      }
      s.n_token_level += 1;
    }
    s.n_vectors += len;
    s.n_positions += positions;
    if (!list_records) continue;
    reader.read_row(i, row);
    EmbeddingRecord r;
    r.length = len;
    r.dim = L.dim;
    r.dtype = dtype_name(L.dtype);
    r.outputs_is_float = row.labels_float;
    r.outputs_shape = row.label_shape;
    r.index = row.index;
    r.region = row.region;
    r.token_spans = spans;
    print_record(out, fmt, path, static_cast<uint64_t>(i), r, positions);
  }
  return s;
}

std::string shard_summary_header() {
  return "shard\trecords\tbytes\tdim\tdtype\tmin_len\tmax_len\tcrc32c\tvectors\tpositions";
}

std::string shard_summary_text(const ShardSummary& s) {
  return strfmt("%s\t%llu\t%llu\t%lld\t%s\t%lld\t%lld\t%08x\t%lld\t%lld", s.path.c_str(),
                static_cast<unsigned long long>(s.n_records),
                static_cast<unsigned long long>(s.file_bytes), static_cast<long long>(s.dim),
                s.dtype.empty() ? "-" : s.dtype.c_str(), static_cast<long long>(s.min_len),
                static_cast<long long>(s.max_len), s.file_crc32c,
                static_cast<long long>(s.n_vectors), static_cast<long long>(s.n_positions));
}

std::string shard_summary_json(const ShardSummary& s) {
  nlohmann::json j;
  j["path"] = s.path;
  j["records"] = s.n_records;
  j["bytes"] = s.file_bytes;
  j["crc32c"] = strfmt("%08x", s.file_crc32c);
  j["dim"] = s.dim;
  j["dtype"] = s.dtype;
  j["min_len"] = s.min_len;
  j["max_len"] = s.max_len;
  j["vectors"] = s.n_vectors;
  j["positions"] = s.n_positions;
  j["token_level_records"] = s.n_token_level;
  return j.dump();
}

std::string record_listing_header() {
  return "shard\trecord\tindex\tregion\tshape\tdtype\toutputs_shape\tpositions";
}

}  // namespace bend
