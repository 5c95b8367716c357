// The training data layer's pure parts: epoch orders, cross-validation folds, collate padding,
// and SplitReader's refusals of incomplete or mismatched embed directories. Reading real shards
// is checked against an independent reader in test_dataset_reader.py.
#include <stdlib.h>

#include <catch2/catch.hpp>

#include "../common/temp_dir.hpp"
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/train/dataset.hpp"
#include "bend/train/train_config.hpp"

using Catch::Matchers::Contains;

namespace {

using bend_test::TempDir;

std::vector<std::pair<int, int>> pairs(const std::vector<bend::RecordRef>& order) {
  std::vector<std::pair<int, int>> out;
  for (const auto& r : order) out.emplace_back(r.shard, r.record);
  return out;
}

// Stream position of every record when shards are visited in `shard_order`.
std::vector<std::vector<int64_t>> stream_positions(const std::vector<int64_t>& rps,
                                                   const std::vector<bend::RecordRef>& shard_order) {
  std::vector<std::vector<int64_t>> pos(rps.size());
  for (size_t s = 0; s < rps.size(); ++s) pos[s].resize(static_cast<size_t>(rps[s]));
  for (size_t p = 0; p < shard_order.size(); ++p) {
    pos[shard_order[p].shard][shard_order[p].record] = static_cast<int64_t>(p);
  }
  return pos;
}

std::string manifest(const std::string& status, const std::string& shards_json) {
  return R"({"format": "bend-embed-manifest", "version": 1, "status": ")" + status +
         R"(", "model": {"name": "onehot", "dim": 5, "fingerprint": "onehot:v1"},
  "splits": {"train": {"rows": 3, "shards": 1}, "valid": {"rows": 2, "shards": 1}},
  "planned_shards": 2, "totals": {"rows": 5, "nt": 50, "bytes": 12, "shards": 2},
  "shards": )" + shards_json + "}";
}

const char* kTwoShards = R"([
  {"shard": 0, "file": "train-00000.tfrecord", "split": "train", "rows": 3, "records": 3,
   "nt": 30, "bytes": 7, "crc32c": "00000000"},
  {"shard": 1, "file": "valid-00000.tfrecord", "split": "valid", "rows": 2, "records": 2,
   "nt": 20, "bytes": 5, "crc32c": "00000000"}])";

}  // namespace

TEST_CASE("splitmix64 reproduces Vigna's reference outputs for seed 1234567", "[dataset]") {
  uint64_t state = 1234567;
  const uint64_t want[] = {6457827717110365317ull, 3203168211198807973ull, 9817491932198370423ull,
                           4593380528125082431ull, 16408922859458223821ull};
  for (uint64_t w : want) CHECK(bend::splitmix64(state) == w);
}

TEST_CASE("ShuffleRng::below stays in range and is roughly uniform", "[dataset]") {
  bend::ShuffleRng rng(42, 0);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) {
    uint64_t v = rng.below(7);
    REQUIRE(v < 7);
    ++counts[v];
  }
  for (int c : counts) CHECK(std::abs(c - 10000) < 500);  // ~5 sigma
  CHECK(rng.below(1) == 0);
}

TEST_CASE("epoch_order is a permutation of every record, empty shards included", "[dataset]") {
  const std::vector<int64_t> rps = {5, 0, 17, 1, 9};
  for (int64_t buffer : {1, 3, 10, 100}) {
    auto order = bend::epoch_order(rps, 7, 2, buffer);
    REQUIRE(order.size() == 32);
    auto p = pairs(order);
    std::set<std::pair<int, int>> unique(p.begin(), p.end());
    CHECK(unique.size() == 32);
    for (const auto& r : order) {
      REQUIRE(r.shard >= 0);
      REQUIRE(r.shard < 5);
      CHECK(r.record < rps[r.shard]);
    }
  }
  CHECK(bend::epoch_order({}, 1, 0, 4).empty());
  CHECK(bend::epoch_order({0, 0}, 1, 0, 4).empty());
}

