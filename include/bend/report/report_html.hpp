// `bend report`, step 3: the results as one self-contained HTML page (inline SVG drawn here, a
// few lines of inline script, no network): the table, a bar chart per task across models (mean
// and sd), the variant-effect AUROC per category (with the bootstrap interval), and the training
// curves of every run (losses.csv: train/val loss and the validation metric per epoch).
// Torch-free.
#pragma once

#include <string>

#include "bend/report/report_table.hpp"
#include "bend/report/results_tree.hpp"

namespace bend {

// The page. Every number shown is also in a data-* attribute at full precision (data-mean,
// data-sd, data-n on table cells and task bars; data-auroc on variant bars; data-epochs on curves)
// so that tests and scripts can read them from the DOM.
std::string report_html(const ResultsTree& tree, const ReportTable& table, const std::string& title);

// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(const std::string& s);

}  // namespace bend
