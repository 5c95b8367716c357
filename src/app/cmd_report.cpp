// `bend report`: BEND's results table (tasks x models) and an HTML page with plots, from a
// results tree (results_tree.hpp). Torch-free: runs in `bend` itself.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"
#include "bend/report/report_html.hpp"
#include "bend/report/report_table.hpp"
#include "bend/report/results_tree.hpp"
#include "cli_paths.hpp"
#include "commands.hpp"

namespace bend {

namespace {
struct ReportOptions {
  std::string root, out_dir, title = "BEND results";
};

void run_report(const ReportOptions& o) {
  ResultsTree tree = scan_results(o.root);
  if (tree.training.empty() && tree.variants.empty()) {
    fail("%s: no results found (no best_model_metrics.csv of bend train, no auroc.csv of bend variants)",
         o.root.c_str());
  }
  ReportTable table = build_table(tree);
  const std::string out = o.out_dir.empty() ? o.root : o.out_dir;
  make_dirs(out);
  const std::string md = "# " + o.title + "\n\n" + table_markdown(table);
  write_file_atomic(path_join(out, "report.md"), md);
  write_file_atomic(path_join(out, "report.csv"), table_csv(table));
  write_file_atomic(path_join(out, "report.html"), report_html(tree, table, o.title));
  std::fputs(md.c_str(), stdout);
  std::fflush(stdout);
  log_info("%zu training runs, %zu variant runs, %zu models x %zu tasks -> %s/report.{md,csv,html}",
           tree.training.size(), tree.variants.size(), table.models.size(), table.columns.size(), out.c_str());
}
}  // namespace

void add_report_command(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  CLI::App* r = app.add_subcommand("report", "BEND's results table (models x tasks, mean ± sd) and an HTML page with plots");
  r->add_option("root", o->root, "Results tree: <task>/<model>[/<run>] directories (or .../downstream_tasks/...)")
      ->required();
  r->add_option("--out", o->out_dir, "Where report.md, report.csv and report.html go (default: the results tree)");
  r->add_option("--title", o->title, "Title of the report")->capture_default_str();
  r->callback([o] {
    require_path("root", o->root, PathKind::kDirectory);
    run_report(*o);
  });
}

}  // namespace bend
