// LibTorch helpers of the model-zoo models (src/models/torch_zoo.hpp).
#include "torch_zoo.hpp"

#include <algorithm>
#include <numeric>

#include "bend/core/cuda_device.hpp"
#include "bend/core/error.hpp"
#include "bend/core/log.hpp"
#include "bend/models/safetensors.hpp"

#ifdef BEND_WITH_CUDA
#include <torch/cuda.h>
#endif

namespace bend {
namespace zoo {

int cuda_device_for_rank(const char* model, int local_rank) {
#ifdef BEND_WITH_CUDA
  if (!torch::cuda::is_available())
    fail("%s: CUDA requested but no CUDA device is available", model);
  const int n_devices = static_cast<int>(torch::cuda::device_count());
  CudaDeviceChoice choice;
  try {
    choice = choose_cuda_device(cuda_device_inputs_from_env(local_rank, n_devices));
  } catch (const std::exception& e) {
    rethrow_with_stage(e, model);
  }
  log_info("%s: %s", model, choice.reason.c_str());
  return choice.index;
#else
  (void)local_rank;
  fail("%s: CUDA requested but bend was built without CUDA (BEND_WITH_CUDA off)", model);
#endif
}

at::Device select_torch_device(const char* model, bool use_cuda, int local_rank) {
  if (!use_cuda) return at::Device(at::kCPU);
  const int index = cuda_device_for_rank(model, local_rank);
  // Full float32 like the references: TF32 would cost ~1e-3 relative error (process-wide).
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
}

at::Tensor load_f32(const SafetensorsFile& file, const std::string& name,
                    const std::vector<int64_t>& shape, at::Device device) {
  std::vector<float> values = file.read_f32(name);
  at::Tensor t = at::from_blob(values.data(), shape, at::TensorOptions().dtype(at::kFloat));
  return t.to(device, /*non_blocking=*/false, /*copy=*/true);
}

Linear make_linear(const at::Tensor& w, const at::Tensor& b) {
  Linear l;
  l.w = w;
  l.b = b;
  l.onednn = w.device().is_cpu() && at::hasMKLDNN();
  if (l.onednn) l.w4 = w.contiguous().view({w.size(0), w.size(1), 1, 1});
  return l;
}

at::Tensor Linear::operator()(const at::Tensor& x) const {
  if (!onednn) return at::linear(x, w, b);
  const int64_t n_in = w.size(1), n_out = w.size(0);
  std::vector<int64_t> shape = x.sizes().vec();
  const at::Tensor rows = x.reshape({-1, n_in});  // [n, in]
  const c10::optional<at::Tensor> bias = b.defined() ? c10::optional<at::Tensor>(b) : c10::nullopt;
  const at::Tensor y = at::mkldnn_convolution(rows.t().unsqueeze(0).unsqueeze(2), w4, bias, {0, 0},
                                              {1, 1}, {1, 1}, 1);  // [1, out, 1, n]
  shape.back() = n_out;
  return y.view({n_out, rows.size(0)}).t().reshape(shape);
}

std::vector<std::vector<size_t>> length_batches(const std::vector<int64_t>& lengths,
                                                int64_t max_padded_tokens) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::vector<size_t>> out;
  for (size_t i = 0; i < order.size(); i++) {
    const int64_t len = lengths[order[i]];  // the longest so far: the order is ascending
    if (out.empty() || int64_t(out.back().size() + 1) * len > max_padded_tokens) out.emplace_back();
    out.back().push_back(order[i]);
  }
  return out;
}

void copy_batch_rows(const at::Tensor& y, const std::vector<size_t>& batch, const std::vector<int64_t>& lengths,
                     std::vector<std::vector<float>>& out) {
  const at::Tensor c = y.to(at::kCPU, at::kFloat).contiguous();  // [n, max_len, dim]
  const int64_t max_len = c.size(1), dim = c.size(2);
  const float* p = c.data_ptr<float>();
  for (size_t b = 0; b < batch.size(); b++) {
    std::vector<float>& h = out[batch[b]];
    h.resize(size_t(lengths[batch[b]] * dim));
    std::copy_n(p + int64_t(b) * max_len * dim, h.size(), h.data());
  }
}

at::Tensor padded_ids(const std::vector<const std::vector<int32_t>*>& all,
                      const std::vector<size_t>& batch, int32_t pad_id) {
  int64_t max_len = 0;
  for (size_t i : batch) max_len = std::max<int64_t>(max_len, int64_t(all[i]->size()));
  at::Tensor ids = at::full({int64_t(batch.size()), max_len}, int64_t(pad_id), at::kLong);
  int64_t* p = ids.data_ptr<int64_t>();
  for (size_t b = 0; b < batch.size(); b++) {
    const std::vector<int32_t>& v = *all[batch[b]];
    for (size_t t = 0; t < v.size(); t++) p[int64_t(b) * max_len + int64_t(t)] = v[t];
  }
  return ids;
}

at::Tensor token_cross_entropy(const at::Tensor& logits, const at::Tensor& ids) {
  return at::log_softmax(logits, -1).gather(1, ids.view({-1, 1})).neg();
}

LossVocab make_loss_vocab(const std::vector<int32_t>& ids, int64_t vocab, at::Device device) {
  LossVocab v;
  if (ids.empty()) return v;
  std::vector<int64_t> keep, remap(size_t(vocab), -1);
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab) continue;
    remap[size_t(id)] = int64_t(keep.size());
    keep.push_back(id);
  }
  const auto opt = at::TensorOptions().dtype(at::kLong);
  v.keep = at::from_blob(keep.data(), {int64_t(keep.size())}, opt).to(device, false, true);
  v.remap = at::from_blob(remap.data(), {vocab}, opt).to(device, false, true);
  return v;
}

at::Tensor token_cross_entropy(const at::Tensor& logits, const at::Tensor& ids,
                               const LossVocab& v) {
  if (!v.defined()) return token_cross_entropy(logits, ids);
  const at::Tensor sub = logits.index_select(1, v.keep);    // [n, k]
  const at::Tensor target = v.remap.index_select(0, ids);  // [n]
  const at::Tensor ce = at::log_softmax(sub, -1).gather(1, target.clamp_min(0).view({-1, 1})).neg();
  return ce * target.ge(0).view({-1, 1}).to(ce.scalar_type());  // [n, 1]
}

}  // namespace zoo
}  // namespace bend
