#include "bend/variants/variant_eval.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <thread>

#include "bend/core/error.hpp"

namespace bend {

namespace {

// Row indexes by ascending score (ties in row order).
std::vector<uint32_t> score_order(const std::vector<double>& score) {
  std::vector<uint32_t> order(score.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return score[a] < score[b]; });
  return order;
}

// Mann-Whitney over groups of tied scores, in integers: 2 x (pairs ranked right) + (tied pairs).
double auroc_sorted(const std::vector<double>& score, const std::vector<uint8_t>& label,
                    const uint32_t* weights, const std::vector<uint32_t>& order) {
  uint64_t neg_below = 0, n_pos = 0, n_neg = 0, twice = 0;
  size_t i = 0;
  while (i < order.size()) {
    size_t j = i;
    uint64_t pos_g = 0, neg_g = 0;
    while (j < order.size() && score[order[j]] == score[order[i]]) {
      uint32_t r = order[j];
      uint64_t w = weights ? weights[r] : 1;
      (label[r] ? pos_g : neg_g) += w;
      ++j;
    }
    twice += 2 * pos_g * neg_below + pos_g * neg_g;
    neg_below += neg_g;
    n_pos += pos_g;
    n_neg += neg_g;
    i = j;
  }
  if (n_pos == 0 || n_neg == 0) return std::nan("");
  return static_cast<double>(static_cast<long double>(twice) / (2.0L * n_pos * n_neg));
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// numpy.percentile's default (linear) on sorted values.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return std::nan("");
  double pos = q / 100.0 * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  double f = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * f;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

double auroc(const std::vector<double>& score, const std::vector<uint8_t>& label,
             const std::vector<uint32_t>& weights) {
  BEND_ASSERT(score.size() == label.size());
  BEND_ASSERT(weights.empty() || weights.size() == score.size());
  return auroc_sorted(score, label, weights.empty() ? nullptr : weights.data(), score_order(score));
}

AurocRow auroc_with_ci(const std::vector<double>& score, const std::vector<uint8_t>& label, int64_t n_boot,
                       uint64_t seed, int n_threads) {
  BEND_ASSERT(score.size() == label.size());
  AurocRow r;
  for (uint8_t l : label) (l ? r.n_pos : r.n_neg) += 1;
  std::vector<uint32_t> order = score_order(score);
  r.auroc = auroc_sorted(score, label, nullptr, order);
  // Resample b depends on (seed, b) only, so threads split the resamples without changing them.
  const uint64_t n = score.size();
  std::vector<double> all(static_cast<size_t>(n > 0 ? std::max<int64_t>(n_boot, 0) : 0));
  auto run = [&](size_t b0, size_t b1) {
    std::vector<uint32_t> counts(n);
    for (size_t b = b0; b < b1; ++b) {
      std::fill(counts.begin(), counts.end(), 0u);
      uint64_t stream = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(b)));
      for (uint64_t k = 0; k < n; ++k) {
        uint64_t x = splitmix64(stream + k);
        ++counts[static_cast<size_t>((static_cast<unsigned __int128>(x) * n) >> 64)];
      }
      all[b] = auroc_sorted(score, label, counts.data(), order);
    }
  };
  const size_t n_t = static_cast<size_t>(std::max(1, std::min<int>(n_threads, static_cast<int>(all.size()))));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < n_t; ++t) pool.emplace_back(run, all.size() * t / n_t, all.size() * (t + 1) / n_t);
  run(0, all.size() / n_t);
  for (std::thread& th : pool) th.join();
  std::vector<double> boot;
  for (double a : all) {
    if (!std::isnan(a)) boot.push_back(a);
  }
  std::sort(boot.begin(), boot.end());
  r.n_boot = static_cast<int64_t>(boot.size());
  r.ci_low = percentile(boot, 2.5);
  r.ci_high = percentile(boot, 97.5);
  return r;
}

std::string auroc_csv(const std::vector<AurocRow>& rows) {
  std::string out = "score,category,n_pos,n_neg,auroc,ci_low,ci_high,n_boot\n";
  for (const AurocRow& r : rows) {
    out += strfmt("%s,%s,%lld,%lld,%.10f,%.10f,%.10f,%lld\n", csv_field(r.score).c_str(), csv_field(r.category).c_str(),
                  (long long)r.n_pos, (long long)r.n_neg, r.auroc, r.ci_low, r.ci_high, (long long)r.n_boot);
  }
  return out;
}

std::string auroc_table(const std::vector<AurocRow>& rows) {
  size_t w_score = 5, w_cat = 8;
  for (const AurocRow& r : rows) {
    w_score = std::max(w_score, r.score.size());
    w_cat = std::max(w_cat, r.category.size());
  }
  std::string out = strfmt("%-*s  %-*s  %8s  %8s  %6s  %s\n", (int)w_score, "score", (int)w_cat, "category", "n_pos",
                           "n_neg", "AUROC", "95% CI (bootstrap)");
  for (const AurocRow& r : rows) {
    out += strfmt("%-*s  %-*s  %8lld  %8lld  %6.4f  [%.4f, %.4f]\n", (int)w_score, r.score.c_str(), (int)w_cat,
                  r.category.c_str(), (long long)r.n_pos, (long long)r.n_neg, r.auroc, r.ci_low, r.ci_high);
  }
  return out;
}

}  // namespace bend
