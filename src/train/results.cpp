#include "bend/train/results.hpp"

#include <charconv>
#include <cmath>
#include <ctime>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/invocation.hpp"
#include "bend/train/metrics.hpp"

namespace bend {

std::vector<double> compute_metrics(const std::string& metric, const EvalOutputs& out, int64_t n_classes) {
  int64_t n = static_cast<int64_t>(out.y_true.size());
  if (metric == "mcc") {
    std::vector<int32_t> t(out.y_true.begin(), out.y_true.end()), p(out.y_pred.begin(), out.y_pred.end());
    ClassReport r = classification_report(t.data(), p.data(), n, static_cast<int32_t>(n_classes));
    std::vector<double> v{r.mcc};
    v.insert(v.end(), r.recall.begin(), r.recall.end());
    v.insert(v.end(), r.precision.begin(), r.precision.end());
    return v;
  }
  if (metric == "auroc") {
    if (out.matrix && out.width > 1) {
      std::vector<double> per = roc_auc_per_label(out.y_true.data(), out.y_pred.data(), n / out.width, out.width);
      std::vector<double> v{nan_mean(per)};
      v.insert(v.end(), per.begin(), per.end());
      return v;
    }
    return {roc_auc(out.y_true.data(), out.y_pred.data(), n)};
  }
  if (metric == "auprc") return {average_precision(out.y_true.data(), out.y_pred.data(), n)};
  if (metric == "pearsonr") return {pearson_r(out.y_true.data(), out.y_pred.data(), n)};
  fail("unknown metric '%s' (valid: mcc, auroc, auprc, pearsonr)", metric.c_str());
}

std::vector<std::string> test_metric_columns(const std::string& metric, size_t n_values) {
  std::vector<std::string> cols{"test_loss"};
  if (n_values <= 1) {
    cols.push_back("test_" + metric);
  } else if (metric == "mcc") {
    cols.push_back("test_mcc");
    size_t c = (n_values - 1) / 2;
    for (size_t i = 0; i < c; ++i) cols.push_back("test_recall_" + std::to_string(i));
    for (size_t i = 0; i < c; ++i) cols.push_back("test_precision_" + std::to_string(i));
  } else {
    cols.push_back("test_" + metric + "_avg");
    for (size_t i = 0; i + 1 < n_values; ++i) cols.push_back("test_" + metric + "_" + std::to_string(i));
  }
  return cols;
}

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";  // Python prints 1.0, not 1
  return s;
}

void write_losses_csv(const std::string& path, const std::string& metric, const std::vector<EpochRecord>& rows) {
  std::string text = "Epoch,train_loss,val_loss,val_" + metric + "\n";
  for (const EpochRecord& r : rows) {
    text += std::to_string(r.epoch) + "," + format_double(r.train_loss) + "," + format_double(r.val_loss) +
            "," + format_double(r.val_metric) + "\n";
  }
  write_file_atomic(path, text);
}

static std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + v[i];
  return s;
}

void write_csv_row(const std::string& path, const std::vector<std::string>& header,
                   const std::vector<std::string>& row) {
  write_file_atomic(path, join(header) + "\n" + join(row) + "\n");
}

void write_settings_json(const std::string& out_dir, const std::string& options_json,
                         const std::string& data_json) {
  nlohmann::json doc = invocation_json();
  const std::time_t now = std::time(nullptr);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  doc["format"] = "bend-train-settings";
  doc["started"] = ts;
  doc["options"] = nlohmann::json::parse(options_json);
  doc["data"] = nlohmann::json::parse(data_json);
  write_file_atomic(path_join(out_dir, "settings.json"), doc.dump(2) + "\n");
}

}  // namespace bend
