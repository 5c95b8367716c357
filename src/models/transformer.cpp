// TransformerEncoder: the forward pass of BERT / GENA-LM / ESM (Nucleotide Transformer) /
// MosaicBERT (DNABERT-2) encoders in LibTorch, ATen ops only. Formulas: transformer.hpp.
// A batch runs unpadded, as MosaicBERT does: the token rows of all sequences are stacked into
// one [n_rows, hidden] matrix for the row-wise layers (projections, MLP, LayerNorm), and
// attention runs per sequence on its own rows, so no position is padding and nothing needs a
// mask. On CPU the matrix products call oneDNN directly (1x1 convolutions and mkldnn_linear):
// the LibTorch of this platform routes at::linear / at::matmul to a generic BLAS that is ~30x
// slower.
#include "bend/models/transformer.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/safetensors.hpp"
#include "bigbird_attention.hpp"
#include "torch_zoo.hpp"

namespace bend {

namespace {

struct Linear {
  at::Tensor w;   // [out, in]
  at::Tensor w4;  // [out, in, 1, 1]: the same data as a 1x1 convolution kernel (oneDNN)
  at::Tensor b;   // [out], undefined when the layer has no bias
};

struct Norm {
  at::Tensor w, b;  // [hidden]
};

// One encoder layer; which members are set depends on the architecture.
struct Layer {
  Norm ln_attn_pre, ln_ffn_pre;    // pre-LN: before attention / before the FFN
  Linear q, k, v, qkv;             // separate projections, or MosaicBERT's fused Wqkv
  Linear attn_out;                 // [hidden, hidden]
  Norm ln_attn_post, ln_ffn_post;  // post-LN: after each residual sum
  Linear ffn_in, ffn_out;          // [inter or 2 * inter, hidden], [hidden, inter]
};

// The masked-LM head: decoder(LN(act(dense(x)))) + decoder.b.
struct MlmHead {
  Linear dense;    // [hidden, hidden]
  Norm norm;       // [hidden]
  Linear decoder;  // w [vocab, hidden] (the word embeddings when tied), b [vocab]
};

// The token rows of one forward call: every sequence's tokens, concatenated.
struct Rows {
  at::Tensor ids;       // [n_rows] int64
  at::Tensor pos_ids;   // [n_rows] int64 rows of the position table (learned positions only)
  at::Tensor observed;  // [n_rows, 1] float: ESM token dropout's masked fraction of the row's
                        // sequence (undefined without token dropout)
  std::vector<int64_t> start, len;  // per sequence: first row and number of rows
};

at::Device select_device(const TransformerRunOptions& opts) {
  if (!opts.use_cuda) return at::Device(at::kCPU);
  // which device: bend/core/cuda_device.hpp (the local rank, the visible devices, Slurm's binding)
  const int index = zoo::cuda_device_for_rank("transformer", opts.local_rank);
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
}

// ALiBi head slopes as MosaicBERT computes them (Press et al.; non powers of two interleaved).
std::vector<double> alibi_slopes(int64_t n_heads) {
  auto power_of_2 = [](int64_t n) {
    const double start = std::pow(2.0, -std::pow(2.0, -(std::log2(double(n)) - 3)));
    std::vector<double> s;
    for (int64_t i = 0; i < n; i++) s.push_back(start * std::pow(start, double(i)));
    return s;
  };
  const double lg = std::log2(double(n_heads));
  if (lg == std::floor(lg)) return power_of_2(n_heads);
  const int64_t closest = int64_t(1) << int64_t(std::floor(lg));
  std::vector<double> out = power_of_2(closest);
  const std::vector<double> twice = alibi_slopes(2 * closest);
  for (size_t i = 0; i < twice.size() && int64_t(out.size()) < n_heads; i += 2)
    out.push_back(twice[i]);
  return out;
}

}  // namespace

struct TransformerEncoder::Impl {
  TransformerConfig cfg;
  at::Device device{at::kCPU};
  bool use_onednn = false;  // CPU with oneDNN: matrix products through oneDNN
  int64_t head_dim = 0;
  at::Tensor word, position, token_type;  // [vocab, h], [max_pos, h], [types, h]
  Norm emb_ln, final_ln;
  std::vector<Layer> layers;
  std::vector<double> slopes;  // ALiBi slope per head
  at::Tensor inv_freq;         // [rotary_dim / 2]
  LmOutput output = LmOutput::kHidden;
  MlmHead head;  // set unless output is kHidden
  zoo::LossVocab loss_vocab;  // loss: the softmax's columns (undefined: all)

