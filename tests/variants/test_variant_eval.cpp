// AUROC and its bootstrap interval (variant_eval.hpp); scikit-learn agreement is in
// test_variant_eval.py.
#include <catch2/catch.hpp>
#include <cmath>

#include "bend/variants/variant_eval.hpp"

using bend::auroc;

TEST_CASE("auroc counts ranked pairs, tied pairs as one half", "[variants]") {
  // positives 0.9, 0.5; negatives 0.5, 0.1: pairs (0.9>0.5) (0.9>0.1) (0.5=0.5) (0.5>0.1) -> 3.5/4
  std::vector<double> s = {0.9, 0.5, 0.5, 0.1};
  std::vector<uint8_t> l = {1, 1, 0, 0};
  CHECK(auroc(s, l) == Approx(0.875).epsilon(1e-15));
  std::vector<uint8_t> flipped = {0, 0, 1, 1};
  CHECK(auroc(s, flipped) == Approx(0.125).epsilon(1e-15));
}

TEST_CASE("auroc with weights equals the table with repeated rows", "[variants]") {
  std::vector<double> s = {0.3, 0.2, 0.2, 0.7, 0.1};
  std::vector<uint8_t> l = {1, 0, 1, 0, 1};
  std::vector<uint32_t> w = {2, 0, 3, 1, 1};
  std::vector<double> rs;
  std::vector<uint8_t> rl;
  for (size_t i = 0; i < s.size(); ++i) {
    for (uint32_t k = 0; k < w[i]; ++k) {
      rs.push_back(s[i]);
      rl.push_back(l[i]);
    }
  }
  CHECK(auroc(s, l, w) == auroc(rs, rl));
}

TEST_CASE("auroc is NaN with one class only; the interval skips one-class resamples", "[variants]") {
  CHECK(std::isnan(auroc({0.1, 0.2}, {1, 1})));
  bend::AurocRow r = bend::auroc_with_ci({0.1, 0.2, 0.3}, {0, 1, 1}, 200, 5);
  CHECK(r.auroc == 1.0);
  CHECK(r.n_boot > 0);
  CHECK(r.n_boot < 200);  // some resamples draw no negative
  CHECK(r.ci_low == 1.0);
}

TEST_CASE("the bootstrap interval depends on the seed only, and brackets the estimate", "[variants]") {
  std::vector<double> s;
  std::vector<uint8_t> l;
  for (int i = 0; i < 300; ++i) {
    s.push_back(std::sin(i * 1.7));
    l.push_back(static_cast<uint8_t>((i * 7) % 3 == 0 || std::sin(i * 1.7) > 0.6));
  }
  bend::AurocRow a = bend::auroc_with_ci(s, l, 300, 11);
  bend::AurocRow b = bend::auroc_with_ci(s, l, 300, 11);
  bend::AurocRow c = bend::auroc_with_ci(s, l, 300, 12);
  CHECK(a.ci_low == b.ci_low);
  CHECK(a.ci_high == b.ci_high);
  CHECK((a.ci_low != c.ci_low || a.ci_high != c.ci_high));
  CHECK(a.ci_low < a.auroc);
  CHECK(a.auroc < a.ci_high);
  CHECK(a.n_boot == 300);
  bend::AurocRow t = bend::auroc_with_ci(s, l, 300, 11, 3);  // threads split the resamples only
  CHECK(t.ci_low == a.ci_low);
  CHECK(t.ci_high == a.ci_high);
  CHECK(t.n_boot == a.n_boot);
}

TEST_CASE("auroc_csv quotes categories with commas", "[variants]") {
  bend::AurocRow r;
  r.score = "cosine";
  r.category = "a,b";
  r.n_pos = 2;
  r.n_neg = 3;
  r.auroc = 0.5;
  std::string csv = bend::auroc_csv({r});
  CHECK(csv == "score,category,n_pos,n_neg,auroc,ci_low,ci_high,n_boot\ncosine,\"a,b\",2,3,0.5000000000,0.0000000000,0.0000000000,0\n");
}
