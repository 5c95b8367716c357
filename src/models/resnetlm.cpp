// The "resnetlm" Embedder: BEND's dilated-CNN ResNet LM forward pass in LibTorch (ATen ops only,
// stable across LibTorch 1.13 and 2.x). The only torch translation unit of bend_models.
#include "bend/models/resnetlm.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstring>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/char_tokenizer.hpp"
#include "bend/models/safetensors.hpp"
#include "torch_zoo.hpp"

namespace bend {

namespace {

// Weights of one residual block, on the compute device.
struct ResNetLMLayer {
  at::Tensor conv_w;                // [hidden, hidden, kernel]
  at::Tensor conv_w4;               // [hidden, hidden, 1, kernel]: same data, oneDNN form
  at::Tensor conv_b;                // [hidden]
  at::Tensor conv_ln_w, conv_ln_b;  // [hidden]
  at::Tensor ffn_w;                 // [hidden, hidden]
  at::Tensor ffn_w4;                // [hidden, hidden, 1, 1]: the Linear as a 1x1 convolution
  at::Tensor ffn_b;                 // [hidden]
  at::Tensor ffn_ln_w, ffn_ln_b;    // [hidden]
  int64_t dilation = 1;
  int64_t pad_left = 0, pad_right = 0;  // PyTorch 'same': left = total / 2, right = the rest
};

class ResNetLMEmbedder : public Embedder {
 public:
  explicit ResNetLMEmbedder(const EmbedderOptions& opts);
  std::string name() const override { return "resnetlm"; }
  int64_t dim() const override { return cfg_.hidden_size; }
  void tokenize(const std::string& seq, std::vector<int32_t>& ids) const override {
    tok_.tokenize(seq, ids);
  }
  void embed(const std::vector<const std::vector<int32_t>*>& tokens,
             const std::vector<int64_t>& len_bp, std::vector<std::vector<float>>& out) override;
  std::string fingerprint() const override { return fingerprint_; }

 private:
  void load_weights(const std::string& path);
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask) const;
  at::Tensor conv(const ResNetLMLayer& l, const at::Tensor& x) const;
  at::Tensor linear(const ResNetLMLayer& l, const at::Tensor& x) const;