  void load(const std::string& weights_path);
  void load_head(const SafetensorsFile& file);
  at::Tensor head_output(const at::Tensor& hidden, const at::Tensor& ids) const;
  Rows make_rows(const std::vector<const std::vector<int32_t>*>& inputs) const;
  at::Tensor linear(const Linear& l, const at::Tensor& x) const;
  at::Tensor matmul_nt(const at::Tensor& a, const at::Tensor& b) const;
  at::Tensor embed(const Rows& rows) const;
  at::Tensor rotate(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) const;
  at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& distance) const;
  at::Tensor attention(const Layer& l, const at::Tensor& x, const Rows& rows, const at::Tensor& cos,
                       const at::Tensor& sin) const;
  at::Tensor ffn(const Layer& l, const at::Tensor& x) const;
  at::Tensor layer_norm(const at::Tensor& x, const Norm& n) const {
    return at::layer_norm(x, {cfg.hidden_size}, n.w, n.b, cfg.layer_norm_eps);
  }
  at::Tensor forward(const Rows& rows) const;
};

void TransformerEncoder::Impl::load(const std::string& weights_path) {
  SafetensorsFile file(weights_path);
  const std::map<std::string, std::string> names = check_transformer_weights(file, cfg);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const TensorSpec& s : transformer_tensor_specs(cfg)) shapes[s.name] = s.shape;
  auto get = [&](const std::string& name) -> at::Tensor {
    auto it = names.find(name);
    if (it == names.end()) return at::Tensor();  // a weight this configuration does not have
    std::vector<float> values = file.read_f32(it->second);
    at::Tensor t =
        at::from_blob(values.data(), shapes[name], at::TensorOptions().dtype(at::kFloat));
    return t.to(device, /*non_blocking=*/false, /*copy=*/true);
  };
  auto linear = [&](const std::string& n) {
    Linear l{get(n + ".weight"), at::Tensor(), get(n + ".bias")};
    if (l.w.defined()) l.w4 = l.w.view({l.w.size(0), l.w.size(1), 1, 1});
    return l;
  };
  auto norm = [&](const std::string& n) { return Norm{get(n + ".weight"), get(n + ".bias")}; };
  const bool esm = cfg.arch == TransformerArch::kEsm;
  word = get("embeddings.word_embeddings.weight");
  position = get("embeddings.position_embeddings.weight");
  token_type = get("embeddings.token_type_embeddings.weight");
  emb_ln = norm(esm ? "embeddings.layer_norm" : "embeddings.LayerNorm");
  final_ln = norm(esm ? "encoder.emb_layer_norm_after" : "encoder.last_layer_ln");
  for (int64_t i = 0; i < cfg.num_hidden_layers; i++) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    Layer l;
    l.ln_attn_pre = norm(esm ? p + "attention.LayerNorm" : p + "pre_attention_ln");
    l.ln_ffn_pre = norm(esm ? p + "LayerNorm" : p + "post_attention_ln");
    l.q = linear(p + "attention.self.query");
    l.k = linear(p + "attention.self.key");
    l.v = linear(p + "attention.self.value");
    l.qkv = linear(p + "attention.self.Wqkv");
    l.attn_out = linear(p + "attention.output.dense");
    l.ln_attn_post = norm(p + "attention.output.LayerNorm");
    const bool mosaic = cfg.arch == TransformerArch::kMosaicBert;
    l.ffn_in = linear(mosaic ? p + "mlp.gated_layers" : p + "intermediate.dense");
    l.ffn_out = linear(mosaic ? p + "mlp.wo" : p + "output.dense");
    l.ln_ffn_post = norm(mosaic ? p + "mlp.layernorm" : p + "output.LayerNorm");
    layers.push_back(std::move(l));
  }
  if (cfg.position_embedding_type == "alibi") slopes = alibi_slopes(cfg.num_attention_heads);
  if (cfg.position_embedding_type == "rotary") {
    // 1 / base^(2i / dim) in float32, as torch computes the inv_freq buffer.
    const at::Tensor e = at::arange(0, cfg.rotary_dim, 2, at::kFloat) / double(cfg.rotary_dim);
    inv_freq = at::pow(cfg.rotary_base, e).reciprocal().to(device);
  }
  if (output != LmOutput::kHidden) load_head(file);
}

