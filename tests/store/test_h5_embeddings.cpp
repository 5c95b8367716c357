// HDF5 embedding files on one rank: table planning (fixed vs ragged labels, checksums of the
// stored bytes), write/read round trips in any row order, completeness, killed and resumed
// files equal to files written in one go, bend genome's coordinates and uneven shards, token spans,
// verification that names the corrupt shard, and clear refusals of files that are not bend's.
// Multi-rank writing and h5py as the independent reader are in tests/app/test_embed_hdf5.py.
#include <mpi.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "../common/temp_dir.hpp"
#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/store/h5_embeddings.hpp"

namespace {

using bend::H5EmbeddingReader;
using bend::H5EmbeddingWriter;
using bend::H5RowTables;
using bend::H5SplitLayout;
using bend_test::TempDir;

// MPI for the MPI-IO driver: initialised once per test process, finalised at exit.
struct MpiSession {
  MpiSession() {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  }
  ~MpiSession() {
    MPI_Comm_free(&comm);
    MPI_Finalize();
  }
  MPI_Comm comm;
};

const void* world() {
  static MpiSession s;
  return &s.comm;
}

// Rows of lengths 3, 1, 4, 2 (dim 2); labels of the given shapes, values 0, 1, 2, ...
H5SplitLayout layout_for(const std::vector<std::vector<int64_t>>& label_shapes, H5RowTables& t) {
  H5SplitLayout L;
  L.split = "train";
  L.dim = 2;
  L.shard_rows = 2;
  L.offsets = {0, 3, 4, 8, 10};
  L.model = "onehot";
  L.params_json = "{\"a\":1}";
  t = H5RowTables();
  t.index = {10, 11, 15, 20};
  t.regions = {"chr1:0-3(+)", "chr1:5-6(.)", "chr2:100-104(-)", "chrX:1-3(+)"};
  t.label_shapes = label_shapes;
  int64_t v = 0;
  for (const auto& s : label_shapes) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    for (int64_t k = 0; k < n; ++k) t.label_ints.push_back(v++);
  }
  bend::h5_plan_tables(t, L);
  return L;
}

std::vector<float> row_values(int64_t row, int64_t length) {
  std::vector<float> v;
  for (int64_t i = 0; i < length * 2; ++i) v.push_back(static_cast<float>(row * 100 + i));
  return v;
}

void write_rows(H5EmbeddingWriter& w, const std::vector<int>& order) {
  const auto& off = w.layout().offsets;
  for (int r : order) {
    std::vector<float> v = row_values(r, off[r + 1] - off[r]);
    w.write_positions(off[r], off[r + 1] - off[r], v.data());
  }
}

std::vector<uint32_t> shard_crcs(const H5SplitLayout& L) {
  std::vector<uint32_t> out;
  for (int64_t k = 0; k < L.n_shards(); ++k) {
    std::vector<float> bytes;
    for (int64_t r = k * L.shard_rows; r < std::min(L.n_rows(), (k + 1) * L.shard_rows); ++r) {
      std::vector<float> v = row_values(r, L.offsets[r + 1] - L.offsets[r]);
      bytes.insert(bytes.end(), v.begin(), v.end());
    }
    out.push_back(bend::crc32c(bytes.data(), bytes.size() * 4));
  }
  return out;
}

}  // namespace

TEST_CASE("plan_tables keeps one shape fixed and makes differing shapes ragged") {
  H5RowTables t;
  H5SplitLayout fixed = layout_for({{3}, {3}, {3}, {3}}, t);
  CHECK_FALSE(fixed.labels_ragged);
  CHECK(fixed.label_row_shape == std::vector<int64_t>{3});
  CHECK(fixed.region_width == 15);  // "chr2:100-104(-)"
  CHECK(fixed.crc_labels == bend::crc32c(t.label_ints.data(), t.label_ints.size() * 8));
  CHECK(fixed.crc_offsets == bend::crc32c(fixed.offsets.data(), fixed.offsets.size() * 8));
  H5SplitLayout ragged = layout_for({{3}, {1}, {4}, {0}}, t);
  CHECK(ragged.labels_ragged);
  CHECK(ragged.n_label_values == 8);
  CHECK(ragged.label_rank == 1);
  std::vector<int64_t> label_offsets{0, 3, 4, 8, 8};
  CHECK(ragged.crc_label_offsets == bend::crc32c(label_offsets.data(), label_offsets.size() * 8));
  CHECK_THROWS_WITH(layout_for({{3}, {1, 1}, {4}, {0}}, t),
                    Catch::Contains("row 1 have 2 dimensions"));
}

