// BED parser (task/bed.cpp): any bytes give a table or a bend::Error; every parsed row has
// end > start, a split name that passes split_name_problem, and a line number in the file.
#include <cstring>

#include "bend/task/bed.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = bend_fuzz::write_scratch("in.bed", data, size);
  for (int require_split = 0; require_split < 2; ++require_split) {
    bend_fuzz::expect_clean("bed", [&] {
      bend::BedOptions o;
      o.require_split = require_split != 0;
      o.label_depth = 8;
      bend::BedTable t = bend::read_bed(path, o);
      int64_t last_line = 0;
      for (size_t i = 0; i < t.rows.size(); ++i) {
        const bend::Region& r = t.rows[i];
        if (r.end_bp <= r.start_bp) std::abort();
        if (!bend::split_name_problem(t.split_names.at(r.split_id)).empty()) std::abort();
        const int64_t line = t.line_of(static_cast<int64_t>(i));
        if (line <= last_line) std::abort();
        last_line = line;
        (void)bend::region_string(t, r);
      }
      if (t.has_label && t.label_offsets.size() != t.rows.size() + 1) std::abort();
    });
  }
  return 0;
}
