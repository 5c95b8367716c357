// The "gpn" Embedder: GPN's convolutional masked LM (legacy ConvNet and GPN convnet) in LibTorch
// (ATen ops only), as described in bend/models/gpn.hpp.
#include "bend/models/gpn.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstring>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/char_tokenizer.hpp"
#include "bend/models/lm_output.hpp"
#include "bend/models/safetensors.hpp"
#include "torch_zoo.hpp"
#include "zoo_util.hpp"

namespace bend {

namespace {

// Most padded positions run through the model at once (one sequence may be longer).
constexpr int64_t kMaxBatchTokens = int64_t(1) << 16;
constexpr double kLayerNormEps = 1e-5;  // nn.LayerNorm's default

// One LayerNorm; b undefined when the config has no biases.
struct Norm {
  at::Tensor w, b;  // [h]
};

// Weights of one block on the compute device (h = hidden_size, i = intermediate_size).
struct GpnLayer {
  at::Tensor conv_w, conv_b;  // [h, h / groups, k], [h] or undefined
  int64_t groups = 1, dilation = 1, pad_left = 0, pad_right = 0;
  Norm conv_norm;        // ConvNet: after GELU; GPN: before the conv
  zoo::Linear conv_out;  // GPN only: [h, h]
  Norm ffn_norm;         // ConvNet: after GELU; GPN: before ffn_in
  zoo::Linear ffn_in;    // ConvNet: [h, h]; GPN: [i, h]
  zoo::Linear ffn_out;   // GPN only: [h, i]
};

class GpnEmbedder : public Embedder {
 public:
  explicit GpnEmbedder(const EmbedderOptions& opts);
  std::string name() const override { return "gpn"; }
  int64_t dim() const override { return dim_; }
  void tokenize(const std::string& seq, std::vector<int32_t>& ids) const override {
    tok_.tokenize(seq, ids);
  }
  void embed(const std::vector<const std::vector<int32_t>*>& tokens,
             const std::vector<int64_t>& len_bp, std::vector<std::vector<float>>& out) override;
  // Masked-LM llr (Embedder::mask_variant_token), GPN's own zero-shot score: one id per
  // nucleotide, so ids[pos_bp] is replaced by "[MASK]"; alt_id = the alt base's id.
  void mask_variant_token(std::vector<int32_t>& ids, int64_t pos_bp, char alt, int32_t& ref_id,
                          int32_t& alt_id) const override;
  std::string fingerprint() const override { return fingerprint_; }

 private:
  void load(const std::string& path);
  at::Tensor norm(const at::Tensor& x, const Norm& n) const {
    return at::layer_norm(x, {cfg_.hidden_size}, n.w, n.b, kLayerNormEps);
  }
  at::Tensor conv(const GpnLayer& l, const at::Tensor& x) const;
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask) const;
  at::Tensor head(const at::Tensor& hidden) const;

