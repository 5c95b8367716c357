// BED parsing: the file is read in 1 MiB blocks and split into lines and fields as string_views;
// no per-row iostreams or allocations beyond the table itself.
#include "bend/task/bed.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "bend/core/error.hpp"
#include "bend/genome/fasta.hpp"

namespace bend {

namespace {

using Fields = std::vector<std::string_view>;

[[noreturn]] void fail_at(const std::string& path, int64_t line_no, const std::string& msg) {
  fail("%s:%lld: %s", path.c_str(), static_cast<long long>(line_no), msg.c_str());
}

std::string str(std::string_view s) {
  return std::string(s.data(), s.size());
}

// Opens a BED file for reading, with the errors read_bed documents.
std::unique_ptr<FILE, int (*)(FILE*)> open_bed(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) fail("BED '%s': file not found", path.c_str());
    fail("BED '%s': cannot access: %s", path.c_str(), std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) fail("BED '%s': is a directory, not a BED file", path.c_str());
  // A FIFO or device would block or be read once of the two passes read_bed makes.
  if (!S_ISREG(st.st_mode)) fail("BED '%s': not a regular file (a pipe or device?)", path.c_str());
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail("BED '%s': cannot open: %s", path.c_str(), std::strerror(errno));
  return {f, &std::fclose};
}

// Calls on_line(line) for every line of `path` (without its '\n'; a last line without one
// included), reading 1 MiB at a time: the file is never held whole (its text would add to the
// table's memory while the table is built).
template <class OnLine>
void for_each_line(const std::string& path, OnLine&& on_line) {
  auto f = open_bed(path);
  std::vector<char> buf(1 << 20);
  std::string carry;  // the start of a line that continues in the next block
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) {
    size_t pos = 0;
    while (pos < n) {
      const char* nl = static_cast<const char*>(std::memchr(buf.data() + pos, '\n', n - pos));
      if (!nl) {
        carry.append(buf.data() + pos, n - pos);
        break;
      }
      const size_t end = static_cast<size_t>(nl - buf.data());
      if (carry.empty()) {
        on_line(std::string_view(buf.data() + pos, end - pos));
      } else {
        carry.append(buf.data() + pos, end - pos);
        on_line(std::string_view(carry));
        carry.clear();
      }
      pos = end + 1;
    }
  }
  if (std::ferror(f.get())) fail("BED '%s': read error", path.c_str());
  if (!carry.empty()) on_line(std::string_view(carry));
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// `s` without spaces, CR, VT and FF at either end (tabs kept: they separate fields).
std::string_view trim_pad(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && s[b] != '\t' && is_space(s[b])) ++b;
  while (e > b && s[e - 1] != '\t' && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Tab-separated when the line has a tab (empty fields kept, each trimmed of spaces);
// otherwise separated by runs of spaces.
void split_fields(std::string_view line, Fields& out) {
  out.clear();
  if (line.find('\t') != std::string_view::npos) {
    size_t b = 0;
    while (true) {
      size_t tab = line.find('\t', b);
      size_t e = tab == std::string_view::npos ? line.size() : tab;
      out.push_back(trim(line.substr(b, e - b)));
      if (tab == std::string_view::npos) break;
      b = tab + 1;
    }
    return;
  }
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t b = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > b) out.push_back(line.substr(b, i - b));
  }
}

// Non-negative decimal integer without sign; false when empty, malformed or overflowing.
bool parse_count(std::string_view s, int64_t& v) {
  if (s.empty()) return false;
  int64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    if (x > (INT64_MAX - 9) / 10) return false;
    x = x * 10 + (c - '0');
  }
  v = x;
  return true;
}

// Integer with an optional leading '-' (a negative coordinate is data, not a header name).
bool looks_numeric(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  int64_t v;
  return parse_count(s, v);
}