TEST_CASE("rows written in any order read back, and only a finished file is complete") {
  TempDir dir;
  const std::string path = dir.file("train.h5");
  H5RowTables t;
  H5SplitLayout L = layout_for({{3}, {1}, {4}, {0}}, t);
  {
    auto w = H5EmbeddingWriter::create(path, world(), L);
    w->write_tables(t);
    w->flush();
    write_rows(*w, {2, 0, 3});
    w->close();
  }
  CHECK_THROWS_WITH(H5EmbeddingReader(path, true), Catch::Contains("is not complete"));
  {
    auto w = H5EmbeddingWriter::reopen(path, world(), L);
    write_rows(*w, {1});
    w->finish(shard_crcs(L), true);
  }
  H5EmbeddingReader r(path, true);
  CHECK(r.complete());
  CHECK(r.layout().offsets == L.offsets);
  CHECK(r.layout().params_json == "{\"a\":1}");
  std::string raw;
  bend::H5Row row;
  for (int64_t i = 0; i < 4; ++i) {
    r.read_row_embedding(i, raw);
    std::vector<float> want = row_values(i, L.offsets[i + 1] - L.offsets[i]);
    REQUIRE(raw.size() == want.size() * 4);
    CHECK(std::memcmp(raw.data(), want.data(), raw.size()) == 0);
    r.read_row(i, row);
    CHECK(row.index == t.index[i]);
    CHECK(row.region == t.regions[i]);
    CHECK(row.label_shape == t.label_shapes[i]);
  }
  r.read_row(2, row);
  CHECK(row.label_ints == std::vector<int64_t>{4, 5, 6, 7});
  CHECK_NOTHROW(r.verify());
}

TEST_CASE("verify names the shard whose bytes changed") {
  TempDir dir;
  const std::string path = dir.file("valid.h5");
  H5RowTables t;
  H5SplitLayout L = layout_for({{2}, {2}, {2}, {2}}, t);
  {
    auto w = H5EmbeddingWriter::create(path, world(), L);
    w->write_tables(t);
    w->flush();
    write_rows(*w, {0, 1, 2, 3});
    std::vector<float> bad(2, -1.0f);
    w->write_positions(9, 1, bad.data());  // the last position: row 3, shard 1
    w->finish(shard_crcs(L), true);
  }
  H5EmbeddingReader r(path, true);
  CHECK_THROWS_WITH(r.verify(),
                    Catch::Contains("shard 1 (rows 2..4") && Catch::Contains("corrupt"));
}

TEST_CASE("files that are not bend embeddings are refused with their path") {
  TempDir dir;
  const std::string text = dir.file("x.h5", "not hdf5 at all");
  CHECK_THROWS_WITH(H5EmbeddingReader(text, false),
                    Catch::Contains(text + ": cannot open as HDF5"));
  CHECK_THROWS_WITH(H5EmbeddingReader(dir.file("missing.h5"), false),
                    Catch::Contains("missing.h5"));
}

TEST_CASE("a file killed mid-write and reopened ends with the bytes of one written in one go") {
  TempDir dir;
  H5RowTables t;
  H5SplitLayout L = layout_for({{2}, {2}, {2}, {2}}, t);
  const std::string one = dir.file("one.h5"), two = dir.file("two.h5");
  {
    auto w = H5EmbeddingWriter::create(one, nullptr, L);  // POSIX driver, as one rank writes
    w->write_tables(t);
    w->flush();
    write_rows(*w, {0, 1, 2, 3});
    w->finish(shard_crcs(L), true);
  }
  pid_t child = ::fork();  // a writer killed after some rows: the file is never closed
  REQUIRE(child >= 0);
  if (child == 0) {
    auto w = H5EmbeddingWriter::create(two, nullptr, L);
    w->write_tables(t);
    w->flush();
    write_rows(*w, {3, 0});
    w->sync();
    ::_exit(0);
  }
  int status = 1;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(status == 0);
  CHECK_THROWS_WITH(H5EmbeddingReader(two, true), Catch::Contains("is not complete"));
  {
    auto w = H5EmbeddingWriter::reopen(two, nullptr, L);
    write_rows(*w, {2, 1});
    w->finish(shard_crcs(L), true);
  }
  CHECK(bend_test::slurp(one) == bend_test::slurp(two));
}