TEST_CASE("epoch_order is deterministic for (seed, epoch) and differs across epochs and seeds",
          "[dataset]") {
  const std::vector<int64_t> rps = {40, 40, 40, 40};
  auto a = pairs(bend::epoch_order(rps, 11, 3, 16));
  CHECK(a == pairs(bend::epoch_order(rps, 11, 3, 16)));
  CHECK(a != pairs(bend::epoch_order(rps, 11, 4, 16)));
  CHECK(a != pairs(bend::epoch_order(rps, 12, 3, 16)));
  CHECK(pairs(bend::epoch_order(rps, 11, 0, 16)) != pairs(bend::epoch_order(rps, 11, 1, 16)));
}

TEST_CASE("epoch_order with buffer 1 gives whole shards in file order, shards permuted",
          "[dataset]") {
  const std::vector<int64_t> rps = {4, 6, 3, 5, 2};
  std::set<std::vector<int>> shard_orders;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto order = bend::epoch_order(rps, seed, 0, 1);
    std::vector<int> shards;
    for (size_t i = 0; i < order.size(); ++i) {
      const auto& r = order[i];
      if (r.record == 0) {
        shards.push_back(r.shard);
      } else {
        REQUIRE(i > 0);
        CHECK(order[i - 1].shard == r.shard);  // the previous record of the same shard
        CHECK(order[i - 1].record == r.record - 1);
      }
    }
    CHECK(shards.size() == rps.size());
    shard_orders.insert(shards);
  }
  CHECK(shard_orders.size() > 5);  // the permutation depends on the seed
}

TEST_CASE("epoch_order emits no record before it entered the shuffle buffer", "[dataset]") {
  const std::vector<int64_t> rps = {30, 25, 40, 5};
  for (int64_t buffer : {2, 8, 50}) {
    auto streamed = bend::epoch_order(rps, 5, 9, 1);  // same shard permutation, no shuffling
    auto pos = stream_positions(rps, streamed);
    auto order = bend::epoch_order(rps, 5, 9, buffer);
    int64_t max_lag = 0;
    for (size_t p = 0; p < order.size(); ++p) {
      int64_t q = pos[order[p].shard][order[p].record];
      CHECK(q <= static_cast<int64_t>(p) + buffer - 1);
      max_lag = std::max(max_lag, static_cast<int64_t>(p) - q);
    }
    CHECK(max_lag > 0);  // records do get delayed: the buffer shuffles
  }
}

TEST_CASE("epoch_order with a buffer as large as the data is a uniform shuffle", "[dataset]") {
  // The first record of 12 emitted over 6000 epochs: each record ~500 times.
  const std::vector<int64_t> rps = {4, 4, 4};
  std::vector<int> first(12, 0);
  for (int64_t epoch = 0; epoch < 6000; ++epoch) {
    auto o = bend::epoch_order(rps, 3, epoch, 12);
    ++first[o[0].shard * 4 + o[0].record];
  }
  for (int c : first) CHECK(std::abs(c - 500) < 110);  // ~5 sigma
}

TEST_CASE("epoch_order refuses an empty shuffle buffer", "[dataset]") {
  CHECK_THROWS_WITH(bend::epoch_order({3}, 1, 0, 0), Contains("shuffle buffer"));
}

TEST_CASE("sequential_order lists shards then records in file order", "[dataset]") {
  auto o = pairs(bend::sequential_order({2, 0, 1}));
  CHECK(o == std::vector<std::pair<int, int>>{{0, 0}, {0, 1}, {2, 0}});
}

TEST_CASE("cv_fold_splits follows BEND: test part k, valid part k+1, train the other 8",
          "[dataset]") {
  for (int k = 1; k <= 10; ++k) {
    bend::SplitNames s = bend::cv_fold_splits(k);
    REQUIRE(s.test.size() == 1);
    REQUIRE(s.valid.size() == 1);
    CHECK(s.test[0] == "part" + std::to_string(k));
    CHECK(s.valid[0] == "part" + std::to_string(k == 10 ? 1 : k + 1));
    REQUIRE(s.train.size() == 8);
    std::set<std::string> all(s.train.begin(), s.train.end());
    all.insert(s.test[0]);
    all.insert(s.valid[0]);
    CHECK(all.size() == 10);
    for (int i = 1; i <= 10; ++i) CHECK(all.count("part" + std::to_string(i)) == 1);
  }
  CHECK(bend::cv_fold_splits(3).train ==
        std::vector<std::string>{"part1", "part2", "part5", "part6", "part7", "part8", "part9",
                                 "part10"});
  CHECK(bend::cv_fold_splits(10).train.front() == "part2");
  CHECK(bend::cv_fold_splits(2, 4).train == std::vector<std::string>{"part1", "part4"});
  CHECK_THROWS_WITH(bend::cv_fold_splits(0), Contains("fold 0 is outside 1..10"));
  CHECK_THROWS_WITH(bend::cv_fold_splits(11), Contains("fold 11 is outside 1..10"));
}

