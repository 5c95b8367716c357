// Test bridge between the store/core code and the python tests (which hold the independent
// references: struct + their own CRC, zlib, gzip, protobuf, torch). Subcommands:
//   write-raw IN OUT COMPRESSION [LEVEL]   IN: records as (uint64 LE length, bytes)*; prints
//                                          {"n_records","file_bytes","file_crc32c"}
//   read-raw IN COMPRESSION OUT            writes the records of IN to OUT in the same form
//   write-examples SPEC.json OUT COMPRESSION   spec: [{"features": {...}} | {"embedding": {...}}]
//   dump-examples IN COMPRESSION           prints every record as {"features": {...}}
//   dump-embeddings IN COMPRESSION         prints every record via decode_embedding_example
//   inspect [--records] [--json] SHARD...  inspect_shard + summaries
//   crc32c FILE auto|hw|portable [CHUNK]   prints the CRC32C of FILE (fed in CHUNK-byte pieces)
//   encode-floats IN OUT DTYPE             IN: float32 LE; OUT: encode_floats(DTYPE)
//   decode-floats IN OUT DTYPE             IN: DTYPE elements; OUT: float32 LE
// bend::Error is printed to stderr and exits 1.
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/half.hpp"
#include "bend/store/example.hpp"
#include "bend/store/inspect.hpp"
#include "bend/store/tfrecord.hpp"

using nlohmann::json;

namespace {

std::string slurp(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) bend::fail("cannot open %s", path.c_str());
  std::string s;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  std::fclose(f);
  return s;
}

void spit(const std::string& path, const std::string& s) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(s.data(), 1, s.size(), f) != s.size() || std::fclose(f) != 0) {
    bend::fail("cannot write %s", path.c_str());
  }
}

std::string to_hex(const std::string& s) {
  static const char* kDigits = "0123456789abcdef";
  std::string h;
  h.reserve(2 * s.size());
  for (unsigned char c : s) {
    h.push_back(kDigits[c >> 4]);
    h.push_back(kDigits[c & 15]);
  }
  return h;
}

std::string from_hex(const std::string& h) {
  std::string s;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    s.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return s;
}

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

int write_raw(int argc, char** argv) {
  std::string in = slurp(argv[2]);
  int level = argc > 5 ? std::atoi(argv[5]) : 6;
  bend::TFRecordWriter w(argv[3], bend::parse_compression(argv[4]), level);
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t n;
    std::memcpy(&n, in.data() + pos, 8);
    w.write(in.data() + pos + 8, n);
    pos += 8 + n;
  }
  w.close();
  json j = {{"n_records", w.n_records()},
            {"file_bytes", w.file_bytes()},
            {"file_crc32c", w.file_crc32c()}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int read_raw(char** argv) {
  bend::TFRecordReader r(argv[2], bend::parse_compression(argv[3]));
  std::string out, rec;
  while (r.next(rec)) {
    uint64_t n = rec.size();
    out.append(reinterpret_cast<const char*>(&n), 8);
    out += rec;
  }
  spit(argv[4], out);
  std::printf("%s\n", json({{"n_records", r.n_records()},
                            {"file_bytes", r.file_bytes()},
                            {"file_crc32c", r.file_crc32c()}})
                          .dump()
                          .c_str());
  return 0;
}

bend::Feature feature_from_json(const json& j) {
  std::string kind = j.at("kind");
  if (kind == "bytes") {
    std::vector<std::string> v;
    for (const auto& h : j.at("values")) v.push_back(from_hex(h.get<std::string>()));
    return bend::bytes_feature(v);
  }
  if (kind == "int64") return bend::int64_feature(j.at("values").get<std::vector<int64_t>>());
  std::vector<float> v;
  for (const auto& b : j.at("bits")) v.push_back(bits_to_float(b.get<uint32_t>()));
  return bend::float_feature(v);
}

json feature_to_json(const bend::Feature& f) {
  if (f.kind == bend::Feature::kBytes) {
    json v = json::array();
    for (const std::string& b : f.bytes_list) v.push_back(to_hex(b));
    return {{"kind", "bytes"}, {"values", v}};
  }
  if (f.kind == bend::Feature::kInt64) return {{"kind", "int64"}, {"values", f.int64_list}};
  json v = json::array();
  for (float x : f.float_list) v.push_back(float_to_bits(x));
  return {{"kind", "float"}, {"bits", v}};
}

void encode_spec_record(const json& item, std::string& out) {
  if (item.contains("features")) {
    bend::Example ex;
    for (const auto& kv : item.at("features").items()) ex[kv.key()] = feature_from_json(kv.value());
    bend::encode_example(ex, out);
    return;
  }
  const json& e = item.at("embedding");
  std::string inputs = from_hex(e.at("inputs"));
  std::string dtype = e.at("dtype");
  bend::EmbeddingRecord r;
  r.inputs = inputs.data();
  r.inputs_bytes = inputs.size();
  r.length = e.at("length");
  r.dim = e.at("dim");
  r.dtype = dtype.c_str();
  r.outputs_is_float = e.contains("outputs_float_bits");
  if (r.outputs_is_float) {
    for (const auto& b : e.at("outputs_float_bits"))
      r.outputs_float.push_back(bits_to_float(b.get<uint32_t>()));
  } else {
    r.outputs_int = e.at("outputs_int").get<std::vector<int64_t>>();
  }
  r.outputs_shape = e.at("outputs_shape").get<std::vector<int64_t>>();
  r.index = e.at("index");
  r.region = e.at("region");
  if (e.contains("token_spans")) r.token_spans = e.at("token_spans").get<std::vector<int64_t>>();
  bend::encode_embedding_example(r, out);
}

int write_examples(char** argv) {
  json spec = json::parse(slurp(argv[2]));
  bend::TFRecordWriter w(argv[3], bend::parse_compression(argv[4]));
  std::string buf;
  for (const auto& item : spec) {
    buf.clear();
    encode_spec_record(item, buf);
    w.write(buf);
  }
  w.close();
  return 0;
}

int dump(char** argv, bool embeddings) {
  bend::TFRecordReader r(argv[2], bend::parse_compression(argv[3]));
  std::string rec;
  json all = json::array();
  while (r.next(rec)) {
    if (!embeddings) {
      json feats = json::object();
      for (const auto& kv : bend::decode_example(rec.data(), rec.size()))
        feats[kv.first] = feature_to_json(kv.second);
      all.push_back({{"features", feats}});
      continue;
    }
    bend::DecodedRecord d = bend::decode_embedding_example(rec.data(), rec.size());
    json e = {{"inputs", to_hex(d.inputs)},
              {"length", d.length},
              {"dim", d.dim},
              {"dtype", d.dtype},
              {"outputs_shape", d.outputs_shape},
              {"index", d.index},
              {"region", d.region}};
    if (d.outputs_is_float) {
      json v = json::array();
      for (float x : d.outputs_float) v.push_back(float_to_bits(x));
      e["outputs_float_bits"] = v;
    } else {
      e["outputs_int"] = d.outputs_int;
    }
    if (!d.token_spans.empty()) e["token_spans"] = d.token_spans;
    all.push_back({{"embedding", e}});
  }
  std::printf("%s\n", all.dump().c_str());
  return 0;
}

int inspect(int argc, char** argv) {
  bool records = false, as_json = false;
  std::vector<std::string> paths;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--records")
      records = true;
    else if (a == "--json")
      as_json = true;
    else
      paths.push_back(a);
  }
  bend::InspectFormat fmt = as_json ? bend::InspectFormat::kJson : bend::InspectFormat::kText;
  for (const std::string& p : paths) {
    bend::ShardSummary s = bend::inspect_shard(p, records, stdout, fmt);
    if (!records) std::printf("%s\n", bend::shard_summary_json(s).c_str());
  }
  return 0;
}

