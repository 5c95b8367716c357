#include "bend/report/results_tree.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <tuple>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"

namespace bend {

namespace fs = std::filesystem;

size_t CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  fail("%s:1: no column '%s'", path.c_str(), name.c_str());
}

double CsvTable::number(size_t r, size_t c) const {
  const std::string& s = rows[r][c];
  if (s == "nan" || s == "NaN") return std::nan("");
  if (s == "inf") return HUGE_VAL;
  if (s == "-inf") return -HUGE_VAL;
  char* end = nullptr;
  errno = 0;
  double v = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE) {
    fail("%s:%d: column '%s': '%s' is not a number", path.c_str(), line[r], header[c].c_str(), s.c_str());
  }
  return v;
}

// Splits one CSV line into fields (RFC 4180 quotes; no line breaks inside quotes).
static std::vector<std::string> split_csv_line(const std::string& text, const std::string& path, int line_no) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (quoted) {
      if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        out.back() += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      out.emplace_back();
    } else {
      out.back() += ch;
    }
  }
  if (quoted) fail("%s:%d: unterminated quoted field", path.c_str(), line_no);
  return out;
}

CsvTable read_csv_table(const std::string& path) {
  CsvTable t;
  t.path = path;
  const std::string text = read_file(path);
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string ln = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    if (!ln.empty() && ln.back() == '\r') ln.pop_back();
    if (ln.empty()) continue;
    std::vector<std::string> f = split_csv_line(ln, path, line_no);
    if (t.header.empty()) {
      t.header = std::move(f);
      continue;
    }
    if (f.size() != t.header.size()) {
      fail("%s:%d: %zu fields, the header has %zu", path.c_str(), line_no, f.size(), t.header.size());
    }
    t.rows.push_back(std::move(f));
    t.line.push_back(line_no);
  }
  if (t.header.empty()) fail("%s:1: empty file (expected a header line)", path.c_str());
  return t;
}

void place_run(const std::string& rel, const std::string& dir, std::string& task, std::string& model,
               std::string& run) {
  std::vector<std::string> parts;
  for (const fs::path& p : fs::path(rel)) {
    if (!p.empty() && p != ".") parts.push_back(p.string());
  }
  size_t first = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "downstream_tasks") first = i + 1;
  }
  if (parts.size() < first + 2) {
    fail("%s: cannot tell its task and model: results are expected in <root>/<task>/<model>[/<run>] "
         "(or .../downstream_tasks/<task>/<model>/...); run bend report on a directory above the tasks",
         dir.c_str());
  }
  task = parts[first];
  model = parts[first + 1];
  run.clear();
  for (size_t i = first + 2; i < parts.size(); ++i) run += (run.empty() ? "" : "/") + parts[i];
}

// best_model_metrics.csv (and losses.csv) of one run directory.
static TrainingRun read_training_run(const std::string& dir) {
  TrainingRun r;
  r.dir = dir;
  CsvTable m = read_csv_table(path_join(dir, "best_model_metrics.csv"));
  // BEND's scripts/list_metrics.py: the headline is the second column named test_*
  std::vector<size_t> test_cols;
  for (size_t i = 0; i < m.header.size(); ++i) {
    if (m.header[i].compare(0, 5, "test_") == 0) test_cols.push_back(i);
  }
  if (test_cols.size() < 2) fail("%s:1: expected test_loss and a test metric column", m.path.c_str());
  if (m.rows.empty()) fail("%s:2: no result row", m.path.c_str());
  if (m.rows.size() > 1) {
    log_warn("%s: %zu result rows (BEND's trainer appends one per test); the last is reported", m.path.c_str(),
             m.rows.size());
  }
  r.metric = m.header[test_cols[1]];
  r.test_metric = m.number(m.rows.size() - 1, test_cols[1]);
  const std::string losses = path_join(dir, "losses.csv");
  if (!path_exists(losses)) return r;
  CsvTable l = read_csv_table(losses);
  if (l.header.size() != 4 || l.header[0] != "Epoch" || l.header[1] != "train_loss" || l.header[2] != "val_loss") {
    fail("%s:1: expected the header Epoch,train_loss,val_loss,val_<metric>", l.path.c_str());
  }
  r.val_metric = l.header[3];
  for (size_t i = 0; i < l.rows.size(); ++i) {
    EpochCurve e;
    e.epoch = static_cast<int>(l.number(i, 0));
    e.train_loss = l.number(i, 1);
    e.val_loss = l.number(i, 2);
    e.val_metric = l.number(i, 3);
    r.curve.push_back(e);
  }
  return r;
}

// auroc.csv of a `bend variants` output directory.
static VariantRun read_variant_run(const std::string& dir) {
  VariantRun v;
  v.dir = dir;
  CsvTable t = read_csv_table(path_join(dir, "auroc.csv"));
  const size_t c_score = t.column("score"), c_cat = t.column("category"), c_pos = t.column("n_pos"),
               c_neg = t.column("n_neg"), c_auc = t.column("auroc"), c_lo = t.column("ci_low"),
               c_hi = t.column("ci_high");
  for (size_t i = 0; i < t.rows.size(); ++i) {
    VariantAuroc a;
    a.score = t.rows[i][c_score];
    a.category = t.rows[i][c_cat];
    a.n_pos = static_cast<long long>(t.number(i, c_pos));
    a.n_neg = static_cast<long long>(t.number(i, c_neg));
    a.auroc = t.number(i, c_auc);
    a.ci_low = t.number(i, c_lo);
    a.ci_high = t.number(i, c_hi);
    v.rows.push_back(a);
  }
  if (v.rows.empty()) fail("%s:2: no AUROC row", t.path.c_str());
  return v;
}

ResultsTree scan_results(const std::string& root) {
  ResultsTree tree;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, ec), end;
  if (ec) fail("cannot read %s: %s", root.c_str(), ec.message().c_str());
  std::vector<std::string> dirs{root};
  for (; it != end; it.increment(ec)) {
    if (ec) fail("cannot read %s: %s", root.c_str(), ec.message().c_str());
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    if (it->path().filename() == "checkpoints") {
      it.disable_recursion_pending();
      continue;
    }
    dirs.push_back(it->path().string());
  }
  std::sort(dirs.begin(), dirs.end());
  for (const std::string& d : dirs) {
    const bool training = path_exists(path_join(d, "best_model_metrics.csv"));
    const bool variants = path_exists(path_join(d, "auroc.csv"));
    if (!training && !variants) continue;
    const std::string rel = fs::path(d).lexically_relative(root).string();
    std::string task, model, run;
    place_run(rel, d, task, model, run);
    if (training) {
      TrainingRun r = read_training_run(d);
      r.task = task, r.model = model, r.run = run;
      tree.training.push_back(std::move(r));
    }
    if (variants) {
      VariantRun v = read_variant_run(d);
      v.task = task, v.model = model, v.run = run;
      tree.variants.push_back(std::move(v));
    }
  }
  auto key = [](const auto& r) { return std::tie(r.task, r.model, r.run); };
  std::sort(tree.training.begin(), tree.training.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
  std::sort(tree.variants.begin(), tree.variants.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
  return tree;
}

}  // namespace bend
