// HeadBatchBuilder (the training loader's collate) against collate() and a plain transposing loop
// written here: same batch, inputs [n, dim, max_len] below dim 128 and collate()'s own
// [n, max_len, dim] from 128, zero padding, borrowed inputs, same errors; and a rank's slice padded
// to the whole batch's longest row (pad_batch_to, GlobalPadding) equals those rows of collate().
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "../../src/train/batch_loader.hpp"
#include "../../src/train/head_batch.hpp"
#include "bend/core/error.hpp"
#include "bend/train/dataset.hpp"

namespace {

bend::Sample make_sample(std::mt19937& rng, int64_t index, int64_t length, int64_t dim,
                         std::vector<int64_t> label_shape) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  bend::Sample s;
  s.index = index;
  s.length = length;
  s.dim = dim;
  s.inputs.resize(static_cast<size_t>(length * dim));
  for (float& v : s.inputs) v = u(rng);
  int64_t n_labels = 1;
  for (int64_t d : label_shape) n_labels *= d;
  s.labels.resize(static_cast<size_t>(n_labels));
  for (float& v : s.labels) v = static_cast<float>(rng() % 5);
  s.label_shape = std::move(label_shape);
  return s;
}

// What the builder must give: collate()'s batch with inputs [n, max_len, dim] moved to
// [n, dim, max_len] by index arithmetic.
std::vector<float> reference_channels_first(const bend::Batch& b) {
  std::vector<float> out(b.inputs.size());
  for (int64_t i = 0; i < b.n; ++i) {
    for (int64_t l = 0; l < b.max_len; ++l) {
      for (int64_t d = 0; d < b.dim; ++d) {
        out[static_cast<size_t>((i * b.dim + d) * b.max_len + l)] =
            b.inputs[static_cast<size_t>((i * b.max_len + l) * b.dim + d)];
      }
    }
  }
  return out;
}

void build(bend::HeadBatchBuilder& builder, const std::vector<bend::Sample>& samples, bend::Batch& out) {
  builder.begin(static_cast<int64_t>(samples.size()), out);
  for (const bend::Sample& s : samples) builder.add(s);
  builder.finish();
}

void check_same_as_collate(const std::vector<bend::Sample>& samples, bend::HeadBatchBuilder& builder,
                           bend::Batch& got) {
  bend::Batch want;
  bend::collate(samples, want);
  build(builder, samples, got);
  CHECK_FALSE(want.channels_first);
  const bool cf = !samples.empty() && samples[0].dim < 128;  // the layout rule, restated
  CHECK(got.channels_first == cf);
  CHECK(got.n == want.n);
  CHECK(got.max_len == want.max_len);
  CHECK(got.dim == want.dim);
  CHECK(got.lengths == want.lengths);
  CHECK(got.indices == want.indices);
  CHECK(got.label_shape == want.label_shape);
  CHECK(got.labels == want.labels);
  CHECK(got.inputs == (cf ? reference_channels_first(want) : want.inputs));
}

