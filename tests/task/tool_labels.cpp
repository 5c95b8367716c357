// Test bridge for the label sources: prints describe() and then every row as
// "row<TAB>is_float<TAB>shape(comma)<TAB>values(comma)"; floats with %.9g (exact float32).
//   tool_labels hdf5 PATH DATASET N_BED_ROWS [BED_PATH]
//   tool_labels column BED DEPTH
//   tool_labels none N_ROWS
// With --threads T as the first argument, rows are also read from T threads at once and must
// equal the sequential read ("threads ok" on stderr).
// Errors go to stderr as "error: <message>" with exit status 1.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/task/bed.hpp"
#include "bend/task/labels.hpp"

namespace {

std::string format_row(int64_t row, const bend::LabelRow& r) {
  std::string s = std::to_string(row) + "\t" + (r.is_float ? "1" : "0") + "\t";
  for (size_t i = 0; i < r.shape.size(); ++i) s += (i ? "," : "") + std::to_string(r.shape[i]);
  s += "\t";
  char buf[64];
  size_t n = r.is_float ? r.floats.size() : r.ints.size();
  for (size_t i = 0; i < n; ++i) {
    if (r.is_float) {
      std::snprintf(buf, sizeof buf, "%s%.9g", i ? "," : "", r.floats[i]);
    } else {
      std::snprintf(buf, sizeof buf, "%s%lld", i ? "," : "", (long long)r.ints[i]);
    }
    s += buf;
  }
  return s;
}

// Reads all rows from `n_threads` threads (interleaved) and compares with `want`.
void check_threads(bend::LabelSource& src, const std::vector<std::string>& want, int n_threads) {
  std::vector<std::string> got(want.size());
  std::vector<std::thread> threads;
  std::vector<std::string> errors(n_threads);
  for (int t = 0; t < n_threads; ++t) {
    threads.emplace_back([&, t] {
      try {
        bend::LabelRow r;
        for (size_t i = t; i < want.size(); i += n_threads) {
          src.read(static_cast<int64_t>(i), r);
          got[i] = format_row(static_cast<int64_t>(i), r);
        }
      } catch (const std::exception& e) {
        errors[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& e : errors) {
    if (!e.empty()) bend::fail("thread: %s", e.c_str());
  }
  if (got != want)
    bend::fail("rows read from %d threads differ from the sequential read", n_threads);
  std::fprintf(stderr, "threads ok\n");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    int n_threads = 0;
    int a = 1;
    if (argc > 2 && std::strcmp(argv[1], "--threads") == 0) {
      n_threads = std::atoi(argv[2]);
      a = 3;
    }
    std::string mode = argc > a ? argv[a] : "";
    std::unique_ptr<bend::LabelSource> src;
    int64_t n_rows = 0;
    if (mode == "hdf5" && argc - a >= 4) {
      n_rows = std::atoll(argv[a + 3]);
      std::string bed = argc - a >= 5 ? argv[a + 4] : "";
      int32_t depth = argc - a >= 6 ? std::atoi(argv[a + 5]) : 0;
      src = bend::labels_from_hdf5(argv[a + 1], argv[a + 2], n_rows, bed, depth);
    } else if (mode == "column" && argc - a >= 3) {
      bend::BedTable t = bend::read_bed(argv[a + 1], bend::BedOptions());
      n_rows = static_cast<int64_t>(t.rows.size());
      src = bend::labels_from_column(t, std::atoi(argv[a + 2]));
    } else if (mode == "none" && argc - a >= 2) {
      n_rows = std::atoll(argv[a + 1]);
      src = bend::labels_none();
    } else {
      std::fprintf(stderr,
                   "usage: tool_labels [--threads T] hdf5 PATH DATASET N [BED [DEPTH]] | "
                   "column BED DEPTH | none N\n");
      return 2;
    }
    std::printf("%s\n", src->describe().c_str());
    std::vector<std::string> rows;
    bend::LabelRow r;
    for (int64_t i = 0; i < n_rows; ++i) {
      src->read(i, r);
      rows.push_back(format_row(i, r));
      std::printf("%s\n", rows.back().c_str());
    }
    if (n_threads > 0) check_threads(*src, rows, n_threads);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
