// The "awdlstm" Embedder: BEND's AWD-LSTM forward pass in LibTorch (bend/models/awdlstm.hpp).
// The sequence runs in blocks of kBlockSteps positions through every layer in turn, carrying
// each layer's (h, c) from block to block, so memory does not grow with the length of a
// 100 kbp enhancer sequence beyond the output itself.
#include "bend/models/awdlstm.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstring>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/char_tokenizer.hpp"
#include "bend/models/safetensors.hpp"
#include "torch_zoo.hpp"
#include "zoo_util.hpp"

namespace bend {

namespace {

constexpr int64_t kBlockSteps = 256;  // positions whose input projections are computed at once

// One LSTM layer on the compute device (H = its output width).
struct LstmLayer {
  zoo::Linear ih;     // [4H, in]: i2h.weight, bias i2h.bias + h2h.bias
  zoo::Linear hh;     // [4H, H]: weight_raw (or h2h.weight), no bias
  int64_t n_out = 0;  // H
};

class AwdLstmEmbedder : public Embedder {
 public:
  explicit AwdLstmEmbedder(const EmbedderOptions& opts);
  std::string name() const override { return "awdlstm"; }
  int64_t dim() const override { return cfg_.input_size; }
  void tokenize(const std::string& seq, std::vector<int32_t>& ids) const override {
    tok_.tokenize(seq, ids);
  }
  void embed(const std::vector<const std::vector<int32_t>*>& tokens,
             const std::vector<int64_t>& len_bp, std::vector<std::vector<float>>& out) override;
  std::string fingerprint() const override { return fingerprint_; }

 private:
  void load_weights(const std::string& path);
  at::Tensor forward(const at::Tensor& ids, const std::vector<int64_t>& lengths) const;

