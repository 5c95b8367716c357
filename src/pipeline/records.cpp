#include "bend/pipeline/records.hpp"

#include <cstdlib>

#include "bend/core/error.hpp"
#include "bend/store/example.hpp"

namespace bend {

int64_t parse_reduce(const std::string& spec) {
  if (spec == "none") return kReduceNone;
  if (spec == "mean") return kReduceMean;
  if (spec.compare(0, 4, "bin:") == 0 && spec.size() > 4) {
    char* end = nullptr;
    long long n = std::strtoll(spec.c_str() + 4, &end, 10);
    if (*end == '\0' && n >= 1) return n;
  }
  fail("--reduce must be none, mean or bin:N with N >= 1 bp (got '%s')", spec.c_str());
}

int64_t mean_bins(const float* in, int64_t length, int64_t dim, int64_t bin_len, std::vector<float>& out) {
  BEND_ASSERT(bin_len > 0 && dim > 0 && length >= 0);
  int64_t n_bins = (length + bin_len - 1) / bin_len;
  out.assign(static_cast<size_t>(n_bins * dim), 0.0f);
  std::vector<double> sum(static_cast<size_t>(dim));
  for (int64_t b = 0; b < n_bins; ++b) {
    int64_t first = b * bin_len, last = first + bin_len < length ? first + bin_len : length;
    sum.assign(sum.size(), 0.0);
    for (int64_t i = first; i < last; ++i) {
      const float* row = in + i * dim;
      for (int64_t d = 0; d < dim; ++d) sum[d] += row[d];
    }
    for (int64_t d = 0; d < dim; ++d) out[b * dim + d] = static_cast<float>(sum[d] / static_cast<double>(last - first));
  }
  return n_bins;
}

void encode_genome_example(const EmbeddingRecord& rec, const std::string& chrom, int64_t start_bp, int64_t end_bp,
                           int64_t bin_len, std::string& out) {
  // The generic encoder writes the same bytes as the fast path for the shared features; the
  // extra keys land in sorted order among them.
  std::string plain;
  encode_embedding_example(rec, plain);  // validates sizes and dtype
  Example ex = decode_example(plain.data(), plain.size());
  ex["chrom"] = bytes_feature({chrom});
  ex["start"] = int64_feature({start_bp});
  ex["end"] = int64_feature({end_bp});
  if (bin_len > 0) ex["bin_bp"] = int64_feature({bin_len});
  encode_example(ex, out);
}

}  // namespace bend