std::string lower(std::string_view s) {
  std::string out = str(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

std::string join(const Fields& f) {
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) out += (i ? " " : "") + str(f[i]);
  return out;
}

// Interns names in order of first appearance; remembers the last hit (sorted BEDs repeat it).
class Interner {
 public:
  explicit Interner(std::vector<std::string>& names) : names_(names) {}
  // `added` (optional) is set to whether `name` was new.
  int32_t id(std::string_view name, bool* added = nullptr) {
    if (added) *added = false;
    if (last_ >= 0 && names_[last_] == name) return last_;
    std::string key = str(name);
    auto it = ids_.find(key);
    if (it == ids_.end()) {
      it = ids_.emplace(key, static_cast<int32_t>(names_.size())).first;
      names_.push_back(key);
      if (added) *added = true;
    }
    last_ = it->second;
    return last_;
  }

 private:
  std::vector<std::string>& names_;
  std::unordered_map<std::string, int32_t> ids_;
  int32_t last_ = -1;
};

// Parses the header (or the first headerless row) and then every data row into the table.
class BedParser {
 public:
  BedParser(BedTable& t, const BedOptions& opt)
      : t_(t), opt_(opt), chroms_(t.chrom_names), splits_(t.split_names) {}

  void header(const Fields& f, int64_t line_no);
  void headerless(const Fields& f, int64_t line_no);
  // `tabs`: the line is tab-separated (every field present, empty ones included).
  void row(const Fields& f, int64_t line_no, bool tabs);
  // At most this many data rows follow (the file's line count): label offsets are reserved once.
  void expect_rows(int64_t n) { expected_rows_ = n; }

 private:
  void parse_label(std::string_view s, int64_t line_no);
  void check_required_fields(const Fields& f, int64_t line_no, bool label_dropped) const;
  void check_split_name(std::string_view name, int64_t line_no) const;

  BedTable& t_;
  const BedOptions& opt_;
  Interner chroms_;
  Interner splits_;
  std::string header_text_;
  int n_cols_ = 0;  // header columns; minimum columns when headerless
  int strand_col_ = -1, label_col_ = -1, split_col_ = -1;
  int64_t expected_rows_ = 0;
};

void BedParser::header(const Fields& f, int64_t line_no) {
  header_text_ = join(f);
  if (f.size() < 3) {
    fail_at(t_.path, line_no,
            strfmt("header '%s' has %zu columns; expected at least "
                   "'chromosome start end'",
                   header_text_.c_str(), f.size()));
  }
  for (size_t i = 3; i < f.size(); ++i) {
    std::string name = lower(f[i]);
    int* col = name == "strand"  ? &strand_col_
               : name == "label" ? &label_col_
               : name == "split" ? &split_col_
                                 : nullptr;
    if (!col) continue;  // other columns (ids, ref/alt, ...) are ignored here
    if (*col >= 0) fail_at(t_.path, line_no, "header names column '" + name + "' twice");
    *col = static_cast<int>(i);
  }
  n_cols_ = static_cast<int>(f.size());
  t_.has_header = true;
  t_.has_strand = strand_col_ >= 0;
  t_.has_label = label_col_ >= 0;
  t_.has_split = split_col_ >= 0;
  if (!t_.has_split && opt_.require_split) {
    fail_at(t_.path, line_no,
            "missing split column (header: '" + header_text_ +
                "'; BEND files end with a 'split' column)");
  }
}

void BedParser::headerless(const Fields& f, int64_t line_no) {
  n_cols_ = f.size() >= 6 ? 6 : 3;  // BED6 carries the strand in column 6
  strand_col_ = f.size() >= 6 ? 5 : -1;
  t_.has_strand = strand_col_ >= 0;
  if (opt_.require_split) {
    fail_at(t_.path, line_no,
            "missing split column (headerless BED has none; add a header "
            "row 'chromosome start end ... split')");
  }
}

// Every column but the label and extra ones must have a value: chromosome, start, end, strand,
// split. An empty one is an error naming its column.
void BedParser::check_required_fields(const Fields& f, int64_t line_no, bool label_dropped) const {
  auto check = [&](int i, const char* name) {
    if (i < 0) return;
    const int at = label_dropped && i > label_col_ ? i - 1 : i;
    if (at < static_cast<int>(f.size()) && f[at].empty()) {
      fail_at(t_.path, line_no, strfmt("empty %s field (column %d)", name, i + 1));
    }
  };
  check(0, "chromosome");
  check(1, "start");
  check(2, "end");
  check(strand_col_, "strand");
  check(split_col_, "split");
}

// Split names become file names (`<split>-NNNNN.tfrecord`, `<split>.h5`): letters, digits,
// '_', '-' and '.', not starting with '.', at most kMaxSplitNameLen characters.
void BedParser::check_split_name(std::string_view name, int64_t line_no) const {
  std::string why = split_name_problem(name);
  if (!why.empty()) fail_at(t_.path, line_no, "split name '" + str(name) + "' " + why);
}

void BedParser::parse_label(std::string_view s, int64_t line_no) {
  size_t b = 0;
  while (!s.empty()) {
    size_t comma = s.find(',', b);
    std::string_view tok = trim(s.substr(b, comma == std::string_view::npos ? s.npos : comma - b));
    int64_t id;
    if (!parse_count(tok, id) || id > INT32_MAX) {
      fail_at(t_.path, line_no,
              "label '" + str(s) +
                  "' is not a comma-separated list of "
                  "non-negative integer class ids");
    }
    if (opt_.label_depth > 0 && id >= opt_.label_depth) {
      fail_at(t_.path, line_no,
              strfmt("label id %lld is >= label_depth %d", (long long)id, opt_.label_depth));
    }
    t_.label_ids.push_back(static_cast<int32_t>(id));
    if (comma == std::string_view::npos) break;
    b = comma + 1;
  }
}

// A split column value that reads as a label (class ids and commas): in a space-separated row
// one field short, the split is then more likely missing than the label empty.
bool looks_like_label(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if ((c < '0' || c > '9') && c != ',') return false;
  }
  return true;
}

