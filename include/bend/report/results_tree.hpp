// `bend report`, step 1: finds the results under a directory tree and reads them. Training runs
// are directories holding best_model_metrics.csv (with losses.csv beside it), variant-effect runs
// directories holding auroc.csv (`bend variants`). Torch-free; errors name file:line.
#pragma once

#include <string>
#include <vector>

namespace bend {

// A CSV file as read: header and rows, each row with its line number in the file.
struct CsvTable {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> line;  // [rows] 1-based line of each row
  // Index of column `name`; throws bend::Error "<path>:1: no column 'name'" when absent.
  size_t column(const std::string& name) const;
  // rows[r][c] as a number ("nan", "inf" accepted); throws "<path>:<line>: column 'x': ...".
  double number(size_t r, size_t c) const;
};

// Reads a comma-separated file with a header line (fields may be double-quoted). Throws
// bend::Error naming file:line for a row with another number of fields than the header, an
// unterminated quote, or an empty file.
CsvTable read_csv_table(const std::string& path);

// One epoch of losses.csv.
struct EpochCurve {
  int epoch = 0;
  double train_loss = 0, val_loss = 0, val_metric = 0;
};

// A `bend train` (or BEND) results directory.
struct TrainingRun {
  std::string task, model, run;  // run: the path below the model directory ("fold3", "" for none)
  std::string dir;
  std::string metric;            // headline column of best_model_metrics.csv, e.g. "test_auroc_avg"
  double test_metric = 0;        // its value in the file's last row
  std::string val_metric;        // losses.csv's 4th column, e.g. "val_auroc" (empty: no losses.csv)
  std::vector<EpochCurve> curve; // losses.csv rows
};

// One row of a `bend variants` auroc.csv.
struct VariantAuroc {
  std::string score, category;
  long long n_pos = 0, n_neg = 0;
  double auroc = 0, ci_low = 0, ci_high = 0;
};

// A `bend variants` output directory with its evaluation.
struct VariantRun {
  std::string task, model, run, dir;
  std::vector<VariantAuroc> rows;  // auroc.csv in file order
};

struct ResultsTree {
  std::vector<TrainingRun> training;  // sorted by task, model, run
  std::vector<VariantRun> variants;   // sorted by task, model, run
};

// Where a results directory `rel` (relative to the scanned root, '/'-separated) belongs:
// `.../downstream_tasks/<task>/<model>/<run...>` or else `<task>/<model>/<run...>`. Throws
// bend::Error naming `dir` when there are fewer than two components to name task and model.
void place_run(const std::string& rel, const std::string& dir, std::string& task, std::string& model,
               std::string& run);

// Scans `root` recursively (symlinked directories are not followed; checkpoints/ is skipped) and
// reads every run found. Throws bend::Error naming the file (and line) of anything malformed.
ResultsTree scan_results(const std::string& root);

}  // namespace bend
