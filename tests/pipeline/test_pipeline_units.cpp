// Shard planning, length batching, work messages and the manifest journal.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "bend/core/bytes.hpp"
#include "bend/core/files.hpp"
#include "bend/pipeline/embed_worker.hpp"
#include "bend/pipeline/manifest.hpp"
#include "bend/pipeline/plan.hpp"
#include "bend/pipeline/work.hpp"
#include "bend/task/bed.hpp"
#include "../common/temp_dir.hpp"

using namespace bend;

static BedTable make_bed(int n_train, int n_test) {
  BedTable bed;
  bed.path = "mem.bed";
  bed.chrom_names = {"chr1"};
  bed.split_names = {"train", "test"};
  for (int i = 0; i < n_train + n_test; ++i) {
    Region r{};
    r.chrom_id = 0;
    // interleave splits so rows of one split are not contiguous in the file
    r.split_id = (i % 3 == 2 && i / 3 < n_test) ? 1 : 0;
    r.start_bp = 10 * i;
    r.end_bp = 10 * i + 5 + i;
    r.strand = '+';
    bed.rows.push_back(r);
  }
  bed.line_skips = {{0, 1}};  // a header line
  return bed;
}

TEST_CASE("shards hold consecutive rows of one split in BED order, named by split and index") {
  BedTable bed = make_bed(20, 5);
  EmbedParams p;
  p.shard_rows = 4;
  p.flank_bp = 2;
  std::vector<ShardSpec> shards = plan_shards(bed, p);
  int64_t seen = 0;
  for (size_t k = 0; k < shards.size(); ++k) {
    const ShardSpec& s = shards[k];
    CHECK(s.shard_id == static_cast<int32_t>(k));
    CHECK(s.rows.size() <= 4);
    int64_t bp = 0;
    for (size_t i = 0; i < s.rows.size(); ++i) {
      CHECK(bed.rows[s.rows[i]].split_id == s.split_id);
      if (i) CHECK(s.rows[i] > s.rows[i - 1]);
      bp += bed.rows[s.rows[i]].end_bp - bed.rows[s.rows[i]].start_bp + 4;
    }
    CHECK(s.n_bp == bp);
    char want[64];
    std::snprintf(want, sizeof want, "%s-%05d.tfrecord", bed.split_names[s.split_id].c_str(), s.index_in_split);
    CHECK(s.file_name == want);
    seen += static_cast<int64_t>(s.rows.size());
  }
  CHECK(seen == 25);
}

TEST_CASE("a RowList keeps consecutive rows as a run and any other list whole, in order") {
  RowList run;
  for (int32_t r = 7; r < 12; ++r) run.push_back(r);
  CHECK(run.is_run());
  CHECK(std::vector<int32_t>(run.begin(), run.end()) == std::vector<int32_t>{7, 8, 9, 10, 11});
  const std::vector<int32_t> mixed = {3, 4, 5, 9, 10, 2};
  RowList l;
  for (int32_t r : mixed) l.push_back(r);
  CHECK_FALSE(l.is_run());
  REQUIRE(l.size() == mixed.size());
  for (size_t i = 0; i < mixed.size(); ++i) CHECK(l[i] == mixed[i]);
  CHECK(std::vector<int32_t>(l.begin(), l.end()) == mixed);
  CHECK(l.front() == 3);
  CHECK(RowList().empty());
}

TEST_CASE("a split whose rows form one block of the BED is planned as runs of rows") {
  BedTable bed = make_bed(20, 0);  // every row in "train"
  EmbedParams p;
  p.shard_rows = 6;
  std::vector<ShardSpec> shards = plan_shards(bed, p);
  REQUIRE(shards.size() == 4);
  int32_t next = 0;
  for (const ShardSpec& s : shards) {
    CHECK(s.rows.is_run());
    for (int32_t r : s.rows) CHECK(r == next++);
  }
  CHECK(next == 20);
}