  GpnConfig cfg_;
  CharTokenizer tok_;
  LmOutput output_ = LmOutput::kHidden;
  int64_t dim_ = 0;
  std::string fingerprint_;
  at::Device device_{at::kCPU};
  at::Tensor word_;  // [vocab, h] (embedding "embedding" only)
  std::vector<GpnLayer> layers_;
  Norm ln_f_;                              // GPN only
  zoo::Linear head_dense_, head_decoder_;  // set unless output_ is kHidden
  Norm head_norm_;
  bool head_transform_ = false;
};

GpnEmbedder::GpnEmbedder(const EmbedderOptions& opts) {
  const std::string& dir = opts.checkpoint_dir;
  if (dir.empty()) fail("gpn: needs a checkpoint directory");
  const std::string config_path = path_join(dir, "config.json");
  const std::string tokenizer_path = path_join(dir, "tokenizer.json");
  cfg_ = read_gpn_config(config_path);
  tok_ = read_char_tokenizer(tokenizer_path);
  const std::string weights_path = checkpoint_weights_path(dir);  // one file or shards
  const int64_t rows = cfg_.embedding_table ? cfg_.vocab_size : cfg_.hidden_size;
  if (tok_.max_id >= rows || tok_.max_id >= cfg_.vocab_size) {
    fail("%s: token id %d does not fit vocab_size %lld / the input width %lld (%s)",
         tokenizer_path.c_str(), tok_.max_id, (long long)cfg_.vocab_size, (long long)rows,
         config_path.c_str());
  }
  output_ = parse_lm_output(opts.output, "gpn");
  dim_ = output_ == LmOutput::kLogits ? cfg_.vocab_size
                                      : (output_ == LmOutput::kLoss ? 1 : cfg_.hidden_size);
  device_ = zoo::select_torch_device("gpn", opts.use_cuda, opts.local_rank);
  if (opts.n_threads > 0) at::set_num_threads(opts.n_threads);
  load(weights_path);
  fingerprint_ =
      strfmt("gpn:crc32c=%08x", zoo::files_crc32c({weights_path, config_path, tokenizer_path}));
}

void GpnEmbedder::mask_variant_token(std::vector<int32_t>& ids, int64_t pos_bp, char alt,
                                     int32_t& ref_id, int32_t& alt_id) const {
  const auto mask = tok_.vocab.find("[MASK]");
  if (mask == tok_.vocab.end())
    fail("gpn: %s has no [MASK] token (--score llr)", tok_.path.c_str());
  if (pos_bp < 0 || pos_bp >= static_cast<int64_t>(ids.size())) {
    fail("gpn: no token covers nucleotide %lld of a %zu-token sequence", (long long)pos_bp,
         ids.size());
  }
  std::vector<int32_t> a;
  tok_.tokenize(std::string(1, alt), a);
  ref_id = ids[static_cast<size_t>(pos_bp)];
  alt_id = a.size() == 1 && a[0] != tok_.unk_id ? a[0] : -1;
  ids[static_cast<size_t>(pos_bp)] = mask->second;
}

void GpnEmbedder::load(const std::string& path) {
  SafetensorsFile file(path);
  const bool with_head = output_ != LmOutput::kHidden;
  check_gpn_weights(file, cfg_, with_head);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const GpnTensor& t : gpn_tensor_specs(cfg_)) shapes[t.first] = t.second;
  for (const GpnTensor& t : gpn_head_tensor_specs(cfg_)) shapes[t.first] = t.second;
  auto get = [&](const std::string& name) -> at::Tensor {
    if (!shapes.count(name)) return at::Tensor();  // no bias in this configuration
    return zoo::load_f32(file, name, shapes[name], device_);
  };
  auto linear = [&](const std::string& n) {
    return zoo::make_linear(get(n + ".weight"), get(n + ".bias"));
  };
  auto norm = [&](const std::string& n) { return Norm{get(n + ".weight"), get(n + ".bias")}; };
  if (cfg_.embedding_table) word_ = get("model.embeddings.word_embeddings.weight");
  for (int64_t i = 0; i < cfg_.num_hidden_layers; i++) {
    GpnLayer l;
    const std::string p = cfg_.legacy ? "model.encoder." + std::to_string(i) + "."
                                      : "model.encoder.layer." + std::to_string(i) + ".";
    const std::string conv = cfg_.legacy ? "conv.1" : "conv.2";
    l.conv_w = get(p + conv + ".weight");
    l.conv_b = get(p + conv + ".bias");
    l.groups = (!cfg_.legacy && cfg_.depthwise && i > 0) ? cfg_.hidden_size : 1;
    l.dilation = gpn_dilation(cfg_, i);
    const int64_t total = l.dilation * (gpn_kernel_size(cfg_, i) - 1);  // torch's 'same'
    l.pad_left = total / 2;
    l.pad_right = total - l.pad_left;
    l.conv_norm = norm(p + (cfg_.legacy ? "conv.4" : "conv.0"));
    l.ffn_norm = norm(p + (cfg_.legacy ? "ffn.2" : "ffn.0"));
    l.ffn_in = linear(p + (cfg_.legacy ? "ffn.0" : "ffn.1"));
    if (!cfg_.legacy) {
      l.conv_out = linear(p + "conv.5");
      l.ffn_out = linear(p + "ffn.3");
    }
    layers_.push_back(std::move(l));
  }
  if (!cfg_.legacy) ln_f_ = norm("model.ln_f");
  if (!with_head) return;
  head_transform_ = cfg_.legacy || cfg_.mlm_head_transform;
  const std::string t = cfg_.legacy ? "cls.decoder.0" : "cls.transform.0";
  const std::string tn = cfg_.legacy ? "cls.decoder.2" : "cls.transform.2";
  if (head_transform_) {
    head_dense_ = linear(t);
    head_norm_ = norm(tn);
  }
  head_decoder_ = linear(cfg_.legacy ? "cls.decoder.3" : "cls.decoder");
}

// Conv1d with 'same' zero padding made explicit: x [batch, len, h] -> [batch, len, h].
at::Tensor GpnEmbedder::conv(const GpnLayer& l, const at::Tensor& x) const {
  at::Tensor xp = at::constant_pad_nd(x, {0, 0, l.pad_left, l.pad_right}, 0);  // [b, len+pad, h]
  const int64_t stride = 1, no_padding = 0;  // lvalues: a literal 0 would also match string_view
  return at::conv1d(xp.transpose(1, 2), l.conv_w, l.conv_b, stride, no_padding, l.dilation,
                    l.groups)
      .transpose(1, 2);
}