void BedParser::row(const Fields& f, int64_t line_no, bool tabs) {
  const int n = static_cast<int>(f.size());
  bool label_dropped = false;  // space-separated row whose empty label collapsed away
  if (t_.has_header && n != n_cols_) {
    // Only runs of spaces can swallow an empty label; a tab-separated row has every field.
    const int split_at = split_col_ > label_col_ ? split_col_ - 1 : split_col_;
    if (!tabs && n == n_cols_ - 1 && label_col_ >= 0 &&
        (split_at < 0 || !looks_like_label(f[split_at]))) {
      label_dropped = true;
    } else {
      fail_at(t_.path, line_no,
              strfmt("%s columns: found %d, the header '%s' has %d",
                     n < n_cols_ ? "missing" : "too many", n, header_text_.c_str(), n_cols_));
    }
  } else if (!t_.has_header && n < n_cols_) {
    fail_at(t_.path, line_no,
            strfmt("missing columns: found %d, BED%d needs %d", n, n_cols_, n_cols_));
  }
  auto col = [&](int i) { return label_dropped && i > label_col_ ? f[i - 1] : f[i]; };

  Region r;
  // Non-data lines before this row: recorded where their count changes (BedTable::line_of).
  const int64_t row_index = static_cast<int64_t>(t_.rows.size());
  const int64_t skipped = line_no - 1 - row_index;
  if (skipped != (t_.line_skips.empty() ? 0 : t_.line_skips.back().second)) {
    t_.line_skips.emplace_back(row_index, skipped);
  }
  check_required_fields(f, line_no, label_dropped);
  r.chrom_id = chroms_.id(f[0]);
  if (!parse_count(f[1], r.start_bp)) {
    fail_at(t_.path, line_no, "start '" + str(f[1]) + "' is not a non-negative integer");
  }
  if (!parse_count(f[2], r.end_bp)) {
    fail_at(t_.path, line_no, "end '" + str(f[2]) + "' is not a non-negative integer");
  }
  if (r.end_bp <= r.start_bp) {
    fail_at(t_.path, line_no,
            strfmt("end %lld <= start %lld", (long long)r.end_bp, (long long)r.start_bp));
  }
  if (strand_col_ >= 0) {
    std::string_view s = col(strand_col_);
    if (s.size() != 1 || (s[0] != '+' && s[0] != '-' && s[0] != '.')) {
      fail_at(t_.path, line_no, "bad strand '" + str(s) + "' (expected +, - or .)");
    }
    r.strand = s[0];
  }
  if (label_col_ >= 0 && !label_dropped) parse_label(col(label_col_), line_no);
  if (t_.has_label) {
    if (t_.label_offsets.empty()) {
      t_.label_offsets.reserve(static_cast<size_t>(expected_rows_) + 1);
      t_.label_offsets.push_back(0);
    }
    t_.label_offsets.push_back(static_cast<int64_t>(t_.label_ids.size()));
  }
  bool added = false;
  const std::string_view split_name = split_col_ >= 0 ? col(split_col_) : std::string_view(opt_.default_split);
  const int32_t split = splits_.id(split_name, &added);
  if (added) check_split_name(split_name, line_no);
  if (split >= kMaxSplits) fail_at(t_.path, line_no, strfmt("more than %d different splits", kMaxSplits));
  r.split_id = static_cast<int16_t>(split);
  t_.rows.push_back(r);
}

// The first line is a header when neither its start nor end field is a number.
bool looks_like_header(const Fields& f) {
  return f.size() >= 3 && !looks_numeric(f[1]) && !looks_numeric(f[2]);
}

}  // namespace

std::string split_name_problem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > static_cast<size_t>(kMaxSplitNameLen)) {
    return strfmt("is longer than %d characters", kMaxSplitNameLen);
  }
  if (name[0] == '.') return "starts with '.' (split names become file names)";
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) {
      return "has characters other than letters, digits, '_', '-' and '.' (split names become "
             "file names)";
    }
  }
  return "";
}