TEST_CASE("planning selected splits only, and an unknown split is an error naming the file") {
  BedTable bed = make_bed(10, 3);
  EmbedParams p;
  p.splits = {"test"};
  std::vector<ShardSpec> shards = plan_shards(bed, p);
  REQUIRE(shards.size() == 1);
  CHECK(shards[0].file_name == "test-00000.tfrecord");
  p.splits = {"valid"};
  CHECK_THROWS_WITH(plan_shards(bed, p), Catch::Contains("mem.bed") && Catch::Contains("valid"));
  p.splits = {};
  p.compression = "gzip";
  CHECK(plan_shards(bed, p)[0].file_name == "train-00000.tfrecord.gz");
}

TEST_CASE("length batches respect the token budget, cover every row once, and keep ties in order") {
  std::vector<int64_t> n = {50, 10, 10, 30, 200, 10, 30};
  auto batches = make_length_batches(n, 60);
  std::vector<int> count(n.size(), 0);
  for (const auto& b : batches) {
    int64_t longest = 0;
    for (int32_t pos : b) {
      count[pos]++;
      longest = std::max(longest, n[pos]);
    }
    CHECK((b.size() == 1 || static_cast<int64_t>(b.size()) * longest <= 60));
  }
  for (int c : count) CHECK(c == 1);
  REQUIRE(batches[0].size() == 3);
  CHECK(batches[0] == std::vector<int32_t>{1, 2, 5});  // the three 10s, in BED order
  CHECK(batches.back() == std::vector<int32_t>{4});    // longer than the budget: alone
}

TEST_CASE("work messages round-trip every field, and a truncated message is an error") {
  ShardWork w;
  w.shard_id = 7;
  w.file_name = "valid-00003.tfrecord";
  WorkRow r;
  r.row = 42;
  r.chrom = "chr2";
  r.start_bp = 100;
  r.end_bp = 612;
  r.minus = true;
  r.region = "chr2:100-612(-)";
  r.label.ints = {0, 1, 1};
  r.label.shape = {3};
  w.rows = {r, r};
  w.rows[1].label.is_float = true;
  w.rows[1].label.ints.clear();
  w.rows[1].label.floats = {0.5f, 2.0f};
  w.rows[1].label.shape = {2};
  std::string msg;
  encode_work(w, msg);
  ShardWork back = decode_work(msg);
  CHECK(back.shard_id == 7);
  CHECK(back.file_name == w.file_name);
  REQUIRE(back.rows.size() == 2);
  CHECK(back.rows[0].chrom == "chr2");
  CHECK(back.rows[0].minus);
  CHECK(back.rows[0].label.ints == r.label.ints);
  CHECK(back.rows[1].label.is_float);
  CHECK(back.rows[1].label.floats == std::vector<float>{0.5f, 2.0f});
  CHECK_THROWS_AS(decode_work(msg.substr(0, msg.size() - 3)), Error);
}

TEST_CASE("the journal survives a torn last line and the manifest diff names changed keys") {
  bend_test::TempDir tmp;
  const std::string dir = tmp.path;
  {
    RunManifest m(dir);
    ShardEntry e;
    e.file_name = "train-00000.tfrecord";
    e.split = "train";
    e.n_rows = 3;
    e.file_bytes = 1234;
    e.file_crc32c = 0xdeadbeef;
    for (int i = 0; i < 3; ++i) {
      e.shard_id = i;
      m.append_journal(e);
    }
  }
  {
    std::ofstream j(dir + "/manifest.journal", std::ios::app);
    j << "{\"shard\": 9, \"file\": \"tr";  // killed mid-write
  }
  RunManifest m(dir);
  auto rec = m.recorded_shards(nullptr);
  REQUIRE(rec.size() == 3);
  CHECK(rec.at(2).file_crc32c == 0xdeadbeef);
  CHECK(rec.at(1).file_bytes == 1234);
  nlohmann::json a = {{"dtype", "float32"}, {"flank", 0}};
  nlohmann::json b = {{"dtype", "float16"}, {"flank", 0}};
  auto d = RunManifest::diff_params(a, b);
  REQUIRE(d.size() == 1);
  CHECK(d[0].find("dtype") == 0);
}