TEST_CASE(
    "genome coordinates, uneven shards and token spans round trip, and verify checks the spans") {
  TempDir dir;
  const std::string path = dir.file("genome.h5");
  H5RowTables t;
  H5SplitLayout L = layout_for({{0}, {0}, {0}, {0}}, t);
  L.command = "genome";
  L.shard_rows = 3;
  L.shard_offsets = {0, 1, 4};  // shard 0: row 0; shard 1: rows 1-3
  L.token_spans = true;
  t.chroms = {"chr1", "chr1", "chr2", "chrX"};
  t.start_bp = {0, 5, 100, 1};
  t.end_bp = {3, 6, 104, 3};
  t.bin_bp = {3, 1, 4, 2};
  bend::h5_plan_tables(t, L);
  REQUIRE(L.coords);
  REQUIRE(L.n_shards() == 2);
  CHECK(L.shard_first_row(1) == 1);
  CHECK(L.shard_end_row(1) == 4);
  // Row r's vector i covers 2 bp (the last one what is left): spans (2i, 2) of a 2n-bp row.
  std::vector<std::vector<int64_t>> spans(4);
  std::vector<uint32_t> crcs;
  {
    auto w = H5EmbeddingWriter::create(path, world(), L);
    w->write_tables(t);
    w->flush();
    for (int r = 0; r < 4; ++r) {
      const int64_t n = L.offsets[r + 1] - L.offsets[r];
      for (int64_t i = 0; i < n; ++i) spans[r].insert(spans[r].end(), {2 * i, 2});
      w->write_spans(L.offsets[r], n, spans[r].data());
    }
    write_rows(*w, {0, 1, 2, 3});
    for (int64_t k = 0; k < 2; ++k) {  // embedding bytes of the shard, then its spans
      std::vector<float> emb;
      std::vector<int64_t> sp;
      for (int64_t r = L.shard_first_row(k); r < L.shard_end_row(k); ++r) {
        std::vector<float> v = row_values(r, L.offsets[r + 1] - L.offsets[r]);
        emb.insert(emb.end(), v.begin(), v.end());
        sp.insert(sp.end(), spans[r].begin(), spans[r].end());
      }
      crcs.push_back(
          bend::crc32c_extend(bend::crc32c(emb.data(), emb.size() * 4), sp.data(), sp.size() * 8));
    }
    w->finish(crcs, true);
  }
  {
    H5EmbeddingReader r(path, true);
    CHECK(r.layout().command == "genome");
    CHECK(r.layout().shard_offsets == L.shard_offsets);
    CHECK(r.layout().token_spans);
    bend::H5Row row;
    r.read_row(2, row);
    CHECK(row.chrom == "chr2");
    CHECK(row.start_bp == 100);
    CHECK(row.end_bp == 104);
    CHECK(row.bin_bp == 4);
    std::vector<int64_t> got;
    r.read_row_spans(2, got);
    CHECK(got == spans[2]);
    CHECK_NOTHROW(r.verify());
  }
  {
    auto w = H5EmbeddingWriter::reopen(path, world(), L);
    const int64_t bad[2] = {0, 3};
    w->write_spans(L.offsets[3], 1, bad);  // row 3's first span: shard 1
    w->finish(crcs, true);
  }
  H5EmbeddingReader r(path, true);
  CHECK_THROWS_WITH(r.verify(),
                    Catch::Contains("shard 1 (rows 1..4") && Catch::Contains("corrupt"));
}
