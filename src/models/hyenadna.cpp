// The "hyenadna" Embedder: HyenaDNA's forward pass in LibTorch (ATen ops only), as described in
// bend/models/hyenadna.hpp. The implicit long filters do not depend on the input, so they are
// evaluated once at load for all l_max positions; an input of len ids uses the first len.
#include "bend/models/hyenadna.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/chunked_embedder.hpp"
#include "bend/models/lm_output.hpp"
#include "bend/models/safetensors.hpp"
#include "torch_zoo.hpp"
#include "zoo_util.hpp"

namespace bend {

namespace {

// Most padded ids run through the model at once (one input may be longer: up to l_max).
constexpr int64_t kMaxBatchTokens = int64_t(1) << 16;

// Weights of one block, on the compute device (shapes for d = d_model, o = order).
struct HyenaLayer {
  at::Tensor norm1_w, norm1_b, norm2_w, norm2_b;  // [d]
  zoo::Linear in_proj;                            // [(o+1) d, d]
  zoo::Linear out_proj;                           // [d, d]
  at::Tensor short_w;                             // [(o+1) d, short_filter_order]
  at::Tensor short_b;                             // [(o+1) d]
  at::Tensor long_k;                              // [o-1, d, l_max]: implicit filters
  at::Tensor long_bias;                           // [o-1, d]: filter_fn.bias
  zoo::Linear fc1, fc2;                           // [d_inner, d], [d, d_inner]
};

class HyenaDNAEmbedder : public ChunkedEmbedder {
 public:
  explicit HyenaDNAEmbedder(const EmbedderOptions& opts);

 protected:
  void forward_inputs(const std::vector<const std::vector<int32_t>*>& inputs,
                      std::vector<std::vector<float>>& hidden) override;

 private:
  void load_weights(const std::string& path);
  void load_lm_head(const SafetensorsFile& file, const std::string& config_path);
  at::Tensor head_output(const at::Tensor& y, const at::Tensor& ids) const;
  at::Tensor implicit_filter(const SafetensorsFile& file, const std::string& p) const;
  at::Tensor hyena(const HyenaLayer& l, const at::Tensor& u) const;
  at::Tensor forward(const at::Tensor& ids) const;

