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
// Appends one row (creating the file with its header); refuses a file whose header differs.
void append_csv_row(const std::string& path, const std::vector<std::string>& header,
                    const std::vector<std::string>& row);
// Writes `out_dir`/run.json atomically: bend's version, the command line and working directory
// of the latest run into this results directory, and its start time (UTC). Rank 0 only.
void write_run_json(const std::string& out_dir);

}  // namespace bend
