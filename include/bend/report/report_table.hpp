// `bend report`, step 2: BEND's results table from a ResultsTree: one row per model, one column
// per task, each cell the task's headline test metric as mean +- sd over the model's runs
// (folds, seeds), with the number of runs; the best mean of each column marked. Torch-free.
#pragma once

#include <string>
#include <vector>

#include "bend/report/results_tree.hpp"

namespace bend {

// One task column: a downstream task (metric: best_model_metrics.csv's headline column) or a
// variant-effect task (metric "auroc" of the first score's category "all" in auroc.csv).
struct TaskColumn {
  std::string task;
  std::string metric;  // "test_mcc", "test_auroc_avg", ... or "auroc (cosine)"
  bool variant = false;
};

// One cell: the runs' values, their mean and population sd (numpy's np.std, as BEND's
// scripts/list_metrics.py), and whether its mean is the column's best (ties: all marked).
struct TableCell {
  std::vector<double> values;  // one per run, in run order
  double mean = 0, sd = 0;
  bool best = false;
  bool empty() const { return values.empty(); }
};

struct ReportTable {
  std::vector<TaskColumn> columns;            // downstream tasks by name, then variant tasks
  std::vector<std::string> models;            // by name
  std::vector<std::vector<TableCell>> cells;  // [models][columns]
};

// Builds the table. Throws bend::Error naming two files when runs of one task report different
// headline metrics.
ReportTable build_table(const ResultsTree& tree);

// "0.8123 ± 0.0100 (n=3)", or "" for an empty cell.
std::string cell_text(const TableCell& c);

// The table as Markdown (best cells in bold), with a title line.
std::string table_markdown(const ReportTable& t);

// The table as CSV: model, then per column <task>_mean, <task>_sd, <task>_n, <task>_best;
// numbers as the shortest text that reads back to the same double, empty for empty cells.
std::string table_csv(const ReportTable& t);

// Shortest decimal text that reads back to `v` ("nan" for NaN).
std::string shortest_double(double v);

}  // namespace bend