  ResNetLMConfig cfg_;
  CharTokenizer tok_;
  std::string fingerprint_;
  at::Device device_{at::kCPU};
  bool use_onednn_ = false;  // CPU with oneDNN: explicit convolution kernels, see conv()
  std::vector<ResNetLMLayer> layers_;
};

at::Device select_device(const EmbedderOptions& opts) {
  if (!opts.use_cuda) return at::Device(at::kCPU);
  // which device: bend/core/cuda_device.hpp (the local rank, the visible devices, Slurm's binding)
  const int index = zoo::cuda_device_for_rank("resnetlm", opts.local_rank);
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
}

ResNetLMEmbedder::ResNetLMEmbedder(const EmbedderOptions& opts) : device_(select_device(opts)) {
  const std::string& dir = opts.checkpoint_dir;
  const std::string config_path = path_join(dir, "config.json");
  const std::string tokenizer_path = path_join(dir, "tokenizer.json");
  cfg_ = read_resnetlm_config(config_path);
  tok_ = read_char_tokenizer(tokenizer_path);
  const std::string weights_path = checkpoint_weights_path(dir);  // one file or shards
  if (tok_.max_id >= cfg_.hidden_size) {
    fail("%s: token id %d does not fit the one-hot input of hidden_size %lld (%s)",
         tokenizer_path.c_str(), tok_.max_id, (long long)cfg_.hidden_size, config_path.c_str());
  }
  if (opts.n_threads > 0) at::set_num_threads(opts.n_threads);
  use_onednn_ = device_.is_cpu() && at::hasMKLDNN();
#ifdef BEND_WITH_CUDA
  if (device_.is_cuda()) {
    // Full float32 like the reference: TF32 would cost ~1e-3 relative error (process-wide).
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
#endif
  load_weights(weights_path);
  // The fingerprint covers everything that changes the vectors: weights, config, tokenizer.
  uint32_t crc = weights_crc32c(weights_path);
  const std::string config_text = read_file(config_path);
  const std::string tokenizer_text = read_file(tokenizer_path);
  crc = crc32c_extend(crc, config_text.data(), config_text.size());
  crc = crc32c_extend(crc, tokenizer_text.data(), tokenizer_text.size());
  fingerprint_ = strfmt("resnetlm:crc32c=%08x", crc);
}

void ResNetLMEmbedder::load_weights(const std::string& path) {
  SafetensorsFile file(path);
  const std::string prefix = check_resnetlm_weights(file, cfg_);
  auto load = [&](const std::string& name, const std::vector<int64_t>& shape) {
    std::vector<float> values = file.read_f32(prefix + name);
    at::Tensor t = at::from_blob(values.data(), shape, at::TensorOptions().dtype(at::kFloat));
    return t.to(device_, /*non_blocking=*/false, /*copy=*/true);
  };
  const int64_t h = cfg_.hidden_size, k = cfg_.kernel_size;
  for (int64_t i = 0; i < cfg_.n_layers; i++) {
    const std::string p = "encoder." + std::to_string(i) + ".";
    ResNetLMLayer l;
    l.conv_w = load(p + "conv.1.weight", {h, h, k});
    l.conv_w4 = l.conv_w.view({h, h, 1, k});
    l.conv_b = load(p + "conv.1.bias", {h});
    l.conv_ln_w = load(p + "conv.4.weight", {h});
    l.conv_ln_b = load(p + "conv.4.bias", {h});
    l.ffn_w = load(p + "ffn.0.weight", {h, h});
    l.ffn_w4 = l.ffn_w.view({h, h, 1, 1});
    l.ffn_b = load(p + "ffn.0.bias", {h});
    l.ffn_ln_w = load(p + "ffn.2.weight", {h});
    l.ffn_ln_b = load(p + "ffn.2.bias", {h});
    l.dilation = resnetlm_dilation(cfg_, i);
    const int64_t total = l.dilation * (k - 1);
    l.pad_left = total / 2;
    l.pad_right = total - l.pad_left;
    layers_.push_back(std::move(l));
  }
}

// Conv1d of layer `l` with 'same' zero padding: x [batch, len, hidden] -> [batch, len, hidden].
// The padding is made explicit and the kernel runs 'valid', so every output position reads
// the same values in the same order whatever the batch's length; on CPU the oneDNN kernel is
// called directly because at::conv1d picks other algorithms for small inputs (and those round
// differently), and it reads the [batch, len, hidden] data in place as channels-last.
at::Tensor ResNetLMEmbedder::conv(const ResNetLMLayer& l, const at::Tensor& x) const {
  at::Tensor xp = at::constant_pad_nd(x, {0, 0, l.pad_left, l.pad_right}, 0);  // [b, len+pad, h]
  if (use_onednn_) {
    at::Tensor y = at::mkldnn_convolution(xp.transpose(1, 2).unsqueeze(2), l.conv_w4, l.conv_b,
                                          {0, 0}, {1, 1}, {1, l.dilation}, 1);
    return y.squeeze(2).transpose(1, 2);
  }
  const int64_t stride = 1, no_padding = 0;
  return at::conv1d(xp.transpose(1, 2), l.conv_w, l.conv_b, stride, no_padding, l.dilation)
      .transpose(1, 2);
}

// Linear of layer `l` over the hidden dimension: x [batch, len, hidden] -> same shape. On CPU
// as a oneDNN 1x1 convolution (fast whatever BLAS torch was built with; rows independent).
at::Tensor ResNetLMEmbedder::linear(const ResNetLMLayer& l, const at::Tensor& x) const {
  if (use_onednn_) {
    at::Tensor y = at::mkldnn_convolution(x.transpose(1, 2).unsqueeze(2), l.ffn_w4, l.ffn_b, {0, 0},
                                          {1, 1}, {1, 1}, 1);
    return y.squeeze(2).transpose(1, 2);
  }
  return at::linear(x, l.ffn_w, l.ffn_b);
}

// ids: [batch, len] int64 on device_; mask: [batch, len, 1] float (1 = real position) or
// undefined when no position is padding. Returns [batch, len, hidden] float.
at::Tensor ResNetLMEmbedder::forward(const at::Tensor& ids, const at::Tensor& mask) const {
  const int64_t h = cfg_.hidden_size;
  at::Tensor x = at::one_hot(ids, h).to(at::kFloat);  // [batch, len, hidden]
  for (const ResNetLMLayer& l : layers_) {
    // Padded positions must read as zeros, like the conv's own 'same' padding of a lone sequence.
    at::Tensor c = conv(l, mask.defined() ? x * mask : x);
    x.add_(at::layer_norm(at::gelu(c), {h}, l.conv_ln_w, l.conv_ln_b, 1e-5));
    at::Tensor f = linear(l, x);
    x.add_(at::layer_norm(at::gelu(f), {h}, l.ffn_ln_w, l.ffn_ln_b, 1e-5));
  }
  return x;
}

void ResNetLMEmbedder::embed(const std::vector<const std::vector<int32_t>*>& tokens,
                             const std::vector<int64_t>& len_bp,
                             std::vector<std::vector<float>>& out) {
  const int64_t n_seqs = static_cast<int64_t>(tokens.size());
  const int64_t h = cfg_.hidden_size;
  if (len_bp.size() != tokens.size())
    fail("resnetlm: %zu token lists but %zu lengths", tokens.size(), len_bp.size());
  out.resize(tokens.size());
  int64_t max_len = 0;
  bool equal_lengths = true;
  for (int64_t b = 0; b < n_seqs; b++) {
    const int64_t n = static_cast<int64_t>(tokens[b]->size());
    if (n != len_bp[b]) {
      fail("resnetlm: sequence %lld of the batch has %lld tokens for %lld bp (expected one per bp)",
           (long long)b, (long long)n, (long long)len_bp[b]);
    }
    if (b > 0 && n != max_len) equal_lengths = false;
    max_len = std::max(max_len, n);
  }
  for (int64_t b = 0; b < n_seqs; b++) out[b].assign(static_cast<size_t>(len_bp[b] * h), 0.0f);
  if (n_seqs == 0 || max_len == 0) return;

  c10::InferenceMode inference_guard;
  c10::NoGradGuard no_grad;
  at::Tensor ids = at::zeros({n_seqs, max_len}, at::kLong);  // padding reads as id 0, then masked
  at::Tensor mask;
  if (!equal_lengths) mask = at::zeros({n_seqs, max_len, 1}, at::kFloat);
  int64_t* id_ptr = ids.data_ptr<int64_t>();
  for (int64_t b = 0; b < n_seqs; b++) {
    const std::vector<int32_t>& t = *tokens[b];
    for (size_t i = 0; i < t.size(); i++) {
      if (t[i] < 0 || t[i] >= h) {
        fail(
            "resnetlm: sequence %lld of the batch: token id %d at position %zu is outside "
            "[0, %lld)",
            (long long)b, t[i], i, (long long)h);
      }
      id_ptr[b * max_len + static_cast<int64_t>(i)] = t[i];
    }
    if (mask.defined()) mask[b].narrow(0, 0, static_cast<int64_t>(t.size())).fill_(1.0f);
  }
  ids = ids.to(device_);
  if (mask.defined()) mask = mask.to(device_);
  at::Tensor y = forward(ids, mask).to(at::kCPU, at::kFloat).contiguous();  // [batch, max_len, hidden]
  const float* y_ptr = y.data_ptr<float>();
  for (int64_t b = 0; b < n_seqs; b++) {
    if (len_bp[b] == 0) continue;
    std::memcpy(out[b].data(), y_ptr + b * max_len * h, sizeof(float) * out[b].size());
  }
}

}  // namespace

std::unique_ptr<Embedder> make_resnetlm_embedder(const EmbedderOptions& opts) {
  if (opts.checkpoint_dir.empty()) fail("resnetlm: needs a checkpoint directory");
  return std::unique_ptr<Embedder>(new ResNetLMEmbedder(opts));
}

}  // namespace bend
