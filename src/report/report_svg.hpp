// Inline SVG charts for `bend report` (private to src/report): bars with whiskers, grouped;
// lines over epochs. Plain strings, no script; each mark carries a <title> tooltip.
#pragma once

#include <string>
#include <vector>

namespace bend {

// One bar: in x group `group`, coloured by series index; whisker from lo to hi (equal to value:
// none). `attrs` are added to the bar's <rect> as they are (already escaped).
struct SvgBar {
  std::string group;
  int series = 0;
  double value = 0, lo = 0, hi = 0;
  std::string attrs, tooltip;
};

// A line: (x, y) points, coloured by index; NaN points are left out.
struct SvgSeries {
  std::string name;
  int color = 0;
  std::vector<double> x, y;
};

// Bars grouped along x in order of first appearance; `series_names` (may be empty: one series)
// become a legend. y from min(0, lowest) to the highest value or whisker end (1 when all lie
// in [0, 1]).
std::string svg_bar_chart(const std::vector<SvgBar>& bars, const std::vector<std::string>& series_names,
                          const std::string& y_label);

// Lines with a legend; axes spanning the data.
std::string svg_line_chart(const std::vector<SvgSeries>& series, const std::string& x_label, const std::string& y_label);

}  // namespace bend
