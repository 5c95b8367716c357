// BatchLoader on shards written here, against the values this test wrote: from dim 128 the rows
// of uncompressed float32 shards are copied and CRC-checked in next() (spread over threads),
// below 128 they are checked and transposed on the loader thread. Every batch of a shuffled
// epoch for 1 and 2 ranks, with more shards than the reader keeps mapped and a consumer slow
// enough that finished batches wait in the queue (their rows must outlive the reader's
// unmapping); peek_shape() one batch ahead changes nothing; and a corrupt byte anywhere in a record stops next() with that record's CRC error.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../src/train/batch_loader.hpp"
#include "../common/temp_dir.hpp"
#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/store/example.hpp"
#include "bend/store/tfrecord.hpp"
#include "bend/train/dataset.hpp"

using Catch::Matchers::Contains;
using bend_test::TempDir;

namespace {

constexpr int64_t kLabels = 3;

// What the test wrote, by shard and record.
struct Written {
  int64_t dim = 0;
  std::vector<std::vector<std::vector<float>>> x;    // [shard][record] length * dim values
  std::vector<std::vector<int64_t>> length, index;   // [shard][record]
  std::vector<std::vector<std::vector<float>>> y;    // [shard][record] kLabels multi-hot
  std::vector<std::vector<uint64_t>> offset;         // [shard][record] byte offset of the record
  std::vector<std::vector<std::string>> data;        // [shard][record] serialized Example
  std::vector<std::string> path;                     // [shard]
};

// `n_shards` uncompressed float32 shards of `rows` records each, lengths 3..9, and their manifest.
Written write_embedding(const std::string& dir, int n_shards, int rows, int64_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  Written w;
  w.dim = dim;
  nlohmann::json shards = nlohmann::json::array();
  int64_t next_index = 0;
  for (int s = 0; s < n_shards; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "train-%05d.tfrecord", s);
    w.path.push_back(dir + "/" + name);
    bend::TFRecordWriter out(w.path.back(), bend::Compression::kNone);
    w.x.emplace_back();
    w.y.emplace_back();
    w.length.emplace_back();
    w.index.emplace_back();
    w.offset.emplace_back();
    w.data.emplace_back();
    uint64_t at = 0;
    for (int r = 0; r < rows; ++r) {
      const int64_t len = 3 + static_cast<int64_t>(rng() % 7);
      std::vector<float> x(static_cast<size_t>(len * dim));
      for (float& v : x) v = u(rng);
      bend::EmbeddingRecord rec;
      rec.inputs = reinterpret_cast<const char*>(x.data());
      rec.inputs_bytes = x.size() * sizeof(float);
      rec.length = len;
      rec.dim = dim;
      for (int64_t k = 0; k < kLabels; ++k) rec.outputs_int.push_back(static_cast<int64_t>(rng() % 2));
      rec.outputs_shape = {kLabels};
      rec.index = next_index++;
      rec.region = "chr1:" + std::to_string(rec.index * 10) + "-" + std::to_string(rec.index * 10 + len) + "(+)";
      std::string bytes;
      bend::encode_embedding_example(rec, bytes);
      out.write(bytes);
      w.x.back().push_back(x);
      w.y.back().emplace_back(rec.outputs_int.begin(), rec.outputs_int.end());
      w.length.back().push_back(len);
      w.index.back().push_back(rec.index);
      w.offset.back().push_back(at);
      at += 12 + bytes.size() + 4;
      w.data.back().push_back(bytes);
    }
    out.close();
    shards.push_back({{"shard", s}, {"file", name}, {"split", "train"}, {"rows", rows}, {"records", rows},
                      {"nt", 0}, {"bytes", out.file_bytes()}, {"crc32c", "00000000"}});
  }
  nlohmann::json m = {{"format", "bend-embed-manifest"}, {"version", 1}, {"status", "complete"},
                      {"model", {{"name", "test"}, {"dim", dim}, {"fingerprint", "test:v1"}}},
                      {"splits", {{"train", {{"rows", n_shards * rows}, {"shards", n_shards}}}}},
                      {"planned_shards", n_shards},
                      {"shards", shards}};
  int64_t n_bytes = 0;
  for (const auto& sh : shards) n_bytes += sh["bytes"].get<int64_t>();
  m["totals"] = {{"rows", n_shards * rows}, {"nt", 0}, {"bytes", n_bytes}, {"shards", n_shards}};
  std::ofstream(dir + "/manifest.json") << m.dump(1);
  return w;
}

// A ParallelRows on two std::threads (what at::parallel_for does in bend train).
void two_threads(int64_t n, const std::function<void(int64_t, int64_t)>& body) {
  std::thread t([&] { body(n / 2, n); });
  body(0, n / 2);
  t.join();
}