TEST_CASE("cv_results_dir gives each cross-validation fold its own directory, out/fold<K>",
          "[dataset]") {
  bend::TrainConfig c;
  c.out_dir = "results/enh";
  CHECK(bend::cv_results_dir(c) == "results/enh");  // no --cv: --out as given
  c.cv = true;
  c.fold = 3;
  CHECK(bend::cv_results_dir(c) == "results/enh/fold3");
  c.out_dir = "results/enh/";
  CHECK(bend::cv_results_dir(c) == "results/enh/fold3");
  c.out_dir = "results/enh/fold3";  // a script that appended the fold itself: not doubled
  CHECK(bend::cv_results_dir(c) == "results/enh/fold3");
  c.out_dir = "fold3";
  CHECK(bend::cv_results_dir(c) == "fold3");
  c.out_dir = "results/fold10";  // another fold's directory is not this fold's
  CHECK(bend::cv_results_dir(c) == "results/fold10/fold3");
  c.fold = 10;
  CHECK(bend::cv_results_dir(c) == "results/fold10");
  c.out_dir = "";  // left to validate_train_config's "--out is required"
  CHECK(bend::cv_results_dir(c).empty());
}

namespace {

bend::Sample sample(int64_t index, int64_t length, int64_t dim, std::vector<int64_t> label_shape,
                    float base) {
  bend::Sample s;
  s.index = index;
  s.length = length;
  s.dim = dim;
  for (int64_t i = 0; i < length * dim; ++i) s.inputs.push_back(base + static_cast<float>(i));
  int64_t n = 1;
  for (int64_t d : label_shape) n *= d;
  for (int64_t i = 0; i < n; ++i) s.labels.push_back(static_cast<float>(i % 3));
  s.label_shape = std::move(label_shape);
  return s;
}

}  // namespace

TEST_CASE("collate zero-pads inputs and pads per-position labels with -100", "[dataset]") {
  std::vector<bend::Sample> s = {sample(7, 2, 2, {2}, 1), sample(3, 3, 2, {3}, 10)};
  bend::Batch b;
  bend::collate(s, b);
  CHECK(b.n == 2);
  CHECK(b.max_len == 3);
  CHECK(b.dim == 2);
  CHECK(b.lengths == std::vector<int64_t>{2, 3});
  CHECK(b.indices == std::vector<int64_t>{7, 3});
  CHECK(b.inputs == std::vector<float>{1, 2, 3, 4, 0, 0, 10, 11, 12, 13, 14, 15});
  CHECK(b.label_shape == std::vector<int64_t>{2, 3});
  CHECK(b.labels == std::vector<float>{0, 1, -100, 0, 1, 2});
}

TEST_CASE("collate keeps fixed-width labels unpadded and pads rank-2 labels along dim 0",
          "[dataset]") {
  bend::Batch b;
  bend::collate({sample(0, 1, 1, {4}, 0), sample(1, 2, 1, {4}, 5)}, b);
  CHECK(b.label_shape == std::vector<int64_t>{2, 4});
  CHECK(b.labels == std::vector<float>{0, 1, 2, 0, 0, 1, 2, 0});
  bend::collate({sample(0, 1, 1, {1, 2}, 0), sample(1, 1, 1, {2, 2}, 0)}, b);
  CHECK(b.label_shape == std::vector<int64_t>{2, 2, 2});
  CHECK(b.labels == std::vector<float>{0, 1, -100, -100, 0, 1, 2, 0});
  bend::collate({}, b);  // buffers are reused; an empty batch clears them
  CHECK(b.n == 0);
  CHECK(b.inputs.empty());
  CHECK(b.labels.empty());
}

