// Zero-shot variant scores as BEND's scripts/predict_variant_effects.py computes them: the window
// around a variant, the alt substitution, the vector compared, and the distances.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

// Where the variant sits in the window embedded for it, and which output vector is compared.
struct VariantGeometry {
  int64_t left_bp = 256;       // context before the variant
  int64_t right_bp = 256;      // context after it (0 for causal models)
  int64_t vector_index = 256;  // row of the per-nucleotide output compared (BEND's embedding_idx)
  // The window is [pos - left_bp, pos + 1 + right_bp): left_bp + 1 + right_bp bp, the variant
  // at index left_bp.
  int64_t window_bp() const { return left_bp + 1 + right_bp; }
};

// BEND's geometry for a model: `context_bp` on each side and the variant's own vector (index
// context_bp); causal models take 2 x context_bp on the left only (BEND's --extra_context 512)
// and compare the variant's own vector (index 2 x context_bp), or with `bend_compat` BEND's
// index 2 x context_bp - 1, the vector before the variant, which cannot see the alt base.
// Token-level models are resolved by the per-nucleotide output: the vector BEND's upsampling
// puts on the variant's nucleotide (DNABERT-6: the 6-mer with the variant at its 3rd base,
// BEND's index 254). Throws bend::Error for context_bp < 1.
VariantGeometry variant_geometry(bool causal, bool bend_compat, int64_t context_bp);

// The scores `bend variants --score` accepts: distances between the ref and alt vectors, and
// the log-likelihood ratio log P(alt) - log P(ref) of a causal LM's next-base prediction at the
// variant (the logits row of the variant's position in the ref window: it has read the left
// context only), = logit(alt) - logit(ref).
enum class VariantScore { kCosine, kL2, kLlr };

// Parses "cosine,l2,llr" (comma-separated, no repeats; names as variant_score_name gives them).
// Throws bend::Error naming the bad entry and the known names.
std::vector<VariantScore> parse_variant_scores(const std::string& list);
// "cosine", "l2" or "llr": the output column of that score.
const char* variant_score_name(VariantScore s);

// scipy.spatial.distance.cosine(a, b) in double precision: 1 - a.b / sqrt(|a|^2 |b|^2),
// clipped to [0, 2]; NaN when either vector is all zeros (scipy: nan with a warning).
double cosine_distance(const float* a, const float* b, int64_t dim);
// Euclidean distance |a - b| in double precision.
double l2_distance(const float* a, const float* b, int64_t dim);
// One distance (cosine or l2) of two vectors of `dim` floats.
double variant_score(VariantScore s, const float* ref, const float* alt, int64_t dim);

// A score as the output table writes it: "%.10g", "nan" for NaN. The same bytes on every rank.
std::string format_score(double v);

}  // namespace bend