void TransformerEncoder::Impl::load_head(const SafetensorsFile& file) {
  const MlmHeadTensors names = check_mlm_head_weights(file, cfg);
  if (cfg.head_act != "gelu" && cfg.head_act != "gelu_new") {  // MosaicBERT's own hidden_act
    fail("%s: the masked-LM head's \"hidden_act\": \"%s\" is not supported (gelu, gelu_new)",
         file.path().c_str(), cfg.head_act.c_str());
  }
  auto get = [&](const std::string& name, std::vector<int64_t> shape) {
    std::vector<float> values = file.read_f32(name);
    at::Tensor t = at::from_blob(values.data(), shape, at::TensorOptions().dtype(at::kFloat));
    return t.to(device, /*non_blocking=*/false, /*copy=*/true);
  };
  auto linear = [](const at::Tensor& w, const at::Tensor& b) {
    return Linear{w, w.view({w.size(0), w.size(1), 1, 1}), b};
  };
  const int64_t h = cfg.hidden_size, v = cfg.vocab_size;
  head.dense = linear(get(names.dense_weight, {h, h}), get(names.dense_bias, {h}));
  head.norm = Norm{get(names.norm_weight, {h}), get(names.norm_bias, {h})};
  const at::Tensor decoder =
      names.decoder_weight.empty() ? word : get(names.decoder_weight, {v, h});
  head.decoder = linear(decoder.contiguous(), get(names.bias, {v}));
}

// Logits [n_rows, vocab] of the hidden states [n_rows, hidden], or the cross-entropy of each
// row's own id `ids` [n_rows] under them: [n_rows, 1].
at::Tensor TransformerEncoder::Impl::head_output(const at::Tensor& hidden,
                                                 const at::Tensor& ids) const {
  at::Tensor x = linear(head.dense, hidden);
  x = at::gelu(x, cfg.head_act == "gelu_new" ? "tanh" : "none");
  x = at::layer_norm(x, {cfg.hidden_size}, head.norm.w, head.norm.b, cfg.head_layer_norm_eps);
  const at::Tensor logits = linear(head.decoder, x);
  return output == LmOutput::kLoss ? zoo::token_cross_entropy(logits, ids, loss_vocab) : logits;
}