BedTable read_bed(const std::string& path, const BedOptions& opt) {
  BedTable t;
  t.path = path;
  // A first pass counts the lines, so the row table is allocated once at its final size (grown
  // by doubling, it briefly needed up to 1.5x that while a copy moved).
  int64_t n_lines = 0;
  for_each_line(path, [&](std::string_view) { ++n_lines; });
  t.rows.reserve(static_cast<size_t>(n_lines));
  BedParser parser(t, opt);
  parser.expect_rows(n_lines);
  Fields f;
  bool started = false;
  int64_t line_no = 0;
  for_each_line(path, [&](std::string_view raw) {
    ++line_no;
    if (trim(raw).empty()) return;  // blank (spaces, tabs, CR only)
    // Tabs at either end are empty fields of a tab-separated row, not padding.
    std::string_view line = trim_pad(raw);
    if (line[0] == '#') {  // comment, or a '#chrom start end ...' header on the first line
      split_fields(trim(line.substr(1)), f);
      if (!started && looks_like_header(f)) {
        started = true;
        parser.header(f, line_no);
      }
      return;
    }
    split_fields(line, f);
    const bool tabs = line.find('\t') != std::string_view::npos;
    if (!started && (f[0] == "track" || f[0] == "browser")) return;  // UCSC browser lines
    if (!started) {
      started = true;
      if (looks_like_header(f)) {
        parser.header(f, line_no);
        return;
      }
      parser.headerless(f, line_no);
    }
    parser.row(f, line_no, tabs);
  });
  if (t.rows.empty()) fail("BED '%s': no data rows", path.c_str());
  return t;
}

int64_t BedTable::line_of(int64_t row) const {
  auto after = std::upper_bound(line_skips.begin(), line_skips.end(), row,
                                [](int64_t r, const std::pair<int64_t, int64_t>& e) { return r < e.first; });
  return row + 1 + (after == line_skips.begin() ? 0 : std::prev(after)->second);
}

void validate_regions(const BedTable& bed, const FastaReader& fa, int64_t flank_bp) {
  if (flank_bp < 0)
    fail("BED '%s': flank %lld must be >= 0", bed.path.c_str(), (long long)flank_bp);
  std::vector<int64_t> len_bp(bed.chrom_names.size(), -2);  // -2 = not looked up yet
  for (size_t i = 0; i < bed.rows.size(); ++i) {
    const Region& r = bed.rows[i];
    const int64_t line_no = bed.line_of(static_cast<int64_t>(i));
    const std::string& chrom = bed.chrom_names[r.chrom_id];
    int64_t& len = len_bp[r.chrom_id];
    if (len == -2) len = fa.chrom_length(chrom);
    if (len < 0) {
      std::vector<std::pair<std::string, int64_t>> have = fa.chromosomes();
      std::string list;
      for (size_t i = 0; i < have.size() && i < 10; ++i) list += (i ? ", " : "") + have[i].first;
      if (have.size() > 10) list += strfmt(", ... (%zu in total)", have.size());
      fail_at(bed.path, line_no,
              "unknown chromosome '" + chrom + "' (FASTA " + fa.path() + " has: " + list + ")");
    }
    const long long s = r.start_bp, e = r.end_bp, fl = flank_bp;
    if (r.start_bp - flank_bp < 0) {
      fail_at(bed.path, line_no,
              strfmt("region %s:%lld-%lld with flank %lld starts before the beginning of %s "
                     "(start - flank = %lld) in %s",
                     chrom.c_str(), s, e, fl, chrom.c_str(), s - fl, fa.path().c_str()));
    }
    if (r.end_bp + flank_bp > len) {
      fail_at(bed.path, line_no,
              strfmt("region %s:%lld-%lld with flank %lld extends past the end of %s "
                     "(length %lld) in %s",
                     chrom.c_str(), s, e, fl, chrom.c_str(), (long long)len, fa.path().c_str()));
    }
  }
}

std::string region_string(const BedTable& bed, const Region& r) {
  return strfmt("%s:%lld-%lld(%c)", bed.chrom_names[r.chrom_id].c_str(), (long long)r.start_bp,
                (long long)r.end_bp, r.strand);
}

int32_t find_split(const BedTable& bed, const std::string& name) {
  for (size_t i = 0; i < bed.split_names.size(); ++i) {
    if (bed.split_names[i] == name) return static_cast<int32_t>(i);
  }
  return -1;
}

}  // namespace bend
