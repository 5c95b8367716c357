// BEND's result files and metric assembly, torch-free: losses.csv (one row per epoch) and
// best_model_metrics.csv (one row per finished run), with BEND's column names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

// One epoch's row of losses.csv.
struct EpochRecord {
  int epoch = 0;
  double train_loss = 0, val_loss = 0, val_metric = 0;
};

// Predictions gathered for a metric. `matrix`: y_* are [n_rows, width] per-row labels
// (multi-label tasks); otherwise flattened positions with padding removed.
struct EvalOutputs {
  std::vector<float> y_true, y_pred;  // class ids (CE) or probabilities/values
  // Kept only for --save-predictions (empty otherwise): each value's BED data row and its index
  // in that row's flattened labels.
  std::vector<int64_t> bed_row, position;
  bool matrix = false;
  int64_t width = 1;
};

// BEND's metric list: [headline, details...]. mcc: [mcc, recall_0..C-1, precision_0..C-1]
// (every class 0..n_classes-1); auroc on a matrix: [mean, auroc_0..K-1]; otherwise [value].
std::vector<double> compute_metrics(const std::string& metric, const EvalOutputs& out, int64_t n_classes);
// Column names for compute_metrics' values on the test set, as BEND writes them.
std::vector<std::string> test_metric_columns(const std::string& metric, size_t n_values);

// Shortest decimal that reads back to the same double (like Python's repr); "nan" for NaN.
std::string format_double(double v);
// Rewrites losses.csv atomically: "Epoch,train_loss,val_loss,val_<metric>" and one row per epoch.
void write_losses_csv(const std::string& path, const std::string& metric, const std::vector<EpochRecord>& rows);
// Writes `path` atomically as the header and this one row: a results directory holds one test
// row (a rerun replaces it; BEND's trainer appended instead).
void write_csv_row(const std::string& path, const std::vector<std::string>& header,
                   const std::vector<std::string>& row);
// Writes `out_dir`/settings.json atomically: bend's version, the command line and working
// directory of the latest run into this results directory, its start time (UTC), `options`
// (every option's value) and `data` (what was trained on, with its fingerprint). Rank 0 only.
void write_settings_json(const std::string& out_dir, const std::string& options_json,
                         const std::string& data_json);

}  // namespace bend
