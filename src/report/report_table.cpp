#include "bend/report/report_table.hpp"

#include <charconv>
#include <cmath>
#include <map>

#include "bend/core/error.hpp"

namespace bend {

std::string shortest_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

// Mean and population sd of c.values (two-pass, as numpy).
static void summarise(TableCell& c) {
  double sum = 0;
  for (double v : c.values) sum += v;
  c.mean = sum / static_cast<double>(c.values.size());
  double ss = 0;
  for (double v : c.values) ss += (v - c.mean) * (v - c.mean);
  c.sd = std::sqrt(ss / static_cast<double>(c.values.size()));
}

ReportTable build_table(const ResultsTree& tree) {
  ReportTable t;
  std::map<std::string, size_t> col_of, model_of;
  std::map<std::string, std::string> metric_file;  // task -> a file reporting its metric
  std::map<std::string, bool> models;
  for (const TrainingRun& r : tree.training) {
    models[r.model] = true;
    auto it = col_of.find(r.task);
    if (it == col_of.end()) {
      col_of[r.task] = t.columns.size();
      t.columns.push_back(TaskColumn{r.task, r.metric, false});
      metric_file[r.task] = r.dir;
    } else if (t.columns[it->second].metric != r.metric) {
      fail("task %s: %s/best_model_metrics.csv reports %s, %s/best_model_metrics.csv reports %s", r.task.c_str(),
           metric_file[r.task].c_str(), t.columns[it->second].metric.c_str(), r.dir.c_str(), r.metric.c_str());
    }
  }
  for (const VariantRun& v : tree.variants) {
    models[v.model] = true;
    const std::string key = "\x01" + v.task;  // a variant task never shares a column with a downstream one
    if (col_of.count(key)) continue;
    col_of[key] = t.columns.size();
    t.columns.push_back(TaskColumn{v.task, "auroc (" + v.rows.front().score + ")", true});
  }
  for (const auto& m : models) {
    model_of[m.first] = t.models.size();
    t.models.push_back(m.first);
  }
  t.cells.assign(t.models.size(), std::vector<TableCell>(t.columns.size()));
  for (const TrainingRun& r : tree.training) t.cells[model_of[r.model]][col_of[r.task]].values.push_back(r.test_metric);
  for (const VariantRun& v : tree.variants) {
    const TaskColumn& col = t.columns[col_of["\x01" + v.task]];
    for (const VariantAuroc& a : v.rows) {
      if ("auroc (" + a.score + ")" == col.metric && a.category == "all") {
        t.cells[model_of[v.model]][col_of["\x01" + v.task]].values.push_back(a.auroc);
        break;
      }
    }
  }
  for (size_t c = 0; c < t.columns.size(); ++c) {
    double best = -HUGE_VAL;
    for (auto& row : t.cells) {
      if (row[c].empty()) continue;
      summarise(row[c]);
      if (row[c].mean > best) best = row[c].mean;
    }
    for (auto& row : t.cells) row[c].best = !row[c].empty() && row[c].mean == best;
  }
  return t;
}

std::string cell_text(const TableCell& c) {
  if (c.empty()) return "";
  return strfmt("%.4f ± %.4f (n=%zu)", c.mean, c.sd, c.values.size());
}

// "histone_modification<br>test_auroc_avg" style header text, plain.
static std::string column_title(const TaskColumn& c) { return c.task + " (" + c.metric + ")"; }

std::string table_markdown(const ReportTable& t) {
  std::string out = "| model |";
  std::string rule = "|---|";
  for (const TaskColumn& c : t.columns) {
    out += " " + column_title(c) + " |";
    rule += "---|";
  }
  out += "\n" + rule + "\n";
  for (size_t m = 0; m < t.models.size(); ++m) {
    out += "| " + t.models[m] + " |";
    for (const TableCell& c : t.cells[m]) {
      std::string s = cell_text(c);
      out += " " + (c.best ? "**" + s + "**" : s) + " |";
    }
    out += "\n";
  }
  return out;
}

// A CSV field, quoted when it holds a comma, quote or line break.
static std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

std::string table_csv(const ReportTable& t) {
  std::string out = "model";
  for (const TaskColumn& c : t.columns) {
    for (const char* part : {"_mean", "_sd", "_n", "_best"}) out += "," + csv_field(c.task + part);
  }
  out += "\n";
  for (size_t m = 0; m < t.models.size(); ++m) {
    out += csv_field(t.models[m]);
    for (const TableCell& c : t.cells[m]) {
      if (c.empty()) {
        out += ",,,,";
      } else {
        out += "," + shortest_double(c.mean) + "," + shortest_double(c.sd) + "," + std::to_string(c.values.size()) +
               "," + (c.best ? "1" : "0");
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace bend