// Checks one batch against rows order[lo, hi) as written: the head's layout (channels first
// below dim 128), zero padding, lengths, BED rows, labels.
void check_batch(const Written& w, const std::vector<bend::RecordRef>& order, int64_t lo, int64_t hi,
                 const bend::Batch& b) {
  const int64_t n = hi - lo;
  REQUIRE(b.n == n);
  int64_t max_len = 0;
  for (int64_t i = lo; i < hi; ++i) max_len = std::max(max_len, w.length[order[i].shard][order[i].record]);
  REQUIRE(b.max_len == max_len);
  REQUIRE(b.dim == w.dim);
  REQUIRE(b.channels_first == (w.dim < 128));
  REQUIRE(b.inputs.size() == static_cast<size_t>(n * max_len * w.dim));
  REQUIRE(b.label_shape == std::vector<int64_t>{n, kLabels});
  for (int64_t i = 0; i < n; ++i) {
    const bend::RecordRef r = order[lo + i];
    const std::vector<float>& x = w.x[r.shard][r.record];
    const int64_t len = w.length[r.shard][r.record];
    CHECK(b.lengths[i] == len);
    CHECK(b.indices[i] == w.index[r.shard][r.record]);
    for (int64_t k = 0; k < kLabels; ++k) CHECK(b.labels[i * kLabels + k] == w.y[r.shard][r.record][k]);
    int64_t bad = 0;
    for (int64_t l = 0; l < max_len; ++l) {
      for (int64_t d = 0; d < w.dim; ++d) {
        const float want = l < len ? x[l * w.dim + d] : 0.0f;
        const size_t at = b.channels_first ? static_cast<size_t>((i * w.dim + d) * max_len + l)
                                           : static_cast<size_t>((i * max_len + l) * w.dim + d);
        if (b.inputs[at] != want) ++bad;
      }
    }
    CHECK(bad == 0);
  }
}

// Runs a whole epoch through BatchLoader (rank `rank` of `size`) and checks every batch. With
// `peek`, each batch's shape is asked for first (peek_shape, as bend train does one step ahead):
// it must be the shape of the batch next() then gives, and the batches stay the same.
void check_epoch(const Written& w, const std::string& dir, int64_t batch, int rank, int size,
                 bend::ParallelRows parallel, int consumer_ms, bool peek = false) {
  bend::SplitReader reader(dir, {"train"});
  bend::BatchPool pool;
  const std::vector<bend::RecordRef> order = bend::epoch_order(reader.records_per_shard(), 7, 1, 1 << 20);
  bend::BatchLoader loader(reader, order, batch, rank, size, pool, 0, parallel);
  bend::Batch b;
  int64_t got = 0;
  for (;;) {
    if (consumer_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(consumer_ms));
    int64_t len = -1, label_len = -1;
    const bool more = peek ? loader.peek_shape(len, label_len) : true;
    if (peek && !more) CHECK((len == 0 && label_len == 0));
    if (!loader.next(b)) {
      if (peek) CHECK_FALSE(more);
      break;
    }
    REQUIRE(more);
    if (peek) {
      CHECK(len == (b.n > 0 ? b.max_len : 0));
      CHECK(label_len == (b.n > 0 ? kLabels : 0));
    }
    const int64_t end = std::min<int64_t>(static_cast<int64_t>(order.size()), (got + 1) * batch);
    auto slice = bend::rank_slice(got * batch, end, rank, size);
    if (slice.first == slice.second) {
      CHECK(b.n == 0);  // an empty slice (more ranks than rows left)
    } else {
      check_batch(w, order, slice.first, slice.second, b);
    }
    ++got;
  }
  CHECK(got == loader.n_batches());
}

// Flips one byte of `path` at `at`.
void flip(const std::string& path, uint64_t at) {
  std::string bytes = bend_test::slurp(path);
  REQUIRE(at < bytes.size());
  bytes[at] = static_cast<char>(bytes[at] ^ 0x20);
  bend_test::spit(path, bytes);
}

// Reads batches until one fails; returns the error and how many came before it.
std::string first_error(const std::string& dir, const std::vector<bend::RecordRef>& order, int64_t batch,
                        int64_t& delivered) {
  bend::SplitReader reader(dir, {"train"});
  bend::BatchPool pool;
  bend::BatchLoader loader(reader, order, batch, 0, 1, pool, 0, two_threads);
  bend::Batch b;
  delivered = 0;
  try {
    while (loader.next(b)) ++delivered;
  } catch (const bend::Error& e) {
    return e.what();
  }
  return "";
}

// File offset of a value in the middle of record (shard, record)'s inputs.
uint64_t mid_value(const Written& w, int shard, int record) {
  const std::vector<float>& x = w.x[shard][record];
  const std::string values(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float));
  const size_t at = w.data[shard][record].find(values);
  REQUIRE(at != std::string::npos);
  return w.offset[shard][record] + 12 + at + values.size() / 2;
}

std::string crc_error(const Written& w, int shard, int record) {
  return w.path[shard] + ": record " + std::to_string(record) + " at byte offset " +
         std::to_string(w.offset[shard][record]) + ": data crc32c mismatch";
}

}  // namespace