// Stacks the inputs' tokens (empty inputs have no rows) with their position ids: BERT counts
// from 0; ESM counts real tokens from pad_token_id + 1 (a pad id keeps pad_token_id), as
// Hugging Face's create_position_ids_from_input_ids does.
Rows TransformerEncoder::Impl::make_rows(
    const std::vector<const std::vector<int32_t>*>& inputs) const {
  Rows r;
  int64_t n_rows = 0;
  for (const auto* t : inputs) {
    r.start.push_back(n_rows);
    r.len.push_back(static_cast<int64_t>(t->size()));
    n_rows += static_cast<int64_t>(t->size());
  }
  at::Tensor ids = at::empty({n_rows}, at::kLong), pos = at::empty({n_rows}, at::kLong);
  at::Tensor observed = at::empty({n_rows, 1}, at::kFloat);
  int64_t* id_ptr = ids.data_ptr<int64_t>();
  int64_t* pos_ptr = pos.data_ptr<int64_t>();
  float* obs_ptr = observed.data_ptr<float>();
  const bool esm = cfg.arch == TransformerArch::kEsm;
  for (size_t b = 0; b < inputs.size(); b++) {
    const std::vector<int32_t>& t = *inputs[b];
    int64_t n_real = 0, n_mask = 0;
    for (size_t i = 0; i < t.size(); i++) {
      const int64_t row = r.start[b] + int64_t(i);
      id_ptr[row] = t[i];
      const bool real = !esm || t[i] != cfg.pad_token_id;
      n_real += real;
      n_mask += t[i] == cfg.mask_token_id;
      pos_ptr[row] = esm ? (real ? n_real : 0) + cfg.pad_token_id : int64_t(i);
    }
    for (size_t i = 0; i < t.size(); i++)
      obs_ptr[r.start[b] + int64_t(i)] = float(n_mask) / float(t.size());
  }
  r.ids = ids.to(device);
  if (position.defined()) r.pos_ids = pos.to(device);
  if (esm && cfg.token_dropout) r.observed = observed.to(device);
  return r;
}

// x [n, in] -> [n, out]. With oneDNN: the rows as the pixels of a 1x1 convolution (fast on any
// BLAS, and each row's result independent of the others).
at::Tensor TransformerEncoder::Impl::linear(const Linear& l, const at::Tensor& x) const {
  if (!use_onednn) return at::linear(x, l.w, l.b);
  const at::Tensor y = at::mkldnn_convolution(x.t().unsqueeze(0).unsqueeze(2), l.w4, l.b, {0, 0},
                                              {1, 1}, {1, 1}, 1);  // [1, out, 1, n]
  return y.view({l.w.size(0), x.size(0)}).t();
}

// a [m, k], b [n, k] -> a b^T [m, n].
at::Tensor TransformerEncoder::Impl::matmul_nt(const at::Tensor& a, const at::Tensor& b) const {
  if (!use_onednn) return at::matmul(a, b.t());
  return at::mkldnn_linear(a.contiguous().to_mkldnn(), b.contiguous()).to_dense();
}

// [n_rows, hidden] embeddings of the rows.
at::Tensor TransformerEncoder::Impl::embed(const Rows& rows) const {
  at::Tensor x = at::embedding(word, rows.ids);
  if (cfg.arch == TransformerArch::kEsm) {
    if (rows.observed.defined()) {
      // ESM: mask tokens zeroed, the rest scaled by (1 - 0.15 * 0.8) / (1 - masked fraction).
      x = x.masked_fill(rows.ids.eq(cfg.mask_token_id).unsqueeze(-1), 0.0);
      x = x * (1 - 0.15 * 0.8) / (1 - rows.observed);
    }
    if (position.defined()) x = x + at::embedding(position, rows.pos_ids);
    return cfg.emb_layer_norm_before ? layer_norm(x, emb_ln) : x;
  }
  if (cfg.rescale_embeddings) x = x * std::sqrt(double(cfg.hidden_size));
  if (token_type.defined()) x = x + token_type[0];  // token type 0 everywhere
  if (position.defined()) x = x + at::embedding(position, rows.pos_ids);
  return layer_norm(x, emb_ln);
}

