#include "bend/variants/variant_output.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/variants/variant_table.hpp"

namespace bend {

namespace {

// Reads the shard files one line at a time, in order.
class ShardCursor {
 public:
  ShardCursor(const std::vector<std::string>& files, size_t n_scores) : files_(files), n_scores_(n_scores) {
    advance();
  }
  // The scores of data row `row` when the next shard line holds it (then consumed), else false.
  bool take(int64_t row, std::vector<std::string>& cells) {
    if (done_ || row_ != row) return false;
    cells = cells_;
    advance();
    return true;
  }
  // Throws when shard lines are left over (rows the table does not have).
  void finish() const {
    if (!done_) fail("%s:%lld: row %lld is not a row of the variant file", where_.c_str(), (long long)line_,
                     (long long)row_);
  }

 private:
  void advance() {
    std::string line;
    while (true) {
      if (!in_.is_open() || !std::getline(in_, line)) {
        if (in_.is_open() && in_.bad()) fail("%s: read error", files_[file_ - 1].c_str());
        if (file_ >= files_.size()) {
          done_ = true;
          return;
        }
        in_.close();
        in_.clear();
        in_.open(files_[file_], std::ios::binary);
        if (!in_) fail("%s: cannot open: %s", files_[file_].c_str(), std::strerror(errno));
        where_ = files_[file_++];
        line_ = 0;
        continue;
      }
      ++line_;
      break;
    }
    size_t tab = line.find('\t');
    char* end = nullptr;
    int64_t row = std::strtoll(line.c_str(), &end, 10);
    if (tab == std::string::npos || end != line.c_str() + tab || (!done_ && row <= row_ && have_row_)) {
      fail("%s:%lld: malformed score line '%s'", where_.c_str(), (long long)line_, line.c_str());
    }
    cells_.clear();
    size_t b = tab + 1;
    while (true) {
      size_t e = line.find('\t', b);
      cells_.push_back(line.substr(b, e == std::string::npos ? std::string::npos : e - b));
      if (e == std::string::npos) break;
      b = e + 1;
    }
    if (cells_.size() != n_scores_) {
      fail("%s:%lld: %zu scores, expected %zu", where_.c_str(), (long long)line_, cells_.size(), n_scores_);
    }
    row_ = row;
    have_row_ = true;
  }

  const std::vector<std::string>& files_;
  size_t n_scores_;
  size_t file_ = 0;
  std::ifstream in_;
  std::string where_;
  int64_t line_ = 0;
  int64_t row_ = -1;
  bool have_row_ = false;
  bool done_ = false;
  std::vector<std::string> cells_;
};

// The output table's temporary file, plain or gzip (zlib level 6, no name or time in the header:
// the bytes depend on the content only). close() flushes and fsyncs; otherwise the destructor
// removes the file.
class TableSink {
 public:
  TableSink(std::string tmp, bool gz) : tmp_(std::move(tmp)) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("%s: cannot create: %s", tmp_.c_str(), std::strerror(errno));
    int fd2 = ::dup(fd_);
    if (gz) {
      gz_ = fd2 >= 0 ? gzdopen(fd2, "wb6") : nullptr;
    } else {
      f_ = fd2 >= 0 ? fdopen(fd2, "wb") : nullptr;
    }
    if (!gz_ && !f_) {
      if (fd2 >= 0) ::close(fd2);
      fail("%s: cannot open for writing: %s", tmp_.c_str(), std::strerror(errno));
    }
  }
  ~TableSink() {
    if (fd_ < 0) return;
    if (gz_) gzclose(gz_);
    if (f_) std::fclose(f_);
    ::close(fd_);
    std::remove(tmp_.c_str());
  }
  void put(const std::string& s) {
    bool ok = gz_ ? gzwrite(gz_, s.data(), static_cast<unsigned>(s.size())) == static_cast<int>(s.size())
                  : std::fwrite(s.data(), 1, s.size(), f_) == s.size();
    if (!ok) fail("%s: write failed: %s", tmp_.c_str(), std::strerror(errno));
  }
  void close() {
    bool ok = gz_ ? gzclose(gz_) == Z_OK : std::fclose(f_) == 0;
    gz_ = nullptr;
    f_ = nullptr;
    ok = ok && ::fsync(fd_) == 0;
    ok = ::close(fd_) == 0 && ok;
    fd_ = -1;
    if (!ok) {
      std::remove(tmp_.c_str());
      fail("%s: write failed: %s", tmp_.c_str(), std::strerror(errno));
    }
  }

