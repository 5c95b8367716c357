// The end of a `bend variants` run on rank 0: the input file and the per-shard score files
// streamed into one output table (memory: the scores being evaluated, 16 bytes per row and
// score), and the AUROC evaluation of its score columns.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bend/variants/variant_eval.hpp"

namespace bend {

struct VariantTable;

// What to evaluate.
struct VariantEvalSettings {
  std::string label_column = "label";  // 0/1 (also 0.0/1.0, true/false); other values excluded
  std::string category_column;         // "" = overall only
  int64_t bootstrap = 1000;
  uint64_t seed = 0;
  int n_threads = 1;  // bootstrap threads (the result does not depend on them)
};

// The written table and its evaluation.
struct VariantTableResult {
  int64_t n_rows = 0, n_scored = 0;
  bool evaluated = false;       // false: the file has no label column
  int64_t n_unlabelled = 0;     // rows whose label is not 0/1 (excluded from the AUROC)
  std::vector<AurocRow> auroc;  // per score: "all", then each category in name order
};

// Writes `out_path` atomically (gzip when it ends in ".gz"; the same bytes for the same table): the header of `table`'s file plus one column per score name,
// then every data row as written in the file plus its scores, read from `shard_files` (in
// shard order; each "row\tscores..." line in file order, rows increasing) or "NA" for rows no
// shard holds. Evaluates the score columns (NaN scores excluded) against the label column.
// Throws bend::Error naming the shard file when its rows or columns do not fit the table, and
// the variant file when it changed since it was read.
VariantTableResult write_variant_scores(const VariantTable& table, const std::vector<std::string>& shard_files,
                                        const std::vector<std::string>& score_names,
                                        const VariantEvalSettings& eval, const std::string& out_path);

}  // namespace bend