// The same samples with their inputs borrowed (as SplitReader::read(.., borrow=true) gives
// them): the float32 bytes at an odd address in `bytes`, `inputs` left empty.
std::vector<bend::Sample> borrowed(const std::vector<bend::Sample>& samples, std::vector<std::string>& bytes) {
  std::vector<bend::Sample> out = samples;
  bytes.assign(samples.size(), std::string());
  for (size_t i = 0; i < samples.size(); ++i) {
    bytes[i] = "x" + std::string(reinterpret_cast<const char*>(samples[i].inputs.data()),
                                 samples[i].inputs.size() * sizeof(float));
    out[i].inputs.clear();
    out[i].borrowed_f32 = bytes[i].data() + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("transpose_into writes [dim, stride] with zero padding") {
  std::mt19937 rng(7);
  for (int64_t dim : {1, 3, 4, 5, 7, 17, 64, 256}) {
    for (int64_t len : {1, 3, 4, 13, 512, 515, 1030}) {
      const int64_t stride = len + (len % 3);
      bend::Sample s = make_sample(rng, 0, len, dim, {1});
      std::vector<float> dst(static_cast<size_t>(dim * stride), 99.0f);
      bend::transpose_into(s.inputs.data(), len, dim, stride, dst.data());
      bool ok = true;
      for (int64_t d = 0; d < dim; ++d) {
        for (int64_t l = 0; l < stride; ++l) {
          const float want = l < len ? s.inputs[static_cast<size_t>(l * dim + d)] : 0.0f;
          ok = ok && dst[static_cast<size_t>(d * stride + l)] == want;
        }
      }
      INFO("dim " << dim << " len " << len << " stride " << stride);
      CHECK(ok);
    }
  }
}

TEST_CASE("HeadBatchBuilder gives collate()'s batch, channels first") {
  std::mt19937 rng(11);
  bend::HeadBatchBuilder builder;
  bend::Batch got;
  SECTION("equal lengths, per-row label vectors") {
    std::vector<bend::Sample> samples;
    for (int i = 0; i < 6; ++i) samples.push_back(make_sample(rng, 100 + i, 512, 5, {6}));
    check_same_as_collate(samples, builder, got);
  }
  SECTION("growing lengths move the rows already written; labels padded with -100") {
    std::vector<bend::Sample> samples;
    const int64_t lengths[] = {3, 9, 9, 2, 30, 31, 1};
    for (int i = 0; i < 7; ++i) samples.push_back(make_sample(rng, i, lengths[i], 7, {lengths[i]}));
    check_same_as_collate(samples, builder, got);
  }
  SECTION("reused buffers: a batch of long rows, then one of short rows") {
    std::vector<bend::Sample> big, small;
    for (int i = 0; i < 4; ++i) big.push_back(make_sample(rng, i, 40 + i, 17, {2, 3}));
    for (int i = 0; i < 5; ++i) small.push_back(make_sample(rng, i, 6 - i, 17, {2, 3}));
    check_same_as_collate(big, builder, got);
    check_same_as_collate(small, builder, got);
    check_same_as_collate(big, builder, got);
  }
  SECTION("an empty batch") {
    check_same_as_collate({}, builder, got);
    CHECK(got.inputs.empty());
  }
}

TEST_CASE("HeadBatchBuilder keeps BEND's [n, max_len, dim] layout from dim 128") {
  std::mt19937 rng(12);
  bend::HeadBatchBuilder builder;
  bend::Batch got;
  for (int64_t dim : {127, 128, 256}) {
    INFO("dim " << dim);
    std::vector<bend::Sample> samples;
    const int64_t lengths[] = {3, 9, 9, 2, 30, 31, 1};
    for (int i = 0; i < 7; ++i) samples.push_back(make_sample(rng, i, lengths[i], dim, {lengths[i]}));
    check_same_as_collate(samples, builder, got);  // growing lengths: rows moved, zero padding
    CHECK(got.channels_first == (dim < 128));
    std::vector<bend::Sample> equal;
    for (int i = 0; i < 3; ++i) equal.push_back(make_sample(rng, i, 16, dim, {6}));
    check_same_as_collate(equal, builder, got);  // reused buffers, shorter rows
  }
}

TEST_CASE("HeadBatchBuilder copies borrowed float32 inputs from unaligned bytes") {
  std::mt19937 rng(13);
  bend::HeadBatchBuilder builder;
  for (int64_t dim : {5, 256}) {
    INFO("dim " << dim);
    std::vector<bend::Sample> samples;
    const int64_t lengths[] = {4, 11, 7};
    for (int i = 0; i < 3; ++i) samples.push_back(make_sample(rng, i, lengths[i], dim, {lengths[i]}));
    std::vector<std::string> bytes;
    bend::Batch from_values, from_bytes;
    build(builder, samples, from_values);
    build(builder, borrowed(samples, bytes), from_bytes);
    CHECK(from_bytes.channels_first == from_values.channels_first);
    CHECK(from_bytes.inputs == from_values.inputs);
    CHECK(from_bytes.labels == from_values.labels);
    bend::Batch want;
    bend::collate(samples, want);
    CHECK(from_values.inputs == (dim < 128 ? reference_channels_first(want) : want.inputs));
  }
}

TEST_CASE("HeadBatchBuilder rejects what collate() rejects") {
  std::mt19937 rng(3);
  bend::HeadBatchBuilder builder;
  bend::Batch b;
  builder.begin(3, b);
  builder.add(make_sample(rng, 10, 8, 4, {8}));
  SECTION("another dim") {
    CHECK_THROWS_WITH(builder.add(make_sample(rng, 11, 8, 5, {8})),
                      Catch::Contains("BED row 11 has embedding dim 5 but BED row 10 has 4"));
  }
  SECTION("another label layout") {
    CHECK_THROWS_WITH(builder.add(make_sample(rng, 12, 8, 4, {8, 2})), Catch::Contains("label shape"));
  }
  SECTION("too many or too few samples") {
    builder.add(make_sample(rng, 11, 8, 4, {8}));
    CHECK_THROWS_WITH(builder.finish(), Catch::Contains("2 of the batch's 3 samples"));
    builder.add(make_sample(rng, 12, 8, 4, {8}));
    CHECK_THROWS_WITH(builder.add(make_sample(rng, 13, 8, 4, {8})), Catch::Contains("more than the 3"));
  }
}

namespace {

// Rows [begin, end) of collate()'s batch of every sample: what a rank holding those rows must
// have once padded to the whole batch's longest row and label.
bend::Batch rows_of(const bend::Batch& all, int64_t begin, int64_t end) {
  bend::Batch b = all;
  b.n = end - begin;
  const int64_t in_row = all.max_len * all.dim, lab_row = static_cast<int64_t>(all.labels.size()) / all.n;
  b.inputs.assign(all.inputs.begin() + begin * in_row, all.inputs.begin() + end * in_row);
  b.labels.assign(all.labels.begin() + begin * lab_row, all.labels.begin() + end * lab_row);
  b.lengths.assign(all.lengths.begin() + begin, all.lengths.begin() + end);
  b.indices.assign(all.indices.begin() + begin, all.indices.begin() + end);
  b.label_shape[0] = b.n;
  return b;
}

}  // namespace

TEST_CASE("pad_batch_to: a slice padded to the whole batch's longest row is those rows of its collate()") {
  std::mt19937 rng(21);
  bend::HeadBatchBuilder builder;
  for (int64_t dim : {5, 256}) {
    for (int label_rank : {1, 2}) {
      INFO("dim " << dim << " label rank " << label_rank);
      std::vector<bend::Sample> samples;
      const int64_t lengths[] = {12, 3, 40, 7, 9, 40, 2, 25};
      for (int i = 0; i < 8; ++i) {
        std::vector<int64_t> shape{lengths[i]};
        if (label_rank == 2) shape.push_back(3);
        samples.push_back(make_sample(rng, i, lengths[i], dim, shape));
      }
      bend::Batch all;
      bend::collate(samples, all);
      for (int64_t begin : {0, 3, 6}) {
        const int64_t end = begin + 2;  // slices of 2 rows whose longest is shorter than 40
        std::vector<bend::Sample> slice(samples.begin() + begin, samples.begin() + end);
        bend::Batch got;
        build(builder, slice, got);
        CHECK(got.max_len < all.max_len);
        bend::pad_batch_to(got, all.max_len, all.label_shape[1]);
        const bend::Batch want = rows_of(all, begin, end);
        CHECK(got.max_len == want.max_len);
        CHECK(got.label_shape == want.label_shape);
        CHECK(got.labels == want.labels);
        CHECK(got.lengths == want.lengths);
        CHECK(got.inputs == (got.channels_first ? reference_channels_first(want) : want.inputs));
      }
    }
  }
  SECTION("shorter than the batch's own: refused; empty or scalar labels: left alone") {
    bend::Batch b;
    build(builder, {make_sample(rng, 1, 9, 5, {9})}, b);
    CHECK_THROWS_WITH(bend::pad_batch_to(b, 8, 9), Catch::Contains("cannot pad"));
    CHECK_THROWS_WITH(bend::pad_batch_to(b, 9, 8), Catch::Contains("cannot pad"));
    bend::Batch s;
    build(builder, {make_sample(rng, 2, 4, 5, {})}, s);  // one label per row: label_shape [n]
    bend::pad_batch_to(s, 6, 0);
    CHECK(s.max_len == 6);
    CHECK(s.label_shape == std::vector<int64_t>{1});
    CHECK(s.labels.size() == 1);
    bend::Batch e;
    build(builder, {}, e);
    bend::pad_batch_to(e, 6, 6);
    CHECK(e.n == 0);
    CHECK(e.inputs.empty());
  }
}

TEST_CASE("GlobalPadding: every rank's slice padded to the global batch's longest row") {
  std::mt19937 rng(22);
  const int64_t lengths[] = {5, 17, 3, 8, 11, 4, 2};
  std::vector<bend::Sample> samples;
  for (int i = 0; i < 7; ++i) samples.push_back(make_sample(rng, i, lengths[i], 5, {lengths[i]}));
  bend::Batch all;
  bend::collate(samples, all);
  for (int size : {1, 2, 3, 8}) {
    INFO(size << " ranks");
    // every rank puts its slice's shape into its slots; the sum an allreduce would give
    std::vector<bend::Batch> slices(static_cast<size_t>(size));
    bend::HeadBatchBuilder builder;
    const int n_values = bend::GlobalPadding(0, size).n_values();
    CHECK(n_values == (size > 1 ? 2 * size : 0));
    std::vector<double> sum(static_cast<size_t>(n_values), 0.0), mine(static_cast<size_t>(n_values), -1.0);
    for (int r = 0; r < size; ++r) {
      auto s = bend::rank_slice(0, 7, r, size);
      bend::Batch& b = slices[static_cast<size_t>(r)];
      build(builder, std::vector<bend::Sample>(samples.begin() + s.first, samples.begin() + s.second), b);
      bend::GlobalPadding(r, size).put(b.n > 0 ? b.max_len : 0, b.n > 0 ? b.label_shape[1] : 0, mine.data());
      for (int k = 0; k < n_values; ++k) sum[static_cast<size_t>(k)] += mine[static_cast<size_t>(k)];
    }
    for (int r = 0; r < size; ++r) {
      bend::GlobalPadding padding(r, size);
      padding.take(sum.data());
      bend::Batch& b = slices[static_cast<size_t>(r)];
      padding.pad(b);
      auto s = bend::rank_slice(0, 7, r, size);
      if (s.first == s.second) {
        CHECK(b.n == 0);
        continue;
      }
      const bend::Batch want = rows_of(all, s.first, s.second);
      CHECK(b.max_len == 17);
      CHECK(b.label_shape == want.label_shape);
      CHECK(b.labels == want.labels);
      CHECK(b.inputs == reference_channels_first(want));
    }
  }
}
