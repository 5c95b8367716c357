// HeadBatchBuilder: BEND's collate in the layout the head reads fastest (see head_batch.hpp).
#include "head_batch.hpp"

#include <algorithm>
#include <cstring>

#ifdef __SSE2__
#include <xmmintrin.h>
#endif

#include "bend/core/error.hpp"

namespace bend {

namespace {

// dst[d * stride + l] = src[l * dim + d] for l in [l0, l1), d in [d0, d1), one value at a time.
void transpose_scalar(const float* src, int64_t dim, int64_t stride, float* dst, int64_t l0, int64_t l1,
                      int64_t d0, int64_t d1) {
  for (int64_t d = d0; d < d1; ++d) {
    for (int64_t l = l0; l < l1; ++l) dst[d * stride + l] = src[l * dim + d];
  }
}

// The same for one block, 4 x 4 values at a time (SSE: four loads, a register transpose, four
// stores), the edges that are not multiples of 4 one value at a time.
void transpose_tile(const float* src, int64_t dim, int64_t stride, float* dst, int64_t l0, int64_t l1,
                    int64_t d0, int64_t d1) {
#ifdef __SSE2__
  const int64_t l4 = l0 + (l1 - l0) / 4 * 4, d4 = d0 + (d1 - d0) / 4 * 4;
  for (int64_t d = d0; d < d4; d += 4) {
    for (int64_t l = l0; l < l4; l += 4) {
      __m128 r0 = _mm_loadu_ps(src + l * dim + d), r1 = _mm_loadu_ps(src + (l + 1) * dim + d);
      __m128 r2 = _mm_loadu_ps(src + (l + 2) * dim + d), r3 = _mm_loadu_ps(src + (l + 3) * dim + d);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      _mm_storeu_ps(dst + d * stride + l, r0);
      _mm_storeu_ps(dst + (d + 1) * stride + l, r1);
      _mm_storeu_ps(dst + (d + 2) * stride + l, r2);
      _mm_storeu_ps(dst + (d + 3) * stride + l, r3);
    }
  }
  transpose_scalar(src, dim, stride, dst, l4, l1, d0, d4);  // the last < 4 positions
  transpose_scalar(src, dim, stride, dst, l0, l1, d4, d1);  // the last < 4 channels
#else
  transpose_scalar(src, dim, stride, dst, l0, l1, d0, d1);
#endif
}

}  // namespace

void transpose_into(const float* src, int64_t len, int64_t dim, int64_t stride, float* dst) {
  // Stripes of kStripe positions, all channels: each group of 4 channels writes 4 runs of up
  // to 2 KiB, and the stripe's source lines (kStripe x 64 bytes) stay in L1 for the next groups
  // (measured: 2.5x faster than 16 x 16 tiles on a 64 x 512 x 256 batch).
  constexpr int64_t kStripe = 512;
  for (int64_t l0 = 0; l0 < len; l0 += kStripe) {
    transpose_tile(src, dim, stride, dst, l0, std::min(len, l0 + kStripe), 0, dim);
  }
  if (stride > len) {
    for (int64_t d = 0; d < dim; ++d) std::fill(dst + d * stride + len, dst + (d + 1) * stride, 0.0f);
  }
}

void HeadBatchBuilder::begin(int64_t n, Batch& out, std::vector<DeferredRow>* deferred) {
  BEND_ASSERT(n >= 0);
  out_ = &out;
  deferred_ = deferred;
  if (deferred_) deferred_->clear();
  n_ = n;
  added_ = 0;
  out.n = n;
  out.max_len = 0;
  out.dim = 0;
  out.channels_first = false;  // set by the first sample's dim (channels_first_for_dim)
  out.lengths.clear();
  out.indices.clear();
  if (labels_.size() < static_cast<size_t>(n)) labels_.resize(static_cast<size_t>(n));
  label_len_.assign(static_cast<size_t>(n), 0);
}

namespace {

// Moves `n_units` units of `old_len` positions (`per_pos` values each), laid out one after the
// other from `base`, to units of `new_len` >= old_len positions, `fill` after each unit's old
// values. From the last unit down: every destination lies at or above its source and above every
// source not yet moved. `base` must hold n_units * new_len * per_pos values.
template <typename T>
void spread_units(T* base, int64_t n_units, int64_t old_len, int64_t new_len, int64_t per_pos, T fill) {
  for (int64_t k = n_units - 1; k >= 0; --k) {
    T* to = base + k * new_len * per_pos;
    std::memmove(to, base + k * old_len * per_pos, static_cast<size_t>(old_len * per_pos) * sizeof(T));
    std::fill(to + old_len * per_pos, to + new_len * per_pos, fill);
  }
}

}  // namespace

// Channels first, row i's channel d (unit k = i * dim + d, len values) moves from k * old_len to
// k * new_len; rows in place, row i (unit k = i, len * dim values) from k * old_len * dim to
// k * new_len * dim.
void HeadBatchBuilder::widen(int64_t new_len) {
  Batch& b = *out_;
  const int64_t per_pos = b.channels_first ? 1 : b.dim;  // values per position within a unit
  const int64_t n_units = b.channels_first ? added_ * b.dim : added_;
  b.inputs.resize(static_cast<size_t>(n_ * b.dim * new_len));
  spread_units(b.inputs.data(), n_units, b.max_len, new_len, per_pos, 0.0f);
  b.max_len = new_len;
}

void pad_batch_to(Batch& b, int64_t len, int64_t label_len) {
  if (b.n == 0) return;
  const bool seq_labels = b.label_shape.size() >= 2;  // [n, L, ...]: padded along L
  const int64_t old_label_len = seq_labels ? b.label_shape[1] : 0;
  if (len < b.max_len || (seq_labels && label_len < old_label_len)) {
    fail("pad_batch_to: cannot pad a batch of %lld positions (labels %lld) to %lld (labels %lld)",
         (long long)b.max_len, (long long)old_label_len, (long long)len, (long long)label_len);
  }
  if (len > b.max_len) {
    b.inputs.resize(static_cast<size_t>(b.n * b.dim * len));
    spread_units(b.inputs.data(), b.channels_first ? b.n * b.dim : b.n, b.max_len, len,
                 b.channels_first ? int64_t{1} : b.dim, 0.0f);
    b.max_len = len;
  }
  if (seq_labels && label_len > old_label_len) {
    int64_t rest = 1;  // label values per position
    for (size_t d = 2; d < b.label_shape.size(); ++d) rest *= b.label_shape[d];
    b.labels.resize(static_cast<size_t>(b.n * label_len * rest));
    spread_units(b.labels.data(), b.n, old_label_len, label_len, rest, kLabelPad);
    b.label_shape[1] = label_len;
  }
}

void HeadBatchBuilder::add(const Sample& s) {
  BEND_ASSERT(out_ != nullptr);
  if (added_ >= n_) fail("collate: more than the %lld samples of the batch", (long long)n_);
  Batch& b = *out_;
  if (added_ == 0) {
    ref_.index = s.index;
    ref_.dim = s.dim;
    ref_.label_shape = s.label_shape;
    b.dim = s.dim;
    b.channels_first = channels_first_for_dim(s.dim);
    b.max_len = s.length;
    b.inputs.resize(static_cast<size_t>(n_ * b.dim * b.max_len));
  }
  try {
    check_same_layout(ref_, s);
  } catch (const Error&) {  // corrupt bytes (parsed before their CRC was checked): say so
    if (s.unchecked.pending()) s.unchecked.check();
    if (deferred_) {
      for (const DeferredRow& d : *deferred_) d.unchecked.check();
    }
    throw;
  }
  if (s.length > b.max_len) widen(s.length);
  float* row = b.inputs.data() + added_ * b.dim * b.max_len;
  const size_t n_values = static_cast<size_t>(s.length * s.dim);
  const bool defer = s.unchecked.pending() && deferred_ && !b.channels_first && s.borrowed_f32;
  if (s.unchecked.pending() && !defer) s.unchecked.check();  // used right here: checked first
  if (defer) {
    deferred_->push_back(DeferredRow{added_, s.borrowed_f32, static_cast<int64_t>(n_values), s.unchecked});
  } else if (b.channels_first) {
    const float* values = s.inputs.data();
    if (s.borrowed_f32) {  // unaligned bytes: copied first (only narrow embeddings come here)
      scratch_.resize(n_values);
      std::memcpy(scratch_.data(), s.borrowed_f32, n_values * sizeof(float));
      values = scratch_.data();
    }
    transpose_into(values, s.length, s.dim, b.max_len, row);
  } else {
    std::memcpy(row, s.borrowed_f32 ? static_cast<const void*>(s.borrowed_f32) : s.inputs.data(),
                n_values * sizeof(float));
    std::fill(row + n_values, row + b.dim * b.max_len, 0.0f);
  }
  labels_[static_cast<size_t>(added_)].assign(s.labels.begin(), s.labels.end());
  label_len_[static_cast<size_t>(added_)] = s.label_shape.empty() ? 0 : s.label_shape[0];
  b.lengths.push_back(s.length);
  b.indices.push_back(s.index);
  ++added_;
}

uint32_t fill_deferred_row(Batch& b, const DeferredRow& d) {
  BEND_ASSERT(!b.channels_first && d.row >= 0 && d.row < b.n && d.n_values <= b.max_len * b.dim);
  float* row = b.inputs.data() + d.row * b.dim * b.max_len;
  const uint32_t crc = d.unchecked.copy_and_crc(d.values, static_cast<size_t>(d.n_values) * sizeof(float), row);
  std::fill(row + d.n_values, row + b.dim * b.max_len, 0.0f);
  return crc;
}

void HeadBatchBuilder::finish() {
  BEND_ASSERT(out_ != nullptr);
  Batch& b = *out_;
  if (added_ != n_) fail("collate: %lld of the batch's %lld samples added", (long long)added_, (long long)n_);
  b.label_shape.assign(1, n_);
  if (n_ == 0) {
    b.inputs.clear();
    b.labels.clear();
    out_ = nullptr;
    deferred_ = nullptr;
    return;
  }
  const size_t rank = ref_.label_shape.size();
  int64_t label_len_max = 0, rest = 1;  // first label dim (padded), product of the others
  for (size_t d = 1; d < rank; ++d) rest *= ref_.label_shape[d];
  for (int64_t i = 0; i < n_; ++i) label_len_max = std::max(label_len_max, label_len_[static_cast<size_t>(i)]);
  const int64_t label_row = rank > 0 ? label_len_max * rest : 1;  // label values per sample
  b.labels.assign(static_cast<size_t>(n_ * label_row), kLabelPad);
  for (int64_t i = 0; i < n_; ++i) {
    const std::vector<float>& l = labels_[static_cast<size_t>(i)];
    std::copy(l.begin(), l.end(), b.labels.begin() + i * label_row);
  }
  if (rank > 0) {
    b.label_shape.push_back(label_len_max);
    b.label_shape.insert(b.label_shape.end(), ref_.label_shape.begin() + 1, ref_.label_shape.end());
  }
  out_ = nullptr;
  deferred_ = nullptr;
}

}  // namespace bend