TEST_CASE("collate names the BED rows whose dims or label layouts differ", "[dataset]") {
  bend::Batch b;
  CHECK_THROWS_WITH(bend::collate({sample(4, 2, 2, {2}, 0), sample(9, 2, 3, {2}, 0)}, b),
                    Contains("BED row 9 has embedding dim 3 but BED row 4 has 2"));
  CHECK_THROWS_WITH(bend::collate({sample(4, 2, 2, {2}, 0), sample(9, 2, 2, {2, 1}, 0)}, b),
                    Contains("BED row 9 has label shape [2, 1] but BED row 4 has [2]"));
  CHECK_THROWS_WITH(bend::collate({sample(1, 2, 2, {2, 3}, 0), sample(2, 2, 2, {2, 4}, 0)}, b),
                    Contains("BED row 2 has label shape [2, 4] but BED row 1 has [2, 3]"));
}

TEST_CASE("SplitReader refuses a directory without a manifest", "[dataset]") {
  TempDir d;
  CHECK_THROWS_WITH(bend::SplitReader(d.path, {"train"}), Contains(d.path + " has no manifest.json"));
  CHECK_THROWS_WITH(bend::SplitReader(d.path + "/nope", {"train"}), Contains("does not exist"));
}

TEST_CASE("SplitReader refuses an embedding that is not complete", "[dataset]") {
  TempDir d;
  d.write("manifest.json", manifest("running", kTwoShards));
  CHECK_THROWS_WITH(bend::SplitReader(d.path, {"train"}),
                    Contains("embedding in " + d.path + " is not complete") &&
                        Contains("rerun bend embed"));
  d.write("manifest.json", "{\"format\": \"bend-embed-manifest\", \"status\": ");
  CHECK_THROWS_WITH(bend::SplitReader(d.path, {"train"}), Contains("not valid JSON"));
}

TEST_CASE("SplitReader names a split without shards and lists the splits that exist",
          "[dataset]") {
  TempDir d;
  d.write("manifest.json", manifest("complete", kTwoShards));
  d.write("train-00000.tfrecord", "1234567");
  d.write("valid-00000.tfrecord", "12345");
  CHECK_THROWS_WITH(bend::SplitReader(d.path, {"train", "test"}),
                    Contains("no shards for split 'test' (splits there: train, valid)"));
  CHECK_THROWS_WITH(bend::SplitReader(d.path, {"train", "train"}), Contains("given twice"));
  bend::SplitReader r(d.path, {"valid", "train"});  // files only checked for size here
  CHECK(r.n_records() == 5);
  CHECK(r.records_per_shard() == std::vector<int64_t>{2, 3});
  CHECK(r.shards()[0].path == d.path + "/valid-00000.tfrecord");
  CHECK(r.model() == "onehot");
  CHECK(r.dim() == 5);
}

TEST_CASE("SplitReader refuses missing shards and shards of the wrong size", "[dataset]") {
  TempDir d;
  d.write("manifest.json", manifest("complete", kTwoShards));
  d.write("train-00000.tfrecord", "1234567");
  CHECK_THROWS_WITH(bend::SplitReader(d.path, {"valid"}),
                    Contains("shard " + d.path + "/valid-00000.tfrecord listed in manifest.json is missing"));
  d.write("valid-00000.tfrecord", "123");
  CHECK_THROWS_WITH(bend::SplitReader(d.path, {"valid"}),
                    Contains("valid-00000.tfrecord has 3 bytes but manifest.json records 5"));
}

TEST_CASE("SplitReader::read names the shard file and record of a bad record", "[dataset]") {
  TempDir d;
  d.write("manifest.json", manifest("complete", kTwoShards));
  d.write("train-00000.tfrecord", "1234567");  // not TFRecord framing
  d.write("valid-00000.tfrecord", "12345");
  bend::SplitReader r(d.path, {"train"});
  bend::Sample s;
  CHECK_THROWS_WITH(r.read({0, 1}, s), Contains(d.path + "/train-00000.tfrecord: record 0 at byte "
                                                         "offset 0: truncated record header"));
  CHECK_THROWS_WITH(r.read({0, 3}, s), Contains("no record (shard 0, record 3)"));
}