  HyenaDNAConfig cfg_;
  at::Device device_{at::kCPU};
  at::Tensor word_;             // [padded_vocab_size, d]
  at::Tensor ln_f_w_, ln_f_b_;  // [d]
  std::vector<HyenaLayer> layers_;
  LmOutput output_ = LmOutput::kHidden;
  zoo::Linear lm_head_;  // [padded_vocab_size, d], no bias; set unless output_ is kHidden
  zoo::LossVocab loss_vocab_;  // loss, --rules bend: BEND's softmax over A, C, G, T, N only
};

HyenaDNAEmbedder::HyenaDNAEmbedder(const EmbedderOptions& opts) {
  name_ = "hyenadna";
  const std::string& dir = opts.checkpoint_dir;
  if (dir.empty()) fail("hyenadna: needs a checkpoint directory");
  const std::string config_path = path_join(dir, "config.json");
  cfg_ = read_hyenadna_config(config_path);
  tokenizer_ = make_tokenizer("hyenadna", dir);  // checks vocab_size against the vocabulary
  const std::string weights_path = checkpoint_weights_path(dir);  // one file or shards
  if (tokenizer_->max_emitted_id() >= cfg_.padded_vocab_size()) {
    fail("%s: vocab_size %lld has no row for token id %d", config_path.c_str(),
         (long long)cfg_.vocab_size, tokenizer_->max_emitted_id());
  }
  rule_ = ChunkRule{cfg_.max_bp(), 0};
  output_ = parse_lm_output(opts.output, "hyenadna");
  dim_ = output_ == LmOutput::kHidden
             ? cfg_.d_model
             : (output_ == LmOutput::kLogits ? cfg_.padded_vocab_size() : 1);
  device_ = zoo::select_torch_device("hyenadna", opts.use_cuda, opts.local_rank);
  if (opts.n_threads > 0) at::set_num_threads(opts.n_threads);
  load_weights(weights_path);
  if (output_ != LmOutput::kHidden) load_lm_head(SafetensorsFile(weights_path), config_path);
  if (output_ == LmOutput::kLoss && opts.rules != "corrected") {
    // BEND slices the logits to ids 7-11, the vocabulary's A, C, G, T, N.
    std::vector<int32_t> keep;
    for (int32_t id = 0; id < int32_t(tokenizer_->vocab().size()); id++) {
      const std::string& t = tokenizer_->token(id);
      if (t == "A" || t == "C" || t == "G" || t == "T" || t == "N") keep.push_back(id);
    }
    loss_vocab_ = zoo::make_loss_vocab(keep, cfg_.padded_vocab_size(), device_);
  }
  fingerprint_ = strfmt("hyenadna:crc32c=%08x", zoo::files_crc32c({weights_path, config_path}));
}

// The filter MLP of layer prefix `p` at every position: [o-1, d, l_max].
at::Tensor HyenaDNAEmbedder::implicit_filter(const SafetensorsFile& file,
                                             const std::string& p) const {
  const int64_t fo = cfg_.filter_order, wf = (cfg_.order - 1) * cfg_.d_model;
  const std::string f = p + "mixer.filter_fn.";
  const std::string mlp = f + "implicit_filter.";
  auto load = [&](const std::string& n, std::vector<int64_t> shape) {
    return zoo::load_f32(file, n, shape, device_);
  };
  // The Sin layers share one module in the published code: a converter may keep one freq.
  at::Tensor shared_freq;
  for (int64_t j = 0; j <= cfg_.num_inner_mlps && !shared_freq.defined(); j++) {
    const std::string n = mlp + std::to_string(2 * j + 1) + ".freq";
    if (file.has(n)) shared_freq = load(n, {1, fo});
  }
  if (!shared_freq.defined())
    shared_freq = at::full({1, fo}, cfg_.activation_freq, at::TensorOptions().device(device_));
  at::Tensor h = load(f + "pos_emb.z", {1, cfg_.l_max, cfg_.emb_dim});  // [1, l_max, emb_dim]
  for (int64_t j = 0; j <= cfg_.num_inner_mlps; j++) {
    const std::string lin = mlp + std::to_string(2 * j);
    const int64_t n_in = j == 0 ? cfg_.emb_dim : fo;
    h = zoo::make_linear(load(lin + ".weight", {fo, n_in}), load(lin + ".bias", {fo}))(h);
    const std::string freq_name = mlp + std::to_string(2 * j + 1) + ".freq";
    h = at::sin((file.has(freq_name) ? load(freq_name, {1, fo}) : shared_freq) * h);
  }
  const std::string last = mlp + std::to_string(2 * cfg_.num_inner_mlps + 2) + ".weight";
  h = zoo::make_linear(load(last, {wf, fo}), at::Tensor())(h);  // [1, l_max, (o-1) d]
  if (cfg_.modulate) {
    at::Tensor t = load(f + "pos_emb.t", {1, cfg_.l_max, 1});
    at::Tensor deltas = load(f + "modulation.deltas", {1, 1, wf});
    h = h * (at::exp(-t * deltas.abs()) + cfg_.modulation_shift);
  }
  // 'l (o d) -> o d l'
  return h[0].transpose(0, 1).reshape({cfg_.order - 1, cfg_.d_model, cfg_.l_max}).contiguous();
}

void HyenaDNAEmbedder::load_weights(const std::string& path) {
  SafetensorsFile file(path);
  const std::string prefix = check_hyenadna_weights(file, cfg_);
  const int64_t d = cfg_.d_model, wide = (cfg_.order + 1) * d;
  auto load = [&](const std::string& n, std::vector<int64_t> shape) {
    return zoo::load_f32(file, prefix + n, shape, device_);
  };
  word_ = load("embeddings.word_embeddings.weight", {cfg_.padded_vocab_size(), d});
  ln_f_w_ = load("ln_f.weight", {d});
  ln_f_b_ = load("ln_f.bias", {d});
  for (int64_t i = 0; i < cfg_.n_layer; i++) {
    const std::string p = "layers." + std::to_string(i) + ".";
    const std::string m = p + "mixer.";
    HyenaLayer l;
    l.norm1_w = load(p + "norm1.weight", {d});
    l.norm1_b = load(p + "norm1.bias", {d});
    l.norm2_w = load(p + "norm2.weight", {d});
    l.norm2_b = load(p + "norm2.bias", {d});
    l.in_proj =
        zoo::make_linear(load(m + "in_proj.weight", {wide, d}), load(m + "in_proj.bias", {wide}));
    l.out_proj =
        zoo::make_linear(load(m + "out_proj.weight", {d, d}), load(m + "out_proj.bias", {d}));
    l.short_w = load(m + "short_filter.weight", {wide, 1, cfg_.short_filter_order})
                    .view({wide, cfg_.short_filter_order});
    l.short_b = load(m + "short_filter.bias", {wide});
    l.long_k = implicit_filter(file, prefix + p);
    l.long_bias = load(m + "filter_fn.bias", {(cfg_.order - 1) * d}).view({cfg_.order - 1, d});
    l.fc1 = zoo::make_linear(load(p + "mlp.fc1.weight", {cfg_.d_inner, d}),
                             load(p + "mlp.fc1.bias", {cfg_.d_inner}));
    l.fc2 = zoo::make_linear(load(p + "mlp.fc2.weight", {d, cfg_.d_inner}),
                             load(p + "mlp.fc2.bias", {d}));
    layers_.push_back(std::move(l));
  }
}

// The causal LM head (HyenaDNAForCausalLM's lm_head, hyena-dna's ConvLMHeadModel): its own
// lm_head.weight when the checkpoint has one, else the word embeddings (tied, the default).
void HyenaDNAEmbedder::load_lm_head(const SafetensorsFile& file, const std::string& config_path) {
  const int64_t v = cfg_.padded_vocab_size(), d = cfg_.d_model;
  at::Tensor w;
  for (const char* name : {"lm_head.weight", "model.lm_head.weight"}) {
    if (w.defined() || !file.has(name)) continue;
    const TensorInfo& t = file.info(name);
    if (t.shape != std::vector<int64_t>{v, d}) {
      fail("%s: %s has shape %s; the causal LM head needs [%lld, %lld] (padded vocab, d_model)",
           file.path().c_str(), name, zoo::shape_str(t.shape).c_str(), (long long)v, (long long)d);
    }
    w = zoo::load_f32(file, name, {v, d}, device_);
  }
  if (!w.defined()) {
    const nlohmann::json j = zoo::parse_json_object(read_file(config_path), config_path);
    if (!zoo::json_bool(j, "tie_word_embeddings", config_path, true)) {
      fail(
          "%s: no causal LM head for output logits / loss: missing tensors: lm_head.weight "
          "(config.json has \"tie_word_embeddings\": false)",
          file.path().c_str());
    }
    w = word_;
  }
  lm_head_ = zoo::make_linear(w, at::Tensor());
}

// Language-model output of hidden states y [n, len, d] for ids [n, len]: row t holds the
// head's prediction of token t from the tokens before it (logits, or the cross-entropy of
// ids[t]); row 0 (always [CLS]) has none and is 0. Returns [n, len, dim_].
at::Tensor HyenaDNAEmbedder::head_output(const at::Tensor& y, const at::Tensor& ids) const {
  const int64_t n = y.size(0), len = y.size(1);
  at::Tensor out = at::zeros({n, len, dim_}, y.options());
  if (len < 2) return out;
  const at::Tensor logits = lm_head_(y.narrow(1, 0, len - 1));  // [n, len - 1, vocab]
  if (output_ == LmOutput::kLogits) {
    out.narrow(1, 1, len - 1).copy_(logits);
    return out;
  }
  const at::Tensor ce =
      zoo::token_cross_entropy(logits.reshape({-1, logits.size(2)}),
                               ids.narrow(1, 1, len - 1).reshape({-1}), loss_vocab_);
  out.narrow(1, 1, len - 1).copy_(ce.view({n, len - 1, 1}));
  return out;
}

// Causal convolution of u [batch, d, len] with filters k [d, len] through the FFT (size 2 len,
// so nothing wraps around), plus the skip term bias [d] * u, as hyena-dna's fftconv.
at::Tensor fft_conv(const at::Tensor& u, const at::Tensor& k, const at::Tensor& bias) {
  const int64_t len = u.size(-1), n = 2 * len;
  at::Tensor k_f = at::fft_rfft(k, n) / double(n);
  at::Tensor u_f = at::fft_rfft(u, n);
  at::Tensor y = at::fft_irfft(u_f * k_f, n, -1, "forward").narrow(-1, 0, len);
  return y + u * bias.unsqueeze(-1);
}

// The short filter: depthwise Conv1d of width k with padding 2, first len outputs (causal for
// k = 3): y[t] = b + sum_j w[j] z[t + j - 2]. Written as k shifted multiply-adds, which is
// much faster here than at::conv1d's grouped path. z [batch, channels, len].
at::Tensor short_conv(const at::Tensor& z, const at::Tensor& w, const at::Tensor& b) {
  const int64_t len = z.size(2), k = w.size(1);
  const at::Tensor zp = at::constant_pad_nd(z, {2, std::max<int64_t>(0, k - 3)}, 0);
  at::Tensor y = b.view({1, -1, 1}).expand({z.size(0), z.size(1), len}).clone();
  for (int64_t j = 0; j < k; j++) y.addcmul_(w.select(1, j).view({1, -1, 1}), zp.narrow(2, j, len));
  return y;
}

// The Hyena operator: u [batch, len, d] -> [batch, len, d].
at::Tensor HyenaDNAEmbedder::hyena(const HyenaLayer& l, const at::Tensor& u) const {
  const int64_t d = cfg_.d_model, o = cfg_.order;
  at::Tensor z = l.in_proj(u).transpose(1, 2);  // [batch, (o+1) d, len]
  at::Tensor uc = short_conv(z, l.short_w, l.short_b);
  std::vector<at::Tensor> parts = uc.split(d, 1);  // x_0 .. x_{o-1}, v
  at::Tensor v = parts[size_t(o)];
  for (int64_t i = 0; i < o - 1; i++) {
    v = v * parts[size_t(o - 1 - i)];
    v = fft_conv(v, l.long_k[i].narrow(-1, 0, u.size(1)), l.long_bias[i]);
  }
  at::Tensor y = (v * parts[0]).transpose(1, 2);  // [batch, len, d]
  return l.out_proj(y);
}

// ids: [batch, len] int64 on device_ -> [batch, len, d] float.
at::Tensor HyenaDNAEmbedder::forward(const at::Tensor& ids) const {
  const int64_t d = cfg_.d_model;
  const double eps = cfg_.layer_norm_epsilon;
  at::Tensor x = at::embedding(word_, ids);
  for (const HyenaLayer& l : layers_) {
    x = x + hyena(l, at::layer_norm(x, {d}, l.norm1_w, l.norm1_b, eps));
    at::Tensor h = at::layer_norm(x, {d}, l.norm2_w, l.norm2_b, eps);
    x = x + l.fc2(at::gelu(l.fc1(h), "tanh"));
  }
  return at::layer_norm(x, {d}, ln_f_w_, ln_f_b_, eps);
}

void HyenaDNAEmbedder::forward_inputs(const std::vector<const std::vector<int32_t>*>& inputs,
                                      std::vector<std::vector<float>>& hidden) {
  std::vector<int64_t> lengths;
  for (size_t i = 0; i < inputs.size(); i++) {
    const std::vector<int32_t>& v = *inputs[i];
    if (int64_t(v.size()) > cfg_.l_max) {
      fail("hyenadna: an input of %zu ids is longer than l_max %lld", v.size(),
           (long long)cfg_.l_max);
    }
    for (int32_t id : v) {
      if (id < 0 || id >= cfg_.padded_vocab_size())
        fail("hyenadna: token id %d is outside [0, %lld)", id, (long long)cfg_.padded_vocab_size());
    }
    lengths.push_back(int64_t(v.size()));
  }
  c10::InferenceMode inference_guard;
  c10::NoGradGuard no_grad;
  hidden.assign(inputs.size(), {});
  // Right padding is exact: every operation is causal, so padding never reaches a real id.
  for (const std::vector<size_t>& batch : zoo::length_batches(lengths, kMaxBatchTokens)) {
    at::Tensor ids = zoo::padded_ids(inputs, batch, std::max(0, tokenizer_->pad_id())).to(device_);
    at::Tensor y = forward(ids);                                // [n, max_len, d_model]
    if (output_ != LmOutput::kHidden) y = head_output(y, ids);  // [n, max_len, dim_]
    zoo::copy_batch_rows(y, batch, lengths, hidden);
  }
}

}  // namespace

std::unique_ptr<Embedder> make_hyenadna_embedder(const EmbedderOptions& opts) {
  return std::unique_ptr<Embedder>(new HyenaDNAEmbedder(opts));
}

}  // namespace bend
