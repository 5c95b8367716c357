// Upsampling of token-level records for training (bend/train/upsample.hpp).
#include "bend/train/upsample.hpp"

#include <cstring>

#include "bend/core/error.hpp"
#include "bend/store/example.hpp"
#include "bend/train/dataset.hpp"

namespace bend {

int64_t upsample_token_rows(const std::vector<int64_t>& spans, int64_t n_vectors, int64_t dim,
                            std::vector<float>& values) {
  const int64_t n_bp = check_token_spans(spans, n_vectors);
  if (dim < 0 || static_cast<uint64_t>(n_vectors) * static_cast<uint64_t>(dim) != values.size()) {
    fail("token-level upsampling: %zu values are not [%lld vectors, dim %lld]", values.size(),
         static_cast<long long>(n_vectors), static_cast<long long>(dim));
  }
  values.resize(static_cast<size_t>(n_bp * dim));
  // Back to front: span i starts at or after row i (every span is >= 1 bp), so row i has not
  // been overwritten yet when it is copied to its span.
  const size_t row_bytes = sizeof(float) * static_cast<size_t>(dim);
  float* data = values.data();
  for (int64_t i = n_vectors - 1; i >= 0; --i) {
    const int64_t start = spans[2 * i], len = spans[2 * i + 1];
    const float* src = data + i * dim;
    for (int64_t k = len - 1; k >= 0; --k) {
      float* dst = data + (start + k) * dim;
      if (dst != src) std::memmove(dst, src, row_bytes);
    }
  }
  return n_bp;
}

void upsample_token_level(const std::vector<int64_t>& spans, Sample& s) {
  s.length = upsample_token_rows(spans, s.length, s.dim, s.inputs);
}

}  // namespace bend