 private:
  std::string tmp_;
  int fd_ = -1;
  gzFile gz_ = nullptr;
  FILE* f_ = nullptr;
};

// 1, 0, or -1 for a value that is no binary label.
int parse_label(const std::string& s) {
  if (s == "1" || s == "1.0" || s == "true" || s == "True") return 1;
  if (s == "0" || s == "0.0" || s == "false" || s == "False") return 0;
  return -1;
}

std::string field(const std::string& line, int col) {
  size_t b = 0;
  for (int i = 0; i < col; ++i) {
    b = line.find('\t', b);
    if (b == std::string::npos) return "";
    ++b;
  }
  size_t e = line.find('\t', b);
  return line.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

// Rows of one score being evaluated.
struct EvalColumn {
  std::vector<double> score;
  std::vector<uint8_t> label;
  std::vector<int32_t> category;
};

void evaluate(const std::vector<std::string>& score_names, const std::vector<EvalColumn>& cols,
              const std::vector<std::string>& categories, const VariantEvalSettings& ev,
              VariantTableResult& res) {
  std::map<std::string, int32_t> by_name;  // categories in name order
  for (size_t c = 0; c < categories.size(); ++c) by_name[categories[c]] = static_cast<int32_t>(c);
  uint64_t seed = ev.seed;
  for (size_t s = 0; s < cols.size(); ++s) {
    AurocRow all = auroc_with_ci(cols[s].score, cols[s].label, ev.bootstrap, seed++, ev.n_threads);
    all.score = score_names[s];
    all.category = "all";
    res.auroc.push_back(all);
    for (const auto& kv : by_name) {
      EvalColumn sub;
      for (size_t i = 0; i < cols[s].score.size(); ++i) {
        if (cols[s].category[i] != kv.second) continue;
        sub.score.push_back(cols[s].score[i]);
        sub.label.push_back(cols[s].label[i]);
      }
      AurocRow r = auroc_with_ci(sub.score, sub.label, ev.bootstrap, seed++, ev.n_threads);
      r.score = score_names[s];
      r.category = kv.first;
      res.auroc.push_back(r);
    }
  }
}

}  // namespace

VariantTableResult write_variant_scores(const VariantTable& table, const std::vector<std::string>& shard_files,
                                        const std::vector<std::string>& score_names,
                                        const VariantEvalSettings& ev, const std::string& out_path) {
  VariantTableResult res;
  const int col_label = ev.label_column.empty() ? -1 : find_variant_column(table, ev.label_column);
  const int col_cat = ev.category_column.empty() ? -1 : find_variant_column(table, ev.category_column);
  if (!ev.category_column.empty() && col_cat < 0) {
    fail("%s:1: no column '%s' (--category)", table.path.c_str(), ev.category_column.c_str());
  }
  res.evaluated = col_label >= 0;
  std::ifstream in(table.path, std::ios::binary);
  if (!in) fail("%s: cannot open: %s", table.path.c_str(), std::strerror(errno));
  const std::string tmp = out_path + ".tmp";
  const bool gz = out_path.size() > 3 && out_path.compare(out_path.size() - 3, 3, ".gz") == 0;
  TableSink out(tmp, gz);
  std::vector<EvalColumn> cols(score_names.size());
  std::vector<std::string> categories;
  std::map<std::string, int32_t> cat_ids;
  {
    ShardCursor cursor(shard_files, score_names.size());
    std::string line, text;
    std::vector<std::string> cells;
    int64_t line_no = 0, row = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      text = line;
      if (line_no == 1) {
        for (const std::string& n : score_names) text += "\t" + n;
      } else if (line.find_first_not_of(" \t") == std::string::npos) {
        continue;
      } else {
        if (row >= static_cast<int64_t>(table.rows.size()) || table.rows[row].line != line_no) {
          fail("%s:%lld: the file changed while bend variants ran", table.path.c_str(), (long long)line_no);
        }
        bool scored = cursor.take(row, cells);
        res.n_scored += scored;
        int label = col_label >= 0 ? parse_label(field(line, col_label)) : -1;
        if (col_label >= 0 && label < 0) ++res.n_unlabelled;
        int32_t cat = -1;
        if (col_cat >= 0 && label >= 0) {
          std::string c = field(line, col_cat);
          auto it = cat_ids.find(c);
          if (it == cat_ids.end()) {
            it = cat_ids.emplace(c, static_cast<int32_t>(categories.size())).first;
            categories.push_back(c);
          }
          cat = it->second;
        }
        for (size_t s = 0; s < score_names.size(); ++s) {
          text += "\t" + (scored ? cells[s] : std::string("NA"));
          double v = scored ? std::strtod(cells[s].c_str(), nullptr) : std::nan("");
          if (label >= 0 && !std::isnan(v)) {
            cols[s].score.push_back(v);
            cols[s].label.push_back(static_cast<uint8_t>(label));
            cols[s].category.push_back(cat);
          }
        }
        ++row;
      }
      text += '\n';
      out.put(text);
    }
    if (in.bad()) fail("%s: read error", table.path.c_str());
    if (row != static_cast<int64_t>(table.rows.size())) {
      fail("%s: the file changed while bend variants ran (%lld rows, %zu before)", table.path.c_str(),
           (long long)row, table.rows.size());
    }
    cursor.finish();
    res.n_rows = row;
  }
  out.close();
  rename_durable(tmp, out_path);
  if (res.evaluated) evaluate(score_names, cols, categories, ev, res);
  return res;
}

}  // namespace bend