int crc(int argc, char** argv) {
  std::string data = slurp(argv[2]);
  std::string mode = argv[3];
  size_t chunk = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : data.size();
  if (chunk == 0) chunk = 1;
  if (mode == "hw" && !bend::crc32c_hw_available()) bend::fail("no SSE4.2 on this CPU");
  uint32_t c = 0;
  size_t pos = 0;
  do {
    size_t n = std::min(chunk, data.size() - pos);
    if (mode == "hw")
      c = bend::crc32c_extend_hw(c, data.data() + pos, n);
    else if (mode == "portable")
      c = bend::crc32c_extend_portable(c, data.data() + pos, n);
    else
      c = bend::crc32c_extend(c, data.data() + pos, n);
    pos += n;
  } while (pos < data.size());
  std::printf("%08x\n", c);
  return 0;
}

int floats(char** argv, bool encode) {
  std::string in = slurp(argv[2]);
  bend::DType dt = bend::parse_dtype(argv[4]);
  std::string out;
  if (encode) {
    size_t n = in.size() / 4;
    std::vector<float> src(n);
    std::memcpy(src.data(), in.data(), 4 * n);
    out.resize(n * bend::dtype_size(dt));
    bend::encode_floats(src.data(), n, dt, &out[0]);
  } else {
    size_t n = in.size() / bend::dtype_size(dt);
    std::vector<float> dst(n);
    bend::decode_floats(in.data(), n, dt, dst.data());
    out.assign(reinterpret_cast<const char*>(dst.data()), 4 * n);
  }
  spit(argv[3], out);
  return 0;
}

int run(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "write-raw" && argc >= 5) return write_raw(argc, argv);
  if (cmd == "read-raw" && argc == 5) return read_raw(argv);
  if (cmd == "write-examples" && argc == 5) return write_examples(argv);
  if (cmd == "dump-examples" && argc == 4) return dump(argv, false);
  if (cmd == "dump-embeddings" && argc == 4) return dump(argv, true);
  if (cmd == "inspect") return inspect(argc, argv);
  if (cmd == "crc32c" && argc >= 4) return crc(argc, argv);
  if (cmd == "encode-floats" && argc == 5) return floats(argv, true);
  if (cmd == "decode-floats" && argc == 5) return floats(argv, false);
  std::fprintf(stderr, "usage: see the comment at the top of tests/store/tool_tfrecord.cpp\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const bend::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