// Rotary embedding of the first rotary_dim dims of each head of x [len, heads, head_dim];
// cos, sin: [len, 1, rotary_dim].
at::Tensor TransformerEncoder::Impl::rotate(const at::Tensor& x, const at::Tensor& cos,
                                            const at::Tensor& sin) const {
  const int64_t rot = cfg.rotary_dim, half = rot / 2;
  const at::Tensor xr = x.narrow(-1, 0, rot);
  const at::Tensor rotated = at::cat({xr.narrow(-1, half, half).neg(), xr.narrow(-1, 0, half)}, -1);
  const at::Tensor out = xr * cos + rotated * sin;
  if (rot == head_dim) return out;
  return at::cat({out, x.narrow(-1, rot, head_dim - rot)}, -1);
}

// softmax(q k^T (scaled) + ALiBi) v of one sequence: q, k, v [len, hidden] (heads side by
// side); distance [len, len] = |i - j| (ALiBi only). Returns the context [len, hidden].
at::Tensor TransformerEncoder::Impl::attend(const at::Tensor& q, const at::Tensor& k,
                                            const at::Tensor& v, const at::Tensor& distance) const {
  const int64_t len = q.size(0), heads = cfg.num_attention_heads, d = head_dim;
  const bool scale = cfg.arch != TransformerArch::kEsm;  // ESM scaled q already
  const double inv_sqrt_d = 1.0 / std::sqrt(double(d));
  if (!use_onednn) {  // all heads in one batched product
    const at::Tensor q3 = q.reshape({len, heads, d}).transpose(0, 1);  // [heads, len, d]
    const at::Tensor k3 = k.reshape({len, heads, d}).transpose(0, 1);
    const at::Tensor v3 = v.reshape({len, heads, d}).transpose(0, 1);
    at::Tensor s = at::matmul(q3, k3.transpose(1, 2));  // [heads, len, len]
    if (scale) s = s * inv_sqrt_d;
    if (distance.defined()) {
      const std::vector<float> s32(slopes.begin(), slopes.end());
      const at::Tensor sl = at::tensor(s32).to(device).view({heads, 1, 1});
      s = s + sl * distance.neg();
    }
    return at::matmul(at::softmax(s, -1), v3).transpose(0, 1).reshape({len, heads * d});
  }
  at::Tensor context = at::empty({len, heads * d}, q.options());
  for (int64_t h = 0; h < heads; h++) {
    at::Tensor s = matmul_nt(q.narrow(1, h * d, d), k.narrow(1, h * d, d));  // [len, len]
    if (scale) s = s * inv_sqrt_d;
    if (distance.defined()) s = s + distance * float(-slopes[size_t(h)]);
    const at::Tensor p = at::softmax(s, -1);
    context.narrow(1, h * d, d).copy_(matmul_nt(p, v.narrow(1, h * d, d).t()));
  }
  return context;
}

// Self-attention of x [n_rows, hidden] (already normalised when pre-LN) with its output
// projection, before the residual: [n_rows, hidden].
at::Tensor TransformerEncoder::Impl::attention(const Layer& l, const at::Tensor& x,
                                               const Rows& rows, const at::Tensor& cos,
                                               const at::Tensor& sin) const {
  const int64_t h = cfg.hidden_size, heads = cfg.num_attention_heads;
  at::Tensor q, k, v;
  if (l.qkv.w.defined()) {
    const at::Tensor qkv = linear(l.qkv, x);  // [n, 3h]: q | k | v
    q = qkv.narrow(1, 0, h), k = qkv.narrow(1, h, h), v = qkv.narrow(1, 2 * h, h);
  } else {
    q = linear(l.q, x), k = linear(l.k, x), v = linear(l.v, x);
  }
  if (cfg.arch == TransformerArch::kEsm) q = q * std::pow(double(head_dim), -0.5);
  at::Tensor context = at::empty({x.size(0), h}, x.options());
  at::Tensor distance;  // ALiBi |i - j|, rebuilt when the length changes
  for (size_t b = 0; b < rows.start.size(); b++) {
    const int64_t s0 = rows.start[b], len = rows.len[b];
    if (len == 0) continue;
    at::Tensor qb = q.narrow(0, s0, len), kb = k.narrow(0, s0, len);
    if (cos.defined()) {
      const at::Tensor c = cos.narrow(0, 0, len), sn = sin.narrow(0, 0, len);
      qb = rotate(qb.reshape({len, heads, head_dim}), c, sn).reshape({len, h});
      kb = rotate(kb.reshape({len, heads, head_dim}), c, sn).reshape({len, h});
    }
    if (!slopes.empty() && (!distance.defined() || distance.size(0) != len)) {
      const at::Tensor pos = at::arange(len, at::TensorOptions().dtype(at::kFloat).device(device));
      distance = (pos.unsqueeze(0) - pos.unsqueeze(1)).abs();
    }
    const at::Tensor vb = v.narrow(0, s0, len);
    if (cfg.full_attention_max_tokens > 0 && len > cfg.full_attention_max_tokens) {
      const int64_t n_blocks = (len + cfg.block_size - 1) / cfg.block_size;
      const at::Tensor rand = bigbird_random_blocks(n_blocks, cfg.num_random_blocks, device);
      context.narrow(0, s0, len)
          .copy_(bigbird_block_sparse_attention(qb, kb, vb, heads, cfg.block_size, rand,
                                                use_onednn));
      continue;
    }
    context.narrow(0, s0, len).copy_(attend(qb, kb, vb, distance));
  }
  return linear(l.attn_out, context);
}

