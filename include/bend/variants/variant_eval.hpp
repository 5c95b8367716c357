// Evaluation of zero-shot variant scores: AUROC of a score against a binary label (scikit-learn's
// roc_auc_score, ties counted half), overall and per category, with a seeded bootstrap 95%
// interval. Pure computation; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

// AUROC of `score` for the rows with label 1 against those with label 0 (labels[i] is 0 or 1;
// weights[i] copies of row i, empty = 1 each). Equals sklearn.metrics.roc_auc_score (the
// Mann-Whitney statistic, tied scores count 1/2). NaN when one class has no rows.
double auroc(const std::vector<double>& score, const std::vector<uint8_t>& label,
             const std::vector<uint32_t>& weights = {});

// One line of the evaluation table.
struct AurocRow {
  std::string score;     // score column ("cosine", "l2")
  std::string category;  // category value, or "all"
  int64_t n_pos = 0, n_neg = 0;
  double auroc = 0;
  double ci_low = 0, ci_high = 0;  // bootstrap 2.5% / 97.5% percentiles (NaN without resamples)
  int64_t n_boot = 0;              // resamples that had both classes (the others are not counted)
};

// AUROC with a bootstrap interval: `n_boot` resamples of the rows with replacement drawn by a
// counter-based generator from `seed` (the same numbers on every machine), percentiles
// interpolated linearly as numpy.percentile does. Rows with a NaN score must be removed first.
// `n_threads` threads share the resamples; the result does not depend on their number.
AurocRow auroc_with_ci(const std::vector<double>& score, const std::vector<uint8_t>& label,
                       int64_t n_boot, uint64_t seed, int n_threads = 1);

// The evaluation table as CSV: header "score,category,n_pos,n_neg,auroc,ci_low,ci_high,n_boot",
// values "%.10f" (category quoted when it holds a comma or quote).
std::string auroc_csv(const std::vector<AurocRow>& rows);
// The same as an aligned text table for the terminal.
std::string auroc_table(const std::vector<AurocRow>& rows);

}  // namespace bend
