// Window geometry, score parsing, distances and pair batching of bend variants.
#include <catch2/catch.hpp>
#include <cmath>

#include "bend/core/error.hpp"
#include "bend/variants/variant_score.hpp"
#include "bend/variants/variant_worker.hpp"

TEST_CASE("geometry: 256 bp each side, causal 512 bp left with the variant's own vector or BEND's", "[variants]") {
  bend::VariantGeometry g = bend::variant_geometry(false, false, 256);
  CHECK(g.left_bp == 256);
  CHECK(g.right_bp == 256);
  CHECK(g.window_bp() == 513);
  CHECK(g.vector_index == 256);
  CHECK(bend::variant_geometry(false, true, 256).vector_index == 256);  // compat changes causal only
  bend::VariantGeometry c = bend::variant_geometry(true, false, 256);
  CHECK(c.left_bp == 512);
  CHECK(c.right_bp == 0);
  CHECK(c.window_bp() == 513);
  CHECK(c.vector_index == 512);
  CHECK(bend::variant_geometry(true, true, 256).vector_index == 511);
  CHECK_THROWS_AS(bend::variant_geometry(false, false, 0), bend::Error);
}

TEST_CASE("score lists name cosine and l2, each once", "[variants]") {
  auto s = bend::parse_variant_scores("l2,cosine");
  REQUIRE(s.size() == 2);
  CHECK(s[0] == bend::VariantScore::kL2);
  CHECK(s[1] == bend::VariantScore::kCosine);
  CHECK(bend::parse_variant_scores("llr,cosine")[0] == bend::VariantScore::kLlr);
  CHECK_THROWS_WITH(bend::parse_variant_scores("cosine,kl"), Catch::Contains("unknown score 'kl'"));
  CHECK_THROWS_WITH(bend::parse_variant_scores("l2,l2"), Catch::Contains("twice"));
  CHECK_THROWS_AS(bend::parse_variant_scores(""), bend::Error);
}

TEST_CASE("cosine distance as scipy: 1 - uv/sqrt(uu vv), clipped, and NaN for a zero vector", "[variants]") {
  float a[3] = {1, 2, 3}, b[3] = {-2, 0.5f, 4};
  double want = 1.0 - (1 * -2 + 2 * 0.5 + 3 * 4) / std::sqrt(14.0 * (4 + 0.25 + 16));
  CHECK(bend::cosine_distance(a, b, 3) == Approx(want).epsilon(1e-14));
  CHECK(bend::cosine_distance(a, a, 3) == 0.0);
  float z[3] = {0, 0, 0};
  CHECK(std::isnan(bend::cosine_distance(a, z, 3)));
  CHECK(bend::l2_distance(a, b, 3) == Approx(std::sqrt(9 + 2.25 + 1)).epsilon(1e-14));
  CHECK(bend::format_score(std::nan("")) == "nan");
  CHECK(bend::format_score(0.25) == "0.25");
}

TEST_CASE("pair batches: consecutive pairs, 2 x pairs x longest within the budget", "[variants]") {
  CHECK(bend::pair_batches({10, 10, 10, 10}, 40) == std::vector<int64_t>{2, 2});
  CHECK(bend::pair_batches({10, 30, 10}, 60) == std::vector<int64_t>{1, 1, 1});
  CHECK(bend::pair_batches({100, 1}, 10) == std::vector<int64_t>{1, 1});  // over budget: alone
  CHECK(bend::pair_batches({}, 10).empty());
}

TEST_CASE("row batches: a row whose ref is shared adds one sequence, not two", "[variants]") {
  CHECK(bend::row_batches({10, 10, 10, 10}, {2, 1, 1, 2}, 40) == std::vector<int64_t>{3, 1});
  CHECK(bend::row_batches({10, 10, 10}, {1, 1, 1}, 30) == std::vector<int64_t>{3});
  CHECK(bend::row_batches({10, 40, 10}, {2, 1, 1}, 40) == std::vector<int64_t>{1, 1, 1});
  CHECK(bend::row_batches({}, {}, 10).empty());
}

TEST_CASE("a work row carries the window and the alt base last in its region", "[variants]") {
  bend::VariantGeometry g = bend::variant_geometry(false, false, 256);
  bend::WorkRow w = bend::variant_work_row(7, "chr2", "2", 1000, 'A', 'G', g);
  CHECK(w.chrom == "chr2");
  CHECK(w.start_bp == 744);
  CHECK(w.end_bp == 1257);
  CHECK(w.region == "2:1001 A>G");
  CHECK(w.row == 7);
}
