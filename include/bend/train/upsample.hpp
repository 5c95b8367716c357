// Token-level records (`bend embed --token-level`) back to what the head trains on: each stored
// vector repeated over the nucleotides of its span, exactly the tensor the default (upsampled)
// output stores. Pure functions, thread-safe. No torch.
#pragma once

#include <cstdint>
#include <vector>

namespace bend {

struct Sample;

// Expands `s` in place from [n_vectors, dim] to [n_bp, dim]: row i is repeated spans[2i+1]
// times (spans: flattened (start_bp, len_bp) pairs, as EmbeddingRecord::token_spans);
// s.length becomes n_bp. No extra buffer: rows are moved from the back. Throws bend::Error
// when the spans are invalid (store/example.hpp check_token_spans) or s.inputs is not
// [s.length, s.dim].
void upsample_token_level(const std::vector<int64_t>& spans, Sample& s);

// The same on a bare row-major matrix: `values` [n_vectors, dim] -> [n_bp, dim] (resized);
// returns n_bp. Same errors.
int64_t upsample_token_rows(const std::vector<int64_t>& spans, int64_t n_vectors, int64_t dim,
                            std::vector<float>& values);

}  // namespace bend
