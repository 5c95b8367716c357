// inspect_shard: summaries of valid shards, listings, and errors naming path, record, offset.
#include <catch2/catch.hpp>

#include "../common/temp_dir.hpp"
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/store/example.hpp"
#include "bend/store/inspect.hpp"
#include "bend/store/tfrecord.hpp"

namespace {

using bend_test::TempDir;

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Writes records of the given lengths with dim 3 in `dtype`; returns the writer's crc. With
// `span_bp` > 0 every record is token-level, each vector covering span_bp nucleotides.
uint32_t write_shard(const std::string& path, const std::vector<int64_t>& lengths,
                     const char* dtype, int64_t dim = 3, int64_t span_bp = 0) {
  bend::TFRecordWriter w(path, bend::compression_from_path(path));
  size_t elem = std::string(dtype) == "float32" ? 4 : 2;
  for (size_t i = 0; i < lengths.size(); ++i) {
    std::string inputs(static_cast<size_t>(lengths[i] * dim) * elem, '\x01');
    bend::EmbeddingRecord r;
    r.inputs = inputs.data();
    r.inputs_bytes = inputs.size();
    r.length = lengths[i];
    r.dim = dim;
    r.dtype = dtype;
    r.outputs_int = {1, 0};
    r.outputs_shape = {2};
    r.index = static_cast<int64_t>(10 + i);
    r.region = "chr1:" + std::to_string(i) + "-" + std::to_string(i + lengths[i]) + "(-)";
    for (int64_t v = 0; span_bp > 0 && v < lengths[i]; ++v) {
      r.token_spans.push_back(v * span_bp);
      r.token_spans.push_back(span_bp);
    }
    std::string rec;
    bend::encode_embedding_example(r, rec);
    w.write(rec);
  }
  w.close();
  return w.file_crc32c();
}

}  // namespace

TEST_CASE("inspect_shard summarises records, lengths, dim, dtype, size and crc") {
  TempDir tmp;
  for (const char* name : {"s.tfrecord", "s.tfrecord.gz", "s.tfrecord.zlib"}) {
    std::string path = tmp.file(name);
    uint32_t crc = write_shard(path, {5, 2, 9, 4}, "float16");
    bend::ShardSummary s = bend::inspect_shard(path, false, stdout);
    std::string bytes = read_all(path);
    CHECK(s.path == path);
    CHECK(s.n_records == 4);
    CHECK(s.min_len == 2);
    CHECK(s.max_len == 9);
    CHECK(s.dim == 3);
    CHECK(s.dtype == "float16");
    CHECK(s.file_bytes == bytes.size());
    CHECK(s.file_crc32c == crc);
    CHECK(s.file_crc32c == bend::crc32c(bytes.data(), bytes.size()));
    CHECK_THAT(bend::shard_summary_json(s), Catch::Contains("\"records\":4"));
    CHECK_THAT(bend::shard_summary_text(s), Catch::StartsWith(path + "\t4\t"));
  }
}

TEST_CASE("inspect_shard lists one line per record") {
  TempDir tmp;
  std::string path = tmp.file("l.tfrecord");
  write_shard(path, {5, 7}, "float32");
  std::string listing = tmp.file("listing.txt");
  FILE* out = std::fopen(listing.c_str(), "w");
  REQUIRE(out);
  bend::inspect_shard(path, true, out);
  bend::inspect_shard(path, true, out, bend::InspectFormat::kJson);
  std::fclose(out);
  std::string text = read_all(listing);
  CHECK_THAT(text, Catch::Contains(path + "\t0\t10\tchr1:0-5(-)\t[5,3]\tfloat32\t[2]\t5\n"));
  CHECK_THAT(text, Catch::Contains(path + "\t1\t11\tchr1:1-8(-)\t[7,3]\tfloat32\t[2]\t7\n"));
  CHECK_THAT(text, Catch::Contains("\"region\":\"chr1:1-8(-)\""));
}

TEST_CASE("inspect_shard counts the vectors and nucleotides of token-level records") {
  TempDir tmp;
  std::string path = tmp.file("t.tfrecord");
  write_shard(path, {5, 7}, "float32", 3, 6);
  std::string listing = tmp.file("listing.txt");
  FILE* out = std::fopen(listing.c_str(), "w");
  REQUIRE(out);
  bend::ShardSummary s = bend::inspect_shard(path, true, out);
  bend::inspect_shard(path, true, out, bend::InspectFormat::kJson);
  std::fclose(out);
  CHECK(s.n_vectors == 12);
  CHECK(s.n_positions == 72);
  CHECK(s.n_token_level == 2);
  CHECK(s.min_len == 5);
  CHECK_THAT(bend::shard_summary_text(s), Catch::EndsWith("\t12\t72"));
  CHECK_THAT(bend::shard_summary_json(s), Catch::Contains("\"token_level_records\":2"));
  std::string text = read_all(listing);
  CHECK_THAT(text, Catch::Contains(path + "\t1\t11\tchr1:1-8(-)\t[7,3]\tfloat32\t[2]\t42\n"));
  CHECK_THAT(text, Catch::Contains("\"positions\":42"));
  CHECK_THAT(text, Catch::Contains("\"token_level\":true"));
}

TEST_CASE("an empty shard has zero records and no dtype") {
  TempDir tmp;
  std::string path = tmp.file("e.tfrecord");
  write_shard(path, {}, "float32");
  bend::ShardSummary s = bend::inspect_shard(path, false, stdout);
  CHECK(s.n_records == 0);
  CHECK(s.dtype.empty());
}

TEST_CASE("records that are not embedding Examples are reported with path, record and offset") {
  TempDir tmp;
  std::string path = tmp.file("bad.tfrecord");
  {
    bend::TFRecordWriter w(path, bend::Compression::kNone);
    std::string good;
    bend::EmbeddingRecord r;
    r.outputs_shape = {0};
    r.region = "chr2:0-0(+)";
    bend::encode_embedding_example(r, good);
    w.write(good);
    w.write("not an example");
    w.close();
  }
  CHECK_THROWS_WITH(bend::inspect_shard(path, false, stdout),
                    Catch::Contains(path) && Catch::Contains("record 1 at byte offset "));
}

TEST_CASE("records of different dim or dtype in one shard are an error") {
  TempDir tmp;
  std::string a = tmp.file("a.tfrecord"), b = tmp.file("b.tfrecord");
  write_shard(a, {3}, "float32", 4);
  write_shard(b, {3}, "float32", 5);
  std::string mixed = read_all(a) + read_all(b);  // TFRecord files concatenate
  std::string path = tmp.file("mixed.tfrecord");
  std::ofstream(path, std::ios::binary) << mixed;
  CHECK_THROWS_WITH(bend::inspect_shard(path, false, stdout),
                    Catch::Contains(path) && Catch::Contains("record 1") && Catch::Contains("dim"));
}

TEST_CASE("a corrupt shard fails inspection with the CRC error") {
  TempDir tmp;
  std::string path = tmp.file("c.tfrecord");
  write_shard(path, {4, 4, 4}, "bfloat16");
  std::string bytes = read_all(path);
  bytes[bytes.size() - 10] ^= 1;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  CHECK_THROWS_WITH(
      bend::inspect_shard(path, false, stdout),
      Catch::Contains(path) && Catch::Contains("record 2") && Catch::Contains("crc32c mismatch"));
}