// The feed-forward block of x [n_rows, hidden] (normalised when pre-LN), before the residual.
at::Tensor TransformerEncoder::Impl::ffn(const Layer& l, const at::Tensor& x) const {
  at::Tensor h = linear(l.ffn_in, x);
  if (cfg.gated_ffn) {
    const int64_t inter = cfg.intermediate_size;
    const at::Tensor a = h.narrow(1, 0, inter), b = h.narrow(1, inter, inter);
    h = (cfg.arch == TransformerArch::kEsm ? at::silu(a) : at::gelu(a)) * b;
  } else {
    h = at::gelu(h, cfg.hidden_act == "gelu_new" ? "tanh" : "none");
  }
  return linear(l.ffn_out, h);
}

at::Tensor TransformerEncoder::Impl::forward(const Rows& rows) const {
  at::Tensor x = embed(rows);  // [n_rows, hidden]
  at::Tensor cos, sin;
  if (inv_freq.defined()) {
    const int64_t max_len = *std::max_element(rows.len.begin(), rows.len.end());
    const at::Tensor t = at::arange(max_len, at::TensorOptions().dtype(at::kFloat).device(device));
    const at::Tensor freqs = at::outer(t, inv_freq);
    const at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(1);  // [len, 1, rotary_dim]
    cos = emb.cos();
    sin = emb.sin();
  }
  const bool pre_ln = cfg.pre_layer_norm || cfg.arch == TransformerArch::kEsm;
  for (const Layer& l : layers) {
    if (pre_ln) {
      x = x + attention(l, layer_norm(x, l.ln_attn_pre), rows, cos, sin);
      x = x + ffn(l, layer_norm(x, l.ln_ffn_pre));
    } else {
      x = layer_norm(attention(l, x, rows, cos, sin) + x, l.ln_attn_post);
      x = layer_norm(ffn(l, x) + x, l.ln_ffn_post);
    }
  }
  if (final_ln.w.defined()) x = layer_norm(x, final_ln);
  return x;
}

