#include "bend/variants/variant_score.hpp"

#include <cmath>
#include <cstdio>

#include "bend/core/error.hpp"

namespace bend {

VariantGeometry variant_geometry(bool causal, bool bend_compat, int64_t context_bp) {
  if (context_bp < 1) fail("--context must be at least 1 bp (got %lld)", (long long)context_bp);
  VariantGeometry g;
  if (causal) {  // BEND: --extra_context 512, right context 0, alt on the last base
    g.left_bp = 2 * context_bp;
    g.right_bp = 0;
    g.vector_index = bend_compat ? g.left_bp - 1 : g.left_bp;
  } else {
    g.left_bp = context_bp;
    g.right_bp = context_bp;
    g.vector_index = context_bp;
  }
  return g;
}

const char* variant_score_name(VariantScore s) {
  switch (s) {
    case VariantScore::kCosine: return "cosine";
    case VariantScore::kL2: return "l2";
    case VariantScore::kLlr: return "llr";
  }
  return "?";
}

std::vector<VariantScore> parse_variant_scores(const std::string& list) {
  std::vector<VariantScore> out;
  size_t b = 0;
  while (b <= list.size()) {
    size_t e = list.find(',', b);
    if (e == std::string::npos) e = list.size();
    std::string name = list.substr(b, e - b);
    VariantScore s;
    if (name == "cosine") {
      s = VariantScore::kCosine;
    } else if (name == "l2") {
      s = VariantScore::kL2;
    } else if (name == "llr") {
      s = VariantScore::kLlr;
    } else {
      fail("--score: unknown score '%s' (known: cosine, l2, llr)", name.c_str());
    }
    for (VariantScore o : out) {
      if (o == s) fail("--score: '%s' is given twice", name.c_str());
    }
    out.push_back(s);
    b = e + 1;
  }
  return out;
}

double cosine_distance(const float* a, const float* b, int64_t dim) {
  double uv = 0, uu = 0, vv = 0;
  for (int64_t i = 0; i < dim; ++i) {
    uv += static_cast<double>(a[i]) * b[i];
    uu += static_cast<double>(a[i]) * a[i];
    vv += static_cast<double>(b[i]) * b[i];
  }
  if (uu == 0 || vv == 0) return std::nan("");
  double d = 1.0 - uv / std::sqrt(uu * vv);
  return d < 0 ? 0.0 : (d > 2 ? 2.0 : d);
}

double l2_distance(const float* a, const float* b, int64_t dim) {
  double s = 0;
  for (int64_t i = 0; i < dim; ++i) {
    double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return std::sqrt(s);
}

double variant_score(VariantScore s, const float* ref, const float* alt, int64_t dim) {
  BEND_ASSERT(s != VariantScore::kLlr);
  return s == VariantScore::kCosine ? cosine_distance(alt, ref, dim) : l2_distance(alt, ref, dim);
}

std::string format_score(double v) {
  if (std::isnan(v)) return "nan";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

}  // namespace bend
