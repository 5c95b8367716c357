// Sharded safetensors checkpoints (model.safetensors.index.json + shards): opened through the
// index they read as one file; a missing shard, a listed tensor absent from its shard, a tensor
// in two shards or one the index does not list are refused naming the index and the shard.
// Indexes are composed by hand from Hugging Face's format; shards by write_safetensors (whose
// bytes test_safetensors checks against the format).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "../common/temp_dir.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/safetensors.hpp"

using bend::Error;
using bend::F32Tensor;
using bend::SafetensorsFile;
using bend_test::TempDir;
using Catch::Contains;

namespace {

// Writes shards a.safetensors {w [2, 2], b [2]} and b.safetensors {c [3]} to `dir` and returns
// the weight map text for them.
std::string write_two_shards(const TempDir& dir) {
  bend::write_safetensors(dir.file("a.safetensors"),
                          {{"w", {2, 2}, {1, 2, 3, 4}}, {"b", {2}, {-1, -2}}}, {{"format", "pt"}});
  bend::write_safetensors(dir.file("b.safetensors"), {{"c", {3}, {7, 8, 9}}}, {});
  return R"("w": "a.safetensors", "b": "a.safetensors", "c": "b.safetensors")";
}

std::string index_json(const std::string& weight_map) {
  return R"({"metadata": {"total_size": 36}, "weight_map": {)" + weight_map + "}}";
}

std::string open_error(const std::string& path) {
  try {
    SafetensorsFile f(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a shard index reads as one file holding every shard's tensors") {
  TempDir tmp;
  const std::string index =
      tmp.file("model.safetensors.index.json", index_json(write_two_shards(tmp)));
  SafetensorsFile f(index);
  CHECK(f.path() == index);
  CHECK(f.tensors().size() == 3);
  CHECK(f.read_f32("w") == std::vector<float>{1, 2, 3, 4});
  CHECK(f.read_f32("b") == std::vector<float>{-1, -2});
  CHECK(f.read_f32("c") == std::vector<float>{7, 8, 9});
  CHECK(f.info("c").shape == std::vector<int64_t>{3});
  CHECK(f.file_of("w") == tmp.file("a.safetensors"));
  CHECK(f.file_of("c") == tmp.file("b.safetensors"));
  CHECK(f.files() ==
        std::vector<std::string>{tmp.file("a.safetensors"), tmp.file("b.safetensors")});
  CHECK(f.metadata().at("format") == "pt");
  CHECK(f.file_size_bytes() == uint64_t(bend::file_size_or_neg(tmp.file("a.safetensors")) +
                                        bend::file_size_or_neg(tmp.file("b.safetensors"))));
  CHECK_THROWS_WITH(f.read_f32("nope"), Contains(index) && Contains("nope"));
}

TEST_CASE("checkpoint_weights_path prefers model.safetensors, else the shard index") {
  TempDir tmp;
  CHECK_THROWS_WITH(bend::checkpoint_weights_path(tmp.path),
                    Contains(tmp.path) && Contains("model.safetensors.index.json"));
  tmp.write("model.safetensors.index.json", "{}");
  CHECK(bend::checkpoint_weights_path(tmp.path) == tmp.file("model.safetensors.index.json"));
  bend::write_safetensors(tmp.file("model.safetensors"), {{"x", {1}, {1}}}, {});
  CHECK(bend::checkpoint_weights_path(tmp.path) == tmp.file("model.safetensors"));
}

TEST_CASE(
    "weights_crc32c of an index changes with any shard's bytes, of a file it is the file's CRC") {
  TempDir tmp;
  const std::string index =
      tmp.file("model.safetensors.index.json", index_json(write_two_shards(tmp)));
  CHECK(bend::weights_crc32c(tmp.file("a.safetensors")) ==
        bend::file_crc32c(tmp.file("a.safetensors")));
  const uint32_t before = bend::weights_crc32c(index);
  CHECK(SafetensorsFile(index).crc32c() == before);
  bend::write_safetensors(tmp.file("b.safetensors"), {{"c", {3}, {7, 8, 9.5f}}}, {});
  CHECK(bend::weights_crc32c(index) != before);
}

TEST_CASE("a missing shard is named with the index and a tensor it should hold") {
  TempDir tmp;
  const std::string index =
      tmp.file("model.safetensors.index.json",
               index_json(write_two_shards(tmp) + R"(, "d": "model-00003-of-00003.safetensors")"));
  const std::string msg = open_error(index);
  CHECK_THAT(msg, Contains(index) && Contains("model-00003-of-00003.safetensors") &&
                      Contains("missing") && Contains("'d'"));
}

TEST_CASE("a tensor the index lists but its shard lacks is refused, naming the shard") {
  TempDir tmp;
  write_two_shards(tmp);
  const std::string index = tmp.file(
      "model.safetensors.index.json",
      index_json(
          R"("w": "a.safetensors", "b": "a.safetensors", "c": "b.safetensors", "e": "b.safetensors")"));
  CHECK_THAT(open_error(index), Contains(index) && Contains("'e'") &&
                                    Contains(tmp.file("b.safetensors")) &&
                                    Contains("does not hold it"));
  const std::string moved =
      tmp.file("moved.index.json",
               index_json(R"("w": "a.safetensors", "b": "b.safetensors", "c": "b.safetensors")"));
  CHECK_THAT(open_error(moved),
             Contains("'b'") && Contains("is listed in shard " + tmp.file("b.safetensors")));
}

TEST_CASE("a tensor held by two shards is refused, naming both files") {
  TempDir tmp;
  const std::string weight_map = write_two_shards(tmp);
  bend::write_safetensors(tmp.file("b.safetensors"), {{"c", {3}, {7, 8, 9}}, {"w", {1}, {0}}}, {});
  const std::string index = tmp.file("model.safetensors.index.json", index_json(weight_map));
  CHECK_THAT(open_error(index), Contains("'w'") && Contains("two shards") &&
                                    Contains(tmp.file("a.safetensors")) &&
                                    Contains(tmp.file("b.safetensors")));
}

TEST_CASE("a shard tensor missing from the index, and bad indexes, are refused") {
  TempDir tmp;
  write_two_shards(tmp);
  const std::string index = tmp.file("model.safetensors.index.json",
                                     index_json(R"("w": "a.safetensors", "c": "b.safetensors")"));
  CHECK_THAT(open_error(index),
             Contains(tmp.file("a.safetensors")) && Contains("'b'") && Contains("does not list"));
  CHECK_THAT(open_error(tmp.file("x.index.json", "{\"weight_map\": [")),
             Contains("x.index.json") && Contains("not valid JSON"));
  CHECK_THAT(open_error(tmp.file("y.index.json", "{\"metadata\": {}}")),
             Contains("y.index.json") && Contains("weight_map"));
  CHECK_THAT(open_error(tmp.file("z.index.json", index_json(R"("w": "../a.safetensors")"))),
             Contains("outside the index's folder"));
  CHECK_THAT(open_error(tmp.file("e.index.json", index_json(""))), Contains("lists no tensors"));
  tmp.write("a.safetensors", "short");  // a corrupt shard: the shard's own error
  CHECK_THAT(open_error(index),
             Contains(tmp.file("a.safetensors")) && Contains("not a safetensors"));
}
