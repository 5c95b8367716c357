// Task regions: BEND's BED files (header `chromosome start end [strand] [label] split`) and
// plain headerless BED3/BED6, parsed into one table and validated against the genome.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bend {

class FastaReader;

// One data row of a BED file. Coordinates are 0-based, half-open, in bp. Its 0-based data row
// over the whole file (= the HDF5 label row) is its index in BedTable::rows, its line in the
// file BedTable::line_of(index). 24 bytes: rank 0 holds one per row of the task, less than the
// row's text in the file (docs/benchmarks.md, memory).
struct Region {
  int64_t start_bp = 0;
  int64_t end_bp = 0;
  int32_t chrom_id = 0;  // index into BedTable::chrom_names
  int16_t split_id = 0;  // index into BedTable::split_names (at most kMaxSplits)
  char strand = '.';     // '+', '-' or '.' (no strand column)
};
constexpr int32_t kMaxSplits = 32767;
constexpr int32_t kMaxSplitNameLen = 64;

// A parsed BED file. Plain data; safe to share read-only between threads.
struct BedTable {
  std::string path;
  std::vector<std::string> chrom_names;  // order of first appearance
  std::vector<std::string> split_names;  // order of first appearance
  std::vector<Region> rows;              // file order
  bool has_header = false;
  bool has_strand = false;
  bool has_label = false;
  bool has_split = false;  // false: every row is in BedOptions::default_split
  // Class ids of the label column as CSR: row i has label_ids[label_offsets[i] ..
  // label_offsets[i + 1]). label_offsets has rows.size() + 1 entries with a label column, none
  // without one.
  std::vector<int64_t> label_offsets;  // [n_rows + 1] or empty
  std::vector<int32_t> label_ids;      // [n_label_ids]
  // Where data rows and line numbers part: (first data row after some lines that are not data
  // -- header, comments, blank lines --, how many such lines come before it in all), in row
  // order. Usually one entry, the header's.
  std::vector<std::pair<int64_t, int64_t>> line_skips;

  // 1-based line of data row `row` in the file, for messages.
  int64_t line_of(int64_t row) const;
};

// How read_bed() treats optional parts of the format.
struct BedOptions {
  bool require_split = true;          // false: a file without split column gets default_split
  int32_t label_depth = 0;            // > 0: every label id must be < label_depth
  std::string default_split = "all";  // split name used when the file has no split column
};

// Reads a whole BED file (tab-separated; runs of spaces also accepted when a line has no tab).
// A first line whose second field is not a number is the header; columns strand, label and
// split are found by name. Headerless files are BED3 or BED6 (strand = 6th column).
// Every tab-separated row has exactly the header's fields (a space-separated row may lack an
// empty label, which runs of spaces cannot show); chromosome, start, end, strand and split must
// not be empty; split names must pass split_name_problem.
// Throws Error "path:LINE: ..." for unreadable or non-regular files, missing columns, empty
// required fields, non-numeric or negative coordinates, end <= start, bad strand, missing split,
// unsafe split names, bad label ids.
BedTable read_bed(const std::string& path, const BedOptions& opt = BedOptions());

// Why `name` cannot be a split name ("" when it can). Split names become file names, so they
// are 1..kMaxSplitNameLen letters, digits, '_', '-' or '.', not starting with '.'.
std::string split_name_problem(std::string_view name);

// Checks every region, widened by `flank_bp` on both sides, lies on a chromosome of `fa`.
// Throws Error "path:LINE: unknown chromosome ..." or "path:LINE: region ... extends past ...".
void validate_regions(const BedTable& bed, const FastaReader& fa, int64_t flank_bp);

// "chr1:100-200(+)" (strand '.' gives "(.)"), for messages and logs.
std::string region_string(const BedTable& bed, const Region& r);

// Index of split `name` in bed.split_names, or -1 when no row has that split.
int32_t find_split(const BedTable& bed, const std::string& name);

}  // namespace bend
