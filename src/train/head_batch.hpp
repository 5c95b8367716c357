// Batches in the head's input layout, built one sample at a time by the training BatchLoader.
// Private to src/train (no torch here).
#pragma once

#include <cstdint>
#include <vector>

#include "bend/train/dataset.hpp"

namespace bend {

// Builds a Batch with inputs [n, dim, max_len] (Batch::channels_first: the layout the head's
// first convolution reads, so it needs no transposed copy of its input), zero-padded along the
// sequence axis; lengths, indices, labels and label_shape exactly as collate() makes them.
// Each sample's inputs are transposed straight into the batch buffer when it is added, and the
// batch's buffers are reused from batch to batch (no zero-fill of the whole batch, no fresh
// pages). A sample longer than those before it moves the rows already written (only data of
// mixed lengths pays for that). Not thread-safe; one builder per loader thread.
class HeadBatchBuilder {
 public:
  // Starts a batch of `n` >= 0 samples written into `out` (its buffers are reused; `out` must
  // stay alive until finish()).
  void begin(int64_t n, Batch& out);
  // Appends the next sample. Throws bend::Error naming the BED rows, as collate() does, when its
  // dim or label layout differs from the first sample's, or when more than n are added.
  void add(const Sample& s);
  // Completes the batch: labels padded with kLabelPad to the longest label, and label_shape.
  // Throws bend::Error if fewer than n samples were added.
  void finish();

 private:
  void widen(int64_t new_len);  // re-lays the rows written so far out with a longer max_len

  Batch* out_ = nullptr;
  int64_t n_ = 0;
  int64_t added_ = 0;
  Sample ref_;                                 // the first sample's layout (inputs left empty)
  std::vector<std::vector<float>> labels_;     // [n] each row's labels (buffers reused)
  std::vector<int64_t> label_len_;             // [n] each row's first label dimension
};

// Writes the [len, dim] row-major values of `src` transposed into `dst`: dst[d * stride + l] =
// src[l * dim + d] for l < len, and 0 for len <= l < stride (stride >= len).
void transpose_into(const float* src, int64_t len, int64_t dim, int64_t stride, float* dst);

}  // namespace bend
