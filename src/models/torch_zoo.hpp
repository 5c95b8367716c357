// Private to src/models: LibTorch helpers of the model-zoo models (HyenaDNA, AWD-LSTM,
// TorchScript): compute device, float32 weights from safetensors, length-sorted batches.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

class SafetensorsFile;

namespace zoo {

// CPU, or the CUDA device of this rank when `use_cuda` (builds with BEND_WITH_CUDA; TF32
// switched off so results match float32 references; device as cuda_device_for_rank chooses).
// Throws bend::Error naming `model` when CUDA is unusable.
at::Device select_torch_device(const char* model, bool use_cuda, int local_rank);

// The CUDA device index of node-local rank `local_rank`: bend/core/cuda_device.hpp decides from
// the visible devices and the environment, and the reason is logged. Throws bend::Error naming
// `model` when no device is usable, or always in builds without BEND_WITH_CUDA.
int cuda_device_for_rank(const char* model, int local_rank);

// Tensor `name` of `file` as float32 with `shape`, copied to `device` (F16/BF16/F64 converted).
// Throws bend::Error naming the file and tensor when absent.
at::Tensor load_f32(const SafetensorsFile& file, const std::string& name,
                    const std::vector<int64_t>& shape, at::Device device);

// A Linear layer on the compute device. On CPU with oneDNN the product runs as a 1x1
// convolution over the rows: this platform's LibTorch routes at::linear to a generic
// (reference) BLAS ~30x slower. Immutable after make_linear; operator() is thread-safe.
struct Linear {
  at::Tensor w;   // [out, in]
  at::Tensor b;   // [out], or undefined for no bias
  at::Tensor w4;  // [out, in, 1, 1]: w as a convolution kernel (oneDNN only)
  bool onednn = false;
  // x [..., in] -> [..., out].
  at::Tensor operator()(const at::Tensor& x) const;
};
// Wraps weights already on their device; oneDNN is used on CPU when LibTorch has it.
Linear make_linear(const at::Tensor& w, const at::Tensor& b);

// Splits inputs 0..n-1 into batches of similar length: sorted by length (stable), each batch
// as long as (inputs in it) * (its longest length) <= max_padded_tokens, at least one input.
std::vector<std::vector<size_t>> length_batches(const std::vector<int64_t>& lengths,
                                                int64_t max_padded_tokens);

// The rows of a length batch's output y [n, max_len, dim] (any device and float type) into
// out[batch[b]], each resized to lengths[batch[b]] x dim floats: row b's first positions.
void copy_batch_rows(const at::Tensor& y, const std::vector<size_t>& batch, const std::vector<int64_t>& lengths,
                     std::vector<std::vector<float>>& out);

// [n, max_len] int64 ids of `inputs` (indices `batch` of `all`), right-padded with `pad_id`.
at::Tensor padded_ids(const std::vector<const std::vector<int32_t>*>& all,
                      const std::vector<size_t>& batch, int32_t pad_id);

// Per-row cross-entropy of language-model logits: -log softmax(logits[i])[ids[i]] for logits
// [n, vocab] float and ids [n] int64 on the same device -> [n, 1] float.
at::Tensor token_cross_entropy(const at::Tensor& logits, const at::Tensor& ids);

// BEND's loss over part of the vocabulary (`--rules bend`): the softmax runs over the columns
// `keep` of the logits only. make_loss_vocab builds keep [k] and remap [vocab] (position in
// keep, -1 elsewhere) as int64 on `device`; empty `ids` gives undefined tensors (all columns).
struct LossVocab {
  at::Tensor keep, remap;
  bool defined() const { return keep.defined(); }
};
LossVocab make_loss_vocab(const std::vector<int32_t>& ids, int64_t vocab, at::Device device);
// -log softmax(logits[i, keep])[position of ids[i] in keep] -> [n, 1]; 0 for a row whose id is
// not in keep (special tokens, whose vectors are dropped). Without v.defined(): as
// token_cross_entropy.
at::Tensor token_cross_entropy(const at::Tensor& logits, const at::Tensor& ids, const LossVocab& v);

}  // namespace zoo
}  // namespace bend
