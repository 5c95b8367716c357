// Test bridge for read_bed / validate_regions: prints the parsed table as text.
//   tool_bed_dump BED [--depth N] [--no-require-split] [--default-split S] [--fasta F --flank N]
// Output: "flags header=H strand=S label=L split=P", "chroms<TAB>...", "splits<TAB>...", then per
// row: chrom start end strand split row line_no ids(comma-separated) region_string (tabs).
// Errors go to stderr as "error: <message>" with exit status 1.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bend/core/error.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/task/bed.hpp"

namespace {

void print_names(const char* what, const std::vector<std::string>& names) {
  std::printf("%s", what);
  for (const std::string& n : names) std::printf("\t%s", n.c_str());
  std::printf("\n");
}

void dump(const bend::BedTable& t) {
  std::printf("flags header=%d strand=%d label=%d split=%d\n", t.has_header, t.has_strand,
              t.has_label, t.has_split);
  print_names("chroms", t.chrom_names);
  print_names("splits", t.split_names);
  std::string ids;
  for (size_t row = 0; row < t.rows.size(); ++row) {
    const bend::Region& r = t.rows[row];
    ids.clear();
    for (int64_t k = t.has_label ? t.label_offsets[row] : 0; t.has_label && k < t.label_offsets[row + 1]; ++k) {
      ids += (ids.empty() ? "" : ",") + std::to_string(t.label_ids[k]);
    }
    std::printf("%s\t%lld\t%lld\t%c\t%s\t%lld\t%lld\t%s\t%s\n", t.chrom_names[r.chrom_id].c_str(),
                (long long)r.start_bp, (long long)r.end_bp, r.strand,
                t.split_names[r.split_id].c_str(), (long long)row, (long long)t.line_of(static_cast<int64_t>(row)),
                ids.c_str(), bend::region_string(t, r).c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fprintf(stderr,
                   "usage: tool_bed_dump BED [--depth N] [--no-require-split] "
                   "[--default-split S] [--fasta F --flank N]\n");
      return 2;
    }
    bend::BedOptions opt;
    std::string fasta;
    long long flank = 0;
    for (int i = 2; i < argc; ++i) {
      std::string a = argv[i];
      bool has_value = i + 1 < argc;
      if (a == "--depth" && has_value) {
        opt.label_depth = std::atoi(argv[++i]);
      } else if (a == "--no-require-split") {
        opt.require_split = false;
      } else if (a == "--default-split" && has_value) {
        opt.default_split = argv[++i];
      } else if (a == "--fasta" && has_value) {
        fasta = argv[++i];
      } else if (a == "--flank" && has_value) {
        flank = std::atoll(argv[++i]);
      } else {
        bend::fail("unknown argument '%s'", a.c_str());
      }
    }
    auto t0 = std::chrono::steady_clock::now();
    bend::BedTable t = bend::read_bed(argv[1], opt);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "parsed %zu rows in %.3f s\n", t.rows.size(), s);
    if (!fasta.empty()) {
      bend::FastaReader fa(fasta);
      bend::validate_regions(t, fa, flank);
    }
    dump(t);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
