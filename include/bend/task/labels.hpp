// Task labels, one row per BED data row: from the BED's label column (multi-hot), from an
// HDF5 file (fixed shape or variable length per row), or none.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bend {

struct BedTable;

// The labels of one BED row. Exactly one of `ints` / `floats` holds prod(shape) values,
// row-major; the other is empty.
struct LabelRow {
  bool is_float = false;
  std::vector<int64_t> ints;   // [prod(shape)] when !is_float
  std::vector<float> floats;   // [prod(shape)] when is_float
  std::vector<int64_t> shape;  // e.g. [label_depth], [782], [len_bp] (vlen), [0] (none)
};

// Serves label rows on demand (rank 0 reads them one at a time; files may be GBs).
// Implementations are thread-safe; HDF5 calls are serialized by a process-wide mutex.
class LabelSource {
 public:
  virtual ~LabelSource();
  // Fills `out` (cleared first) with the labels of BED data row `row` (0-based, whole file).
  // Throws Error naming the source and row when out of range or when reading fails.
  virtual void read(int64_t row, LabelRow& out) = 0;
  // One line for logs and messages, e.g. "HDF5 f.hdf5:/labels int64 [100, 782]".
  virtual std::string describe() const = 0;
};

// Multi-hot int64 rows of shape [label_depth] from bed's label column (empty label = zeros).
// Copies what it needs from `bed`. Throws Error when the BED has no label column,
// label_depth <= 0, or an id is >= label_depth (message "path:LINE: ...").
std::unique_ptr<LabelSource> labels_from_column(const BedTable& bed, int32_t label_depth);

// Rows of `dataset` in the HDF5 file `path`; row i belongs to BED data row i.
// Fixed shape [n, ...] of any integer or float type (served as int64 or float), or 1-D
// variable length (H5T_VLEN of int/float; row shape [len_i]). Throws Error when the file is
// missing or not HDF5, the dataset is missing or of another type, or its row count differs
// from `n_bed_rows` ("path: dataset 'labels' has 99 rows but BED f has 100 data rows";
// `bed_path` names f; empty: "the BED file"). read() throws naming the file, dataset, row and
// value when, with label_depth > 0, an integer label is negative or >= max(label_depth, 2), and
// always when a float label is not finite.
std::unique_ptr<LabelSource> labels_from_hdf5(const std::string& path, const std::string& dataset,
                                              int64_t n_bed_rows, const std::string& bed_path = "",
                                              int32_t label_depth = 0);

// A source whose every row is empty: ints, shape [0]. For embedding without labels.
std::unique_ptr<LabelSource> labels_none();

}  // namespace bend
