// Batches in the head's input layout, built one sample at a time by the training BatchLoader.
// Private to src/train (no torch here).
#pragma once

#include <cstdint>
#include <vector>

#include "bend/train/dataset.hpp"

namespace bend {

// The layout the training loader gives the head for embeddings of `dim` values per position:
// channels first ([n, dim, max_len], read by the head's Conv1d without a copy) below 128,
// BEND's [n, max_len, dim] from 128 up (read in place by the head's channels-last first
// convolution, HeadImpl::forward). Transposing costs the loader ~2x a plain copy, and a wide
// batch is large (64 x 512 x 256 float32 = 32 MiB): from dim 128 the copy saved outweighs the
// slower convolution path (measured in docs/benchmarks.md).
inline bool channels_first_for_dim(int64_t dim) { return dim < 128; }

// A row of a batch whose values are still to be copied in: they lie in `unchecked`'s mapped
// record, whose CRC is checked on the same pass (fill_deferred_row).
struct DeferredRow {
  int64_t row = 0;                  // in the batch
  const char* values = nullptr;     // [length, dim] little-endian float32 inside the record
  int64_t n_values = 0;
  UncheckedRecord unchecked;
};

// Builds a Batch in the layout channels_first_for_dim chooses (Batch::channels_first says
// which), zero-padded along the sequence axis; lengths, indices, labels and label_shape exactly
// as collate() makes them, and the inputs collate()'s too when not channels first.
// Each sample's inputs are written (transposed or copied) straight into the batch buffer when
// it is added, and the batch's buffers are reused from batch to batch (no zero-fill of the
// whole batch, no fresh pages). A sample longer than those before it moves the rows already
// written (only data of mixed lengths pays for that). Not thread-safe; one builder per loader
// thread.
class HeadBatchBuilder {
 public:
  // Starts a batch of `n` >= 0 samples written into `out` (its buffers are reused; `out` must
  // stay alive until finish()). With `deferred`, the values of samples with a pending CRC check
  // (Sample::unchecked) in the [n, max_len, dim] layout are not copied: their rows are appended
  // there instead, for fill_deferred_row() once the batch is finished; nothing of the batch may
  // be used before every deferred row is filled and checked. Without it, or channels first,
  // such a sample's CRC is checked when it is added.
  void begin(int64_t n, Batch& out, std::vector<DeferredRow>* deferred = nullptr);
  // Appends the next sample (its inputs or borrowed_f32). Throws bend::Error naming the BED rows, as collate() does, when its
  // dim or label layout differs from the first sample's, or when more than n are added.
  void add(const Sample& s);
  // Completes the batch: labels padded with kLabelPad to the longest label, and label_shape.
  // Throws bend::Error if fewer than n samples were added.
  void finish();

 private:
  void widen(int64_t new_len);  // re-lays the rows written so far out with a longer max_len

  Batch* out_ = nullptr;
  std::vector<DeferredRow>* deferred_ = nullptr;
  int64_t n_ = 0;
  int64_t added_ = 0;
  Sample ref_;                                 // the first sample's layout (inputs left empty)
  std::vector<std::vector<float>> labels_;     // [n] each row's labels (buffers reused)
  std::vector<int64_t> label_len_;             // [n] each row's first label dimension
  std::vector<float> scratch_;                 // a borrowed sample's values, channels first
};

// Copies `d`'s values into its row of the finished batch `b` ([n, max_len, dim]) and zero-fills
// the rest of the row, computing the record's CRC on the same pass; returns that CRC, for
// d.unchecked.check(crc). Rows may be filled concurrently.
uint32_t fill_deferred_row(Batch& b, const DeferredRow& d);

// Pads the finished batch `b` in place to `len` >= b.max_len positions (zeros) and its labels'
// first axis to `label_len` (kLabelPad; ignored for scalar labels), in either layout: each row
// then lies as collate() lays it out in a batch whose longest row has `len` positions and longest
// label `label_len`. Used to pad a rank's slice of a global batch to the whole batch's longest
// row (GlobalPadding, batch_loader.hpp). Throws bend::Error when len or label_len is
// shorter than the batch's own. An empty batch (n == 0) is left alone.
void pad_batch_to(Batch& b, int64_t len, int64_t label_len);

// Writes the [len, dim] row-major values of `src` transposed into `dst`: dst[d * stride + l] =
// src[l * dim + d] for l < len, and 0 for len <= l < stride (stride >= len).
void transpose_into(const float* src, int64_t len, int64_t dim, int64_t stride, float* dst);

}  // namespace bend
