// Token-level records back to per-nucleotide rows (bend/train/upsample.hpp): the in-place
// expansion equals a plain copy loop for random spans, and bad spans are refused.
#include <catch2/catch.hpp>

#include <random>

#include "bend/core/error.hpp"
#include "bend/train/dataset.hpp"
#include "bend/train/upsample.hpp"

namespace {

// The obvious out-of-place reference: row i written spans[2i+1] times, one after another.
std::vector<float> naive_upsample(const std::vector<float>& rows, const std::vector<int64_t>& spans,
                                  int64_t dim) {
  std::vector<float> out;
  for (size_t i = 0; 2 * i < spans.size(); ++i) {
    for (int64_t k = 0; k < spans[2 * i + 1]; ++k) {
      out.insert(out.end(), rows.begin() + long(i * dim), rows.begin() + long((i + 1) * dim));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("upsampling token-level rows in place equals repeating each row over its span") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t n = std::uniform_int_distribution<int64_t>(0, 40)(rng);
    const int64_t dim = std::uniform_int_distribution<int64_t>(1, 9)(rng);
    std::vector<int64_t> spans;
    int64_t start = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t len = trial % 5 == 0 ? 1 : std::uniform_int_distribution<int64_t>(1, 12)(rng);
      spans.push_back(start);
      spans.push_back(len);
      start += len;
    }
    bend::Sample s;
    s.length = n;
    s.dim = dim;
    for (int64_t i = 0; i < n * dim; ++i) s.inputs.push_back(static_cast<float>(rng()) / 7.0f);
    const std::vector<float> want = naive_upsample(s.inputs, spans, dim);
    bend::upsample_token_level(spans, s);
    CHECK(s.length == start);
    CHECK(s.inputs == want);
  }
}

TEST_CASE("upsampling refuses spans that are not contiguous, empty or miscounted") {
  bend::Sample s;
  s.length = 2;
  s.dim = 1;
  s.inputs = {1.0f, 2.0f};
  CHECK_THROWS_WITH(bend::upsample_token_level({0, 3, 4, 1}, s),
                    Catch::Contains("vector 1 covers (start 4, length 1)"));
  CHECK_THROWS_WITH(bend::upsample_token_level({0, 3, 3, 0}, s), Catch::Contains("length >= 1"));
  CHECK_THROWS_WITH(bend::upsample_token_level({0, 3}, s), Catch::Contains("2 per vector"));
  std::vector<float> three = {1, 2, 3};
  CHECK_THROWS_WITH(bend::upsample_token_rows({0, 1, 1, 1}, 2, 1, three),
                    Catch::Contains("3 values are not [2 vectors, dim 1]"));
}
