#include "bend/embed/embedder.hpp"

#include "bend/core/error.hpp"

namespace bend {

void Embedder::embed_tokens(const std::vector<const std::vector<int32_t>*>& tokens,
                            const std::vector<int64_t>& len_bp, std::vector<std::vector<float>>& out,
                            std::vector<std::vector<VectorSpan>>& spans) {
  embed(tokens, len_bp, out);
  spans.resize(out.size());
  for (size_t b = 0; b < out.size(); ++b) {
    int64_t n = dim() > 0 ? static_cast<int64_t>(out[b].size()) / dim() : 0;
    spans[b].resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) spans[b][static_cast<size_t>(i)] = VectorSpan{i, 1};
  }
}

void Embedder::mask_variant_token(std::vector<int32_t>& ids, int64_t pos_bp, char alt,
                                  int32_t& ref_id, int32_t& alt_id) const {
  (void)ids, (void)pos_bp, (void)alt, (void)ref_id, (void)alt_id;
  fail("model '%s': no masked-LM log-likelihood ratio (it has no masked-LM head)", name().c_str());
}

}  // namespace bend