TransformerEncoder::TransformerEncoder(const std::string& dir, TransformerArch arch,
                                       const TransformerRunOptions& opts)
    : impl_(new Impl) {
  Impl& m = *impl_;
  const std::string config_path = path_join(dir, "config.json");
  m.cfg = read_transformer_config(config_path, arch);
  if (!m.cfg.sparse_attention.empty()) {
    fail("%s: %s is not supported; use a dense configuration of this model", config_path.c_str(),
         m.cfg.sparse_attention.c_str());
  }
  m.device = select_device(opts);
  // BEND_TRANSFORMER_ATEN=1 (tests): the device-agnostic ATen products (as on CUDA) on CPU too
  m.use_onednn =
      m.device.is_cpu() && at::hasMKLDNN() && std::getenv("BEND_TRANSFORMER_ATEN") == nullptr;
  m.head_dim = m.cfg.hidden_size / m.cfg.num_attention_heads;
  if (opts.n_threads > 0) at::set_num_threads(opts.n_threads);
  m.output = opts.output;
#ifdef BEND_WITH_CUDA
  if (m.device.is_cuda()) {
    // Full float32 like the reference: TF32 would cost ~1e-3 relative error (process-wide).
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
  }
#endif
  m.load(checkpoint_weights_path(dir));  // model.safetensors or a shard index
  if (m.output == LmOutput::kLoss)
    m.loss_vocab = zoo::make_loss_vocab(opts.loss_vocab, m.cfg.vocab_size, m.device);
}

TransformerEncoder::~TransformerEncoder() = default;

const TransformerConfig& TransformerEncoder::config() const {
  return impl_->cfg;
}

int64_t TransformerEncoder::max_tokens() const {
  const TransformerConfig& c = impl_->cfg;
  int64_t n = 0;
  if (c.position_embedding_type == "absolute") {
    n = c.arch == TransformerArch::kEsm ? c.max_position_embeddings - (c.pad_token_id + 1)
                                        : c.max_position_embeddings;
  }
  // big_bird block_sparse: a long input is padded to whole blocks, which must have positions
  if (c.full_attention_max_tokens > 0 && n > c.full_attention_max_tokens)
    n = std::max(c.full_attention_max_tokens, n / c.block_size * c.block_size);
  return n;
}

int64_t TransformerEncoder::output_dim() const {
  const Impl& m = *impl_;
  if (m.output == LmOutput::kLogits) return m.cfg.vocab_size;
  return m.output == LmOutput::kLoss ? 1 : m.cfg.hidden_size;
}

void TransformerEncoder::forward(const std::vector<const std::vector<int32_t>*>& inputs,
                                 std::vector<std::vector<float>>& out) {
  const Impl& m = *impl_;
  const int64_t h = output_dim(), limit = max_tokens();
  const char* arch = transformer_arch_name(m.cfg.arch);
  int64_t n_rows = 0;
  for (size_t b = 0; b < inputs.size(); b++) {
    const std::vector<int32_t>& t = *inputs[b];
    if (limit > 0 && int64_t(t.size()) > limit) {
      fail("%s encoder: input %zu of the batch has %zu tokens, more than the model's %lld", arch,
           b, t.size(), (long long)limit);
    }
    for (size_t i = 0; i < t.size(); i++) {
      if (t[i] < 0 || t[i] >= m.cfg.vocab_size) {
        fail(
            "%s encoder: input %zu of the batch: token id %d at position %zu is outside "
            "[0, %lld)",
            arch, b, t[i], i, (long long)m.cfg.vocab_size);
      }
    }
    n_rows += int64_t(t.size());
  }
  out.resize(inputs.size());
  for (size_t b = 0; b < inputs.size(); b++) out[b].assign(inputs[b]->size() * size_t(h), 0.0f);
  if (n_rows == 0) return;

  c10::InferenceMode inference_guard;
  c10::NoGradGuard no_grad;
  const Rows rows = m.make_rows(inputs);
  at::Tensor y = m.forward(rows);                                     // [n_rows, hidden]
  if (m.output != LmOutput::kHidden) y = m.head_output(y, rows.ids);  // [n_rows, h]
  y = y.to(at::kCPU, at::kFloat).contiguous();
  const float* y_ptr = y.data_ptr<float>();
  for (size_t b = 0; b < inputs.size(); b++) {
    if (!out[b].empty())
      std::memcpy(out[b].data(), y_ptr + rows.start[b] * h, sizeof(float) * out[b].size());
  }
}

}  // namespace bend
