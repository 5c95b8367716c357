#include "bend/report/report_html.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "bend/core/error.hpp"
#include "report_svg.hpp"

namespace bend {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

namespace {

const char* kStyle = R"(body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}h3{font-size:1.05em;margin:1em 0 .3em}
table.results{border-collapse:collapse;font-variant-numeric:tabular-nums}
table.results td,table.results th{border:1px solid #ccc;padding:4px 10px;text-align:right}
table.results th{background:#f3f3f3}table.results td.model{text-align:left;font-weight:600}
td.best{font-weight:700;background:#e6f4e6}.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;border:1px solid #eee;padding:4px}figcaption{font-size:.85em;color:#555}
svg text{font-size:11px;fill:#333}.note{color:#666;font-size:.9em})";

std::string table_html(const ReportTable& t) {
  std::string h = "<table class=\"results\" id=\"results-table\"><thead><tr><th>model</th>";
  for (const TaskColumn& c : t.columns) {
    h += "<th data-task=\"" + html_escape(c.task) + "\">" + html_escape(c.task) + "<br><small>" + html_escape(c.metric) +
         "</small></th>";
  }
  h += "</tr></thead><tbody>";
  for (size_t m = 0; m < t.models.size(); ++m) {
    h += "<tr><td class=\"model\">" + html_escape(t.models[m]) + "</td>";
    for (size_t c = 0; c < t.columns.size(); ++c) {
      const TableCell& cell = t.cells[m][c];
      if (cell.empty()) {
        h += "<td></td>";
        continue;
      }
      h += "<td class=\"cell" + std::string(cell.best ? " best" : "") + "\" data-model=\"" + html_escape(t.models[m]) +
           "\" data-task=\"" + html_escape(t.columns[c].task) + "\" data-mean=\"" + shortest_double(cell.mean) +
           "\" data-sd=\"" + shortest_double(cell.sd) + "\" data-n=\"" + std::to_string(cell.values.size()) + "\">" +
           html_escape(cell_text(cell)) + "</td>";
    }
    h += "</tr>";
  }
  return h + "</tbody></table>";
}

// One bar chart per task column: the models' means with +-sd whiskers.
std::string task_bars(const ReportTable& t) {
  std::string h = "<div class=\"charts\">";
  for (size_t c = 0; c < t.columns.size(); ++c) {
    std::vector<SvgBar> bars;
    for (size_t m = 0; m < t.models.size(); ++m) {
      const TableCell& cell = t.cells[m][c];
      if (cell.empty()) continue;
      SvgBar b;
      b.group = t.models[m];
      b.series = 0;
      b.value = cell.mean;
      b.lo = cell.mean - cell.sd;
      b.hi = cell.mean + cell.sd;
      b.attrs = "class=\"task-bar\" data-model=\"" + html_escape(t.models[m]) + "\" data-task=\"" +
                html_escape(t.columns[c].task) + "\" data-mean=\"" + shortest_double(cell.mean) + "\" data-sd=\"" +
                shortest_double(cell.sd) + "\" data-n=\"" + std::to_string(cell.values.size()) + "\"";
      b.tooltip = t.models[m] + ": " + cell_text(cell);
      bars.push_back(b);
    }
    h += "<figure>" + svg_bar_chart(bars, {}, t.columns[c].metric) + "<figcaption>" + html_escape(t.columns[c].task) +
         ": mean ± sd over runs</figcaption></figure>";
  }
  return h + "</div>";
}

// Per variant task and score: AUROC per category, one bar per model, bootstrap 95% whiskers.
std::string variant_bars(const ResultsTree& tree) {
  std::map<std::pair<std::string, std::string>, std::vector<const VariantRun*>> by_task_score;
  for (const VariantRun& v : tree.variants) {
    for (const VariantAuroc& a : v.rows) {
      auto& runs = by_task_score[{v.task, a.score}];
      if (std::find(runs.begin(), runs.end(), &v) == runs.end()) runs.push_back(&v);
    }
  }
  std::string h = "<div class=\"charts\">";
  for (const auto& ts : by_task_score) {
    std::vector<std::string> series;
    std::vector<SvgBar> bars;
    for (const VariantRun* v : ts.second) {
      const std::string name = v->model + (v->run.empty() ? "" : "/" + v->run);
      series.push_back(name);
      for (const VariantAuroc& a : v->rows) {
        if (a.score != ts.first.second) continue;
        SvgBar b;
        b.group = a.category;
        b.series = static_cast<int>(series.size()) - 1;
        b.value = a.auroc;
        b.lo = std::isnan(a.ci_low) ? a.auroc : a.ci_low;
        b.hi = std::isnan(a.ci_high) ? a.auroc : a.ci_high;
        b.attrs = "class=\"variant-bar\" data-model=\"" + html_escape(name) + "\" data-task=\"" +
                  html_escape(v->task) + "\" data-score=\"" + html_escape(a.score) + "\" data-category=\"" +
                  html_escape(a.category) + "\" data-auroc=\"" + shortest_double(a.auroc) + "\"";
        b.tooltip = strfmt("%s, %s: AUROC %.4f [%.4f, %.4f], %lld pos / %lld neg", name.c_str(), a.category.c_str(),
                           a.auroc, a.ci_low, a.ci_high, a.n_pos, a.n_neg);
        bars.push_back(b);
      }
    }
    h += "<figure>" + svg_bar_chart(bars, series, "AUROC") + "<figcaption>" + html_escape(ts.first.first) +
         ", score " + html_escape(ts.first.second) + ": AUROC per category (95% bootstrap interval)</figcaption></figure>";
  }
  return h + "</div>";
}

// Per task and model: each run's losses and validation metric per epoch.
std::string curves(const ResultsTree& tree) {
  std::string h, last_group;
  for (const TrainingRun& r : tree.training) {
    const std::string group = r.task + " / " + r.model;
    if (group != last_group) {
      if (!last_group.empty()) h += "</div>";
      h += "<h3>" + html_escape(group) + "</h3><div class=\"charts\">";
      last_group = group;
    }
    const std::string name = r.run.empty() ? r.model : r.run;
    if (r.curve.empty()) {
      h += "<figure><figcaption>" + html_escape(name) + ": no losses.csv</figcaption></figure>";
      continue;
    }
    SvgSeries train{"train_loss", 0, {}, {}}, val{"val_loss", 1, {}, {}}, metric{r.val_metric, 2, {}, {}};
    for (const EpochCurve& e : r.curve) {
      for (SvgSeries* s : {&train, &val, &metric}) s->x.push_back(e.epoch);
      train.y.push_back(e.train_loss);
      val.y.push_back(e.val_loss);
      metric.y.push_back(e.val_metric);
    }
    const std::string attrs = "class=\"curve\" data-task=\"" + html_escape(r.task) + "\" data-model=\"" +
                              html_escape(r.model) + "\" data-run=\"" + html_escape(r.run) + "\" data-epochs=\"" +
                              std::to_string(r.curve.size()) + "\"";
    h += "<figure " + attrs + ">" + svg_line_chart({train, val}, "epoch", "loss") +
         svg_line_chart({metric}, "epoch", r.val_metric) + "<figcaption>" + html_escape(name) + " (" +
         html_escape(r.dir) + ")</figcaption></figure>";
  }
  if (!last_group.empty()) h += "</div>";
  return h;
}

}  // namespace

std::string report_html(const ResultsTree& tree, const ReportTable& table, const std::string& title) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
                  "</title><style>" + kStyle + "</style></head><body>\n<h1>" + html_escape(title) + "</h1>\n";
  h += "<p class=\"note\">Each cell: the task's headline test metric (BEND's scripts/list_metrics.py: the second "
       "test_* column of best_model_metrics.csv; variant tasks: AUROC of the first score over all variants) as mean ± "
       "population sd over the model's runs (folds, seeds) and their number n. Best mean per column in bold.</p>\n";
  h += table_html(table) + "\n<h2>Tasks across models</h2>\n" + task_bars(table) + "\n";
  if (!tree.variants.empty()) h += "<h2>Variant effects: AUROC per category</h2>\n" + variant_bars(tree) + "\n";
  if (!tree.training.empty()) h += "<h2>Training curves</h2>\n" + curves(tree) + "\n";
  // the page's only script: marks the page as rendered (tests read data-ready from the DOM)
  h += "<script>document.body.setAttribute('data-ready', String(document.querySelectorAll('svg').length));"
       "</script>\n</body></html>\n";
  return h;
}

}  // namespace bend
