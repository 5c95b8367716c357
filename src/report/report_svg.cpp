#include "report_svg.hpp"

#include <algorithm>
#include <cmath>

#include "bend/core/error.hpp"
#include "bend/report/report_html.hpp"

namespace bend {

namespace {

const char* kColors[] = {"#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#000000"};
const char* color(int i) { return kColors[static_cast<size_t>(i) % (sizeof kColors / sizeof kColors[0])]; }

// Axis range and tick step: ticks at multiples of 1, 2 or 5 x 10^k, about five of them.
struct Axis {
  double lo = 0, hi = 1, step = 0.2;
  Axis(double a, double b) {
    if (!(b > a)) {  // one value (or none): a unit-wide range around it
      a = std::isfinite(a) ? a - 0.5 : 0;
      b = a + 1;
    }
    double raw = (b - a) / 5, mag = std::pow(10, std::floor(std::log10(raw)));
    double f = raw / mag;
    step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    lo = std::floor(a / step + 1e-9) * step;
    hi = std::ceil(b / step - 1e-9) * step;
  }
};

std::string num(double v) { return strfmt("%.2f", v); }
std::string tick_text(double v, double step) {
  int digits = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return strfmt("%.*f", digits, std::fabs(v) < step * 1e-6 ? 0.0 : v);
}

// Frame: y axis with ticks and grid, x axis line, y label. Plot area [x0, x1] x [y0 (top), y1].
std::string frame(const Axis& ax, double x0, double x1, double y0, double y1, const std::string& y_label) {
  std::string s;
  for (double v = ax.lo; v <= ax.hi + ax.step * 1e-6; v += ax.step) {
    double y = y1 - (v - ax.lo) / (ax.hi - ax.lo) * (y1 - y0);
    s += "<line x1=\"" + num(x0) + "\" x2=\"" + num(x1) + "\" y1=\"" + num(y) + "\" y2=\"" + num(y) +
         "\" stroke=\"#eee\"/><text x=\"" + num(x0 - 4) + "\" y=\"" + num(y + 4) + "\" text-anchor=\"end\">" +
         tick_text(v, ax.step) + "</text>";
  }
  s += "<line x1=\"" + num(x0) + "\" x2=\"" + num(x0) + "\" y1=\"" + num(y0) + "\" y2=\"" + num(y1) +
       "\" stroke=\"#888\"/><line x1=\"" + num(x0) + "\" x2=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" y2=\"" +
       num(y1) + "\" stroke=\"#888\"/>";
  s += "<text transform=\"translate(12," + num((y0 + y1) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       html_escape(y_label) + "</text>";
  return s;
}

std::string legend(const std::vector<std::string>& names, const std::vector<int>& colors, double x, double y) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) {
    s += "<rect x=\"" + num(x) + "\" y=\"" + num(y - 9) + "\" width=\"10\" height=\"10\" fill=\"" + color(colors[i]) +
         "\"/><text x=\"" + num(x + 14) + "\" y=\"" + num(y) + "\">" + html_escape(names[i]) + "</text>";
    x += 24 + 7 * static_cast<double>(names[i].size());
  }
  return s;
}

}  // namespace