TEST_CASE("BatchLoader gives every batch as written, wide rows copied on next(), 1 and 2 ranks") {
  TempDir d;
  // 140 shards: more than the 128 the reader keeps mapped. With a slow consumer, two queued
  // batches and the one being read hold up to 180 rows (of up to 140 shards), so the reader
  // unmaps shards that rows of queued batches still point into.
  const Written w = write_embedding(d.path, 140, 2, 128, 11);
  check_epoch(w, d.path, 60, 0, 1, two_threads, 20);
  for (int size : {1, 2}) {
    for (int rank = 0; rank < size; ++rank) {
      check_epoch(w, d.path, 16, rank, size, two_threads, 2);
      check_epoch(w, d.path, 7, rank, size, {}, 0);
      check_epoch(w, d.path, 16, rank, size, two_threads, 2, /*peek=*/true);
    }
  }
}

TEST_CASE("BatchLoader keeps working when queued batches hold more shards than 1024 mapped files") {
  TempDir d;
  // one record per shard (`bend embed --shard-rows 1`) and large batches: the rows of the queued
  // batches keep up to ~1,300 shards mapped at once, beyond the reader's 128
  const Written w = write_embedding(d.path, 1300, 1, 128, 16);
  check_epoch(w, d.path, 430, 0, 1, two_threads, 30);
}

TEST_CASE("BatchLoader gives every batch as written below dim 128 (channels first)") {
  TempDir d;
  const Written w = write_embedding(d.path, 9, 5, 16, 12);
  check_epoch(w, d.path, 8, 0, 1, two_threads, 1);
  check_epoch(w, d.path, 8, 1, 2, {}, 0);
  check_epoch(w, d.path, 8, 1, 2, two_threads, 1, /*peek=*/true);
  check_epoch(w, d.path, 2, 2, 3, {}, 0, /*peek=*/true);  // rank 2's slices are empty: shape zeros
}

TEST_CASE("a corrupt byte anywhere in a wide record stops next() with that record's CRC error") {
  TempDir d;
  const Written w = write_embedding(d.path, 4, 6, 128, 13);
  const std::vector<bend::RecordRef> order = bend::sequential_order({6, 6, 6, 6});  // batch k = shard k / 2
  const std::string pristine = bend_test::slurp(w.path[2]);
  const uint64_t start = w.offset[2][3] + 12;  // record 3 of shard 2 (global batch 2 of 6 rows)
  struct Where {
    const char* what;
    uint64_t at;
  };
  const Where where[] = {{"first byte (the Example's tag)", start},
                         {"a value in the middle", mid_value(w, 2, 3)},
                         {"the last byte", start + w.data[2][3].size() - 1}};
  for (const Where& c : where) {
    SECTION(c.what) {
      flip(w.path[2], c.at);
      int64_t delivered = -1;
      const std::string err = first_error(d.path, order, 6, delivered);
      CHECK_THAT(err, Contains(crc_error(w, 2, 3)));
      CHECK(delivered == 2);  // the batches before it arrive whole
      bend_test::spit(w.path[2], pristine);
    }
  }
  SECTION("two corrupt records in one batch: the first in batch order is named") {
    flip(w.path[1], mid_value(w, 1, 4));
    flip(w.path[1], mid_value(w, 1, 1));
    int64_t delivered = -1;
    CHECK_THAT(first_error(d.path, order, 12, delivered), Contains(crc_error(w, 1, 1)));
    CHECK(delivered == 0);
  }
}

TEST_CASE("a corrupt byte in a narrow record is caught on the loader thread with the same error") {
  TempDir d;
  const Written w = write_embedding(d.path, 2, 4, 16, 14);
  flip(w.path[1], w.offset[1][2] + 12 + w.data[1][2].size() / 2);
  int64_t delivered = -1;
  CHECK_THAT(first_error(d.path, bend::sequential_order({4, 4}), 4, delivered), Contains(crc_error(w, 1, 2)));
  CHECK(delivered == 1);
}

TEST_CASE("UncheckedRecord::copy_and_crc equals crc32c and memcpy over any range") {
  std::mt19937 rng(15);
  std::string data(300000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  bend::UncheckedRecord r;
  r.data = data.data();
  r.n_bytes = data.size();
  r.stored_crc = bend::crc32c(data.data(), data.size());
  for (size_t begin : {size_t(0), size_t(1), size_t(65535), size_t(65536), size_t(70001)}) {
    for (size_t n : {size_t(0), size_t(4), size_t(65536), size_t(131073), data.size() - 70001}) {
      std::vector<char> out(n + 1, 'z');
      CHECK(r.copy_and_crc(data.data() + begin, n, out.data()) == r.stored_crc);
      CHECK(std::memcmp(out.data(), data.data() + begin, n) == 0);
      CHECK(out[n] == 'z');
    }
  }
  r.stored_crc ^= 1;
  CHECK_THROWS_WITH(r.check(), Contains("data crc32c mismatch"));
}