  AwdLstmConfig cfg_;
  CharTokenizer tok_;
  std::string fingerprint_;
  at::Device device_{at::kCPU};
  at::Tensor embedding_;  // [vocab_size, input_size]
  std::vector<LstmLayer> layers_;
};

AwdLstmEmbedder::AwdLstmEmbedder(const EmbedderOptions& opts) {
  const std::string& dir = opts.checkpoint_dir;
  if (dir.empty()) fail("awdlstm: needs a checkpoint directory");
  const std::string config_path = path_join(dir, "config.json");
  const std::string tokenizer_path = path_join(dir, "tokenizer.json");
  cfg_ = read_awdlstm_config(config_path);
  tok_ = read_char_tokenizer(tokenizer_path);
  const std::string weights_path = checkpoint_weights_path(dir);  // one file or shards
  if (tok_.max_id >= cfg_.vocab_size) {
    fail("%s: token id %d has no embedding row: vocab_size is %lld (%s)", tokenizer_path.c_str(),
         tok_.max_id, (long long)cfg_.vocab_size, config_path.c_str());
  }
  device_ = zoo::select_torch_device("awdlstm", opts.use_cuda, opts.local_rank);
  if (opts.n_threads > 0) at::set_num_threads(opts.n_threads);
  load_weights(weights_path);
  fingerprint_ =
      strfmt("awdlstm:crc32c=%08x", zoo::files_crc32c({weights_path, config_path, tokenizer_path}));
}

void AwdLstmEmbedder::load_weights(const std::string& path) {
  SafetensorsFile file(path);
  const AwdLstmLayout layout = check_awdlstm_weights(file, cfg_);
  auto load = [&](const std::string& n, std::vector<int64_t> shape) {
    return zoo::load_f32(file, layout.prefix + n, shape, device_);
  };
  embedding_ = load("embedding.weight", {cfg_.vocab_size, cfg_.input_size});
  for (int64_t l = 0; l < cfg_.num_hidden_layers; l++) {
    const int64_t n_in = cfg_.layer_in(l), n_out = cfg_.layer_out(l), gates = 4 * n_out;
    const std::string base = "encoder.lstm." + std::to_string(l) + ".";
    const std::string cell = layout.weight_drop ? base + "module." : base;
    LstmLayer layer;
    layer.n_out = n_out;
    layer.ih =
        zoo::make_linear(load(cell + "i2h.weight", {gates, n_in}),
                         load(cell + "i2h.bias", {gates}) + load(cell + "h2h.bias", {gates}));
    // WeightDrop at inference: h2h.weight = dropout(weight_raw, training=False) = weight_raw.
    const std::string recurrent = layout.weight_drop ? base + "weight_raw" : cell + "h2h.weight";
    layer.hh = zoo::make_linear(load(recurrent, {gates, n_out}), at::Tensor());
    layers_.push_back(std::move(layer));
  }
}

// Rows to zero after step s (BEND's reset before step s+1, which also zeroes output s): token s
// is the reset id, s >= 1, and step s+1 exists in that sequence. keep [len, batch, 1] (1 or 0)
// and, per step, whether any row resets. Empty when the config has no reset_token_id.
void reset_masks(const at::Tensor& ids_cpu, const std::vector<int64_t>& lengths, int64_t reset_id,
                 at::Tensor& keep, std::vector<char>& any) {
  const int64_t n = ids_cpu.size(0), len = ids_cpu.size(1);
  any.assign(size_t(len), 0);
  if (reset_id < 0) return;
  keep = at::ones({len, n, 1}, at::kFloat);
  const int64_t* id = ids_cpu.data_ptr<int64_t>();
  float* k = keep.data_ptr<float>();
  for (int64_t b = 0; b < n; b++) {
    for (int64_t s = 1; s + 1 < lengths[size_t(b)]; s++) {
      if (id[b * len + s] != reset_id) continue;
      k[s * n + b] = 0.0f;
      any[size_t(s)] = 1;
    }
  }
}

// ids: [batch, len] int64 on the CPU; lengths: each row's real length. Returns the last layer's
// outputs [batch, len, input_size] on the CPU.
at::Tensor AwdLstmEmbedder::forward(const at::Tensor& ids_cpu,
                                    const std::vector<int64_t>& lengths) const {
  const int64_t n = ids_cpu.size(0), len = ids_cpu.size(1);
  at::Tensor keep;
  std::vector<char> any;
  reset_masks(ids_cpu, lengths, cfg_.reset_token_id, keep, any);
  if (keep.defined()) keep = keep.to(device_);
  const at::Tensor ids = ids_cpu.t().contiguous().to(device_);  // [len, batch]
  const at::TensorOptions opt = at::TensorOptions().dtype(at::kFloat).device(device_);
  std::vector<at::Tensor> h, c;
  for (const LstmLayer& l : layers_) {
    h.push_back(at::zeros({n, l.n_out}, opt));
    c.push_back(at::zeros({n, l.n_out}, opt));
  }
  std::vector<at::Tensor> blocks;
  for (int64_t s0 = 0; s0 < len; s0 += kBlockSteps) {
    const int64_t steps = std::min(kBlockSteps, len - s0);
    at::Tensor x = at::embedding(embedding_, ids.narrow(0, s0, steps));  // [steps, batch, in]
    for (size_t li = 0; li < layers_.size(); li++) {
      const LstmLayer& l = layers_[li];
      const int64_t hw = l.n_out;
      at::Tensor xw = l.ih(x);  // [steps, batch, 4H]
      std::vector<at::Tensor> ys;
      for (int64_t t = 0; t < steps; t++) {
        at::Tensor pre = xw[t] + l.hh(h[li]);  // [batch, 4H]: gates i f o g
        at::Tensor ifo = at::sigmoid(pre.narrow(1, 0, 3 * hw));
        at::Tensor g = at::tanh(pre.narrow(1, 3 * hw, hw));
        c[li] = ifo.narrow(1, hw, hw) * c[li] + ifo.narrow(1, 0, hw) * g;
        h[li] = ifo.narrow(1, 2 * hw, hw) * at::tanh(c[li]);
        if (any[size_t(s0 + t)]) {
          h[li] = h[li] * keep[s0 + t];
          c[li] = c[li] * keep[s0 + t];
        }
        ys.push_back(h[li]);
      }
      x = at::stack(ys);  // [steps, batch, H]
    }
    blocks.push_back(x.to(at::kCPU, at::kFloat));
  }
  return at::cat(blocks).transpose(0, 1).contiguous();  // [batch, len, input_size]
}

void AwdLstmEmbedder::embed(const std::vector<const std::vector<int32_t>*>& tokens,
                            const std::vector<int64_t>& len_bp,
                            std::vector<std::vector<float>>& out) {
  if (len_bp.size() != tokens.size())
    fail("awdlstm: %zu token lists but %zu lengths", tokens.size(), len_bp.size());
  const int64_t dim = cfg_.input_size;
  std::vector<int64_t> lengths;
  std::vector<size_t> all;
  for (size_t b = 0; b < tokens.size(); b++) {
    const std::vector<int32_t>& t = *tokens[b];
    if (int64_t(t.size()) != len_bp[b]) {
      fail("awdlstm: sequence %zu of the batch has %zu tokens for %lld bp (expected one per bp)", b,
           t.size(), (long long)len_bp[b]);
    }
    for (size_t i = 0; i < t.size(); i++) {
      if (t[i] < 0 || t[i] >= cfg_.vocab_size) {
        fail("awdlstm: sequence %zu of the batch: token id %d at position %zu is outside [0, %lld)",
             b, t[i], i, (long long)cfg_.vocab_size);
      }
    }
    lengths.push_back(len_bp[b]);
    all.push_back(b);
  }
  out.resize(tokens.size());
  int64_t max_len = 0;
  for (int64_t n : lengths) max_len = std::max(max_len, n);
  for (size_t b = 0; b < tokens.size(); b++) out[b].assign(size_t(len_bp[b] * dim), 0.0f);
  if (tokens.empty() || max_len == 0) return;
  c10::InferenceMode inference_guard;
  c10::NoGradGuard no_grad;
  // Right padding with id 0 is exact: the LSTM is causal and resets stop at each row's end.
  const at::Tensor y = forward(zoo::padded_ids(tokens, all, 0), lengths);  // [batch, len, dim]
  const float* p = y.data_ptr<float>();
  for (size_t b = 0; b < tokens.size(); b++)
    std::memcpy(out[b].data(), p + int64_t(b) * max_len * dim, sizeof(float) * out[b].size());
}

}  // namespace

std::unique_ptr<Embedder> make_awdlstm_embedder(const EmbedderOptions& opts) {
  return std::unique_ptr<Embedder>(new AwdLstmEmbedder(opts));
}

}  // namespace bend