std::string svg_bar_chart(const std::vector<SvgBar>& bars, const std::vector<std::string>& series_names,
                          const std::string& y_label) {
  std::vector<std::string> groups;
  int n_series = 1;
  double lo = 0, hi = -HUGE_VAL;
  for (const SvgBar& b : bars) {
    if (std::find(groups.begin(), groups.end(), b.group) == groups.end()) groups.push_back(b.group);
    n_series = std::max(n_series, b.series + 1);
    for (double v : {b.value, b.lo, b.hi}) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (hi <= 1 && lo >= 0) hi = 1;
  Axis ax(lo, hi);
  // group labels are rotated -30 degrees and end under their group: the first one must not run
  // off the left edge (about 6.5 px per character)
  size_t longest = 0;
  for (const std::string& g : groups) longest = std::max(longest, g.size());
  const double bar_w = 18, group_w = bar_w * n_series + 14, top = 26, y1 = 200;
  const double x0 = std::max(52.0, 0.87 * 6.5 * static_cast<double>(longest) + 4 - (7 + bar_w * n_series / 2));
  const double width = std::max(300.0, x0 + group_w * static_cast<double>(groups.size()) + 16);
  const double height = y1 + 90;
  auto ypos = [&](double v) { return y1 - (v - ax.lo) / (ax.hi - ax.lo) * (y1 - top); };
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" + num(height) +
                  "\" viewBox=\"0 0 " + num(width) + " " + num(height) + "\">";
  s += frame(ax, x0, width - 8, top, y1, y_label);
  for (const SvgBar& b : bars) {
    const size_t g = static_cast<size_t>(std::find(groups.begin(), groups.end(), b.group) - groups.begin());
    const double x = x0 + 7 + group_w * static_cast<double>(g) + bar_w * b.series;
    const double v = std::isfinite(b.value) ? b.value : 0;
    const double ya = ypos(std::max(v, 0.0)), yb = ypos(std::min(v, 0.0));
    s += "<rect " + b.attrs + " x=\"" + num(x) + "\" y=\"" + num(ya) + "\" width=\"" + num(bar_w - 2) +
         "\" height=\"" + num(std::max(0.5, yb - ya)) + "\" fill=\"" + color(b.series) + "\"><title>" +
         html_escape(b.tooltip) + "</title></rect>";
    if (b.hi > b.lo && std::isfinite(b.lo) && std::isfinite(b.hi)) {
      const double xm = x + (bar_w - 2) / 2;
      s += "<path d=\"M" + num(xm) + " " + num(ypos(b.lo)) + "V" + num(ypos(b.hi)) + "M" + num(xm - 4) + " " +
           num(ypos(b.lo)) + "h8M" + num(xm - 4) + " " + num(ypos(b.hi)) + "h8\" stroke=\"#222\" fill=\"none\"/>";
    }
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    const double xc = x0 + 7 + group_w * static_cast<double>(g) + bar_w * n_series / 2;
    s += "<text transform=\"translate(" + num(xc) + "," + num(y1 + 12) + ") rotate(-30)\" text-anchor=\"end\">" +
         html_escape(groups[g]) + "</text>";
  }
  if (!series_names.empty()) {
    std::vector<int> colors;
    for (size_t i = 0; i < series_names.size(); ++i) colors.push_back(static_cast<int>(i));
    s += legend(series_names, colors, x0, 14);
  }
  return s + "</svg>";
}

std::string svg_line_chart(const std::vector<SvgSeries>& series, const std::string& x_label, const std::string& y_label) {
  double xl = HUGE_VAL, xh = -HUGE_VAL, yl = HUGE_VAL, yh = -HUGE_VAL;
  for (const SvgSeries& s : series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xl = std::min(xl, s.x[i]), xh = std::max(xh, s.x[i]);
      yl = std::min(yl, s.y[i]), yh = std::max(yh, s.y[i]);
    }
  }
  Axis ay(yl, yh);
  if (!(xh > xl)) xl = std::isfinite(xl) ? xl - 1 : 0, xh = xl + 2;
  const double x0 = 52, x1 = 300, top = 24, y1 = 170, width = 312, height = 200;
  auto px = [&](double x) { return x0 + (x - xl) / (xh - xl) * (x1 - x0); };
  auto py = [&](double y) { return y1 - (y - ay.lo) / (ay.hi - ay.lo) * (y1 - top); };
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" + num(height) +
                  "\" viewBox=\"0 0 " + num(width) + " " + num(height) + "\">";
  s += frame(ay, x0, x1, top, y1, y_label);
  s += "<text x=\"" + num(x0) + "\" y=\"" + num(y1 + 14) + "\">" + tick_text(xl, 1) + "</text><text x=\"" + num(x1) +
       "\" y=\"" + num(y1 + 14) + "\" text-anchor=\"end\">" + tick_text(xh, 1) + "</text><text x=\"" +
       num((x0 + x1) / 2) + "\" y=\"" + num(y1 + 26) + "\" text-anchor=\"middle\">" + html_escape(x_label) + "</text>";
  std::vector<std::string> names;
  std::vector<int> colors;
  for (const SvgSeries& ser : series) {
    std::string pts;
    for (size_t i = 0; i < ser.x.size(); ++i) {
      if (!std::isfinite(ser.y[i])) continue;
      pts += (pts.empty() ? "" : " ") + num(px(ser.x[i])) + "," + num(py(ser.y[i]));
      s += "<circle cx=\"" + num(px(ser.x[i])) + "\" cy=\"" + num(py(ser.y[i])) + "\" r=\"2\" fill=\"" +
           color(ser.color) + "\"><title>" + html_escape(ser.name) + strfmt(" epoch %g: %.5f", ser.x[i], ser.y[i]) +
           "</title></circle>";
    }
    s += "<polyline class=\"series\" data-series=\"" + html_escape(ser.name) + "\" points=\"" + pts +
         "\" fill=\"none\" stroke=\"" + color(ser.color) + "\" stroke-width=\"1.5\"/>";
    names.push_back(ser.name);
    colors.push_back(ser.color);
  }
  s += legend(names, colors, x0 + 4, 14);
  return s + "</svg>";
}

}  // namespace bend
