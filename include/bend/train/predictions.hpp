// `bend train --save-predictions`: the best epoch's test predictions as a NumPy .npz file
// (`np.load(path)`), rows in BED order, written by rank 0. Torch-free (docs/formats.md).
#pragma once

#include <string>

#include "bend/train/results.hpp"

namespace bend {

// Reorders `out` (y_true, y_pred, bed_row, position: one entry per value) by (bed_row,
// position), so every rank count gives the same order. Throws bend::Error if bed_row/position
// are not filled alongside the values.
void sort_outputs_by_row(EvalOutputs& out);

// Writes `out` (sorted) to `path` atomically as an uncompressed .npz: y_true, y_pred ([n_rows,
// width] when out.matrix, else [n_values]), bed_row ([n_rows] / [n_values], int64) and, unless
// out.matrix, position ([n_values] int64: the value's index in its row's flattened labels).
// `class_ids`: y_true/y_pred are class ids, stored as int64 (float32 otherwise). The bytes depend
// only on the values (fixed zip timestamps). Throws bend::Error on I/O failure or past 4 GiB.
void write_predictions_npz(const std::string& path, const EvalOutputs& out, bool class_ids);

}  // namespace bend