// ids [batch, len] int64, mask [batch, len, 1] float (1 = real) or undefined -> hidden
// [batch, len, h]. Padded positions are zeroed before each convolution, as a lone sequence's
// 'same' padding reads zeros there.
at::Tensor GpnEmbedder::forward(const at::Tensor& ids, const at::Tensor& mask) const {
  at::Tensor x = cfg_.embedding_table ? at::embedding(word_, ids)
                                      : at::one_hot(ids, cfg_.hidden_size).to(at::kFloat);
  auto masked = [&](const at::Tensor& t) { return mask.defined() ? t * mask : t; };
  for (const GpnLayer& l : layers_) {
    if (cfg_.legacy) {
      x = x + norm(at::gelu(conv(l, masked(x))), l.conv_norm);
      x = x + norm(at::gelu(l.ffn_in(x)), l.ffn_norm);
    } else {
      x = x + l.conv_out(at::gelu(conv(l, masked(norm(x, l.conv_norm)))));
      x = x + l.ffn_out(at::gelu(l.ffn_in(norm(x, l.ffn_norm))));
    }
  }
  return cfg_.legacy ? x : norm(x, ln_f_);
}

// Masked-LM logits of hidden [batch, len, h] -> [batch, len, vocab].
at::Tensor GpnEmbedder::head(const at::Tensor& hidden) const {
  at::Tensor x = hidden;
  if (head_transform_) x = norm(at::gelu(head_dense_(x)), head_norm_);
  return head_decoder_(x);
}

void GpnEmbedder::embed(const std::vector<const std::vector<int32_t>*>& tokens,
                        const std::vector<int64_t>& len_bp, std::vector<std::vector<float>>& out) {
  if (len_bp.size() != tokens.size())
    fail("gpn: %zu token lists but %zu lengths", tokens.size(), len_bp.size());
  std::vector<int64_t> lengths(tokens.size());
  out.resize(tokens.size());
  for (size_t b = 0; b < tokens.size(); b++) {
    lengths[b] = static_cast<int64_t>(tokens[b]->size());
    if (lengths[b] != len_bp[b]) {
      fail("gpn: sequence %zu of the batch has %lld tokens for %lld bp (expected one per bp)", b,
           (long long)lengths[b], (long long)len_bp[b]);
    }
    out[b].assign(static_cast<size_t>(len_bp[b] * dim_), 0.0f);
  }
  c10::InferenceMode inference_guard;
  c10::NoGradGuard no_grad;
  for (const std::vector<size_t>& batch : zoo::length_batches(lengths, kMaxBatchTokens)) {
    int64_t max_len = 0;
    for (size_t b : batch) max_len = std::max(max_len, lengths[b]);
    if (max_len == 0) continue;
    at::Tensor ids = zoo::padded_ids(tokens, batch, 0);  // [n, max_len]
    at::Tensor mask;
    for (size_t b : batch) {
      if (lengths[b] != max_len) mask = at::zeros({int64_t(batch.size()), max_len, 1}, at::kFloat);
    }
    for (size_t i = 0; mask.defined() && i < batch.size(); i++)
      mask[int64_t(i)].narrow(0, 0, lengths[batch[i]]).fill_(1.0f);
    ids = ids.to(device_);
    if (mask.defined()) mask = mask.to(device_);
    at::Tensor y = forward(ids, mask);  // [n, max_len, h]
    if (output_ != LmOutput::kHidden) {
      y = head(y);  // [n, max_len, vocab]
      if (output_ == LmOutput::kLoss)
        y = zoo::token_cross_entropy(y.reshape({-1, y.size(2)}), ids.reshape({-1}))
                .reshape({y.size(0), y.size(1), 1});
    }
    y = y.to(at::kCPU, at::kFloat).contiguous();
    const float* y_ptr = y.data_ptr<float>();
    for (size_t i = 0; i < batch.size(); i++) {
      std::vector<float>& o = out[batch[i]];
      if (!o.empty())
        std::memcpy(o.data(), y_ptr + int64_t(i) * max_len * dim_, sizeof(float) * o.size());
    }
  }
}

}  // namespace

std::unique_ptr<Embedder> make_gpn_embedder(const EmbedderOptions& opts) {
  return std::unique_ptr<Embedder>(new GpnEmbedder(opts));
}

}  // namespace bend
