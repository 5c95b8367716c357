// The "caduceus" Embedder: Caduceus' forward pass in LibTorch (ATen ops), as described in
// bend/models/caduceus.hpp. Activations stay channels-last ([batch, len, channels]); the
// selective scan runs in plain C++ on CPU (selective_scan.hpp: parallel over batch x blocks of
// d_inner), elsewhere over the length in blocks: the block's exp(delta A) and delta B x from
// ATen, the recurrence by per-position ATen ops.
#include "bend/models/caduceus.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <utility>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/chunked_embedder.hpp"
#include "bend/models/lm_output.hpp"
#include "bend/models/safetensors.hpp"
#include "bend/tokenize/greedy.hpp"
#include "selective_scan.hpp"
#include "torch_zoo.hpp"
#include "zoo_util.hpp"

namespace bend {

namespace {

constexpr int64_t kMaxBatchTokens = int64_t(1) << 16;  // padded ids per batch (one input more)
constexpr int64_t kScanBlockElems = int64_t(1) << 22;  // floats of one scan block's exp(dA)
constexpr int32_t kFirstBaseId = 7;                    // A C G T N = 7 .. 11 (BEND's loss slice)
constexpr int32_t kNumBases = 5;

// Caduceus' CaduceusTokenizer: HyenaDNA's character vocabulary on the upper-cased sequence,
// BEND calls it with add_special_tokens=False.
class CaduceusTokenizer : public GreedyTokenizer {
 public:
  CaduceusTokenizer()
      : GreedyTokenizer("caduceus", hyenadna_vocab(), "", "", "[UNK]", "[PAD]",
                        UnknownRule::kPerByte) {}
  void encode_content(const std::string& seq, std::vector<int32_t>& ids,
                      std::vector<TokenSpan>& spans) const override {
    std::string upper(seq);
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    GreedyTokenizer::encode_content(upper, ids, spans);
  }
};

// One Mamba block's weights on the compute device (d = d_model, di = d_inner, R = dt_rank).
struct MambaWeights {
  zoo::Linear in_proj;   // [2 di, d]
  at::Tensor conv_w;     // [d_conv, di]: conv1d.weight [di, 1, d_conv] transposed
  at::Tensor conv_b;     // [di], undefined without conv_bias
  zoo::Linear x_proj;    // [R + 2 N, di]
  zoo::Linear dt_proj;   // [di, R] with bias [di]
  at::Tensor A;          // [di, N] = -exp(A_log)
  at::Tensor D;          // [di]
  zoo::Linear out_proj;  // [d, di]
};

struct CaduceusLayer {
  MambaWeights fwd, rev;      // rev unused unless bidirectional
  at::Tensor norm_w, norm_b;  // [d]; norm_b undefined for RMSNorm
};

// Reverses each input within its own length along dim 1 of x [batch, len, c], by rows (a
// contiguous copy; faster here than at::flip): rows [batch * len] int64 holds b * len +
// (len_b - 1 - t) for t < len_b, else b * len + t, so padding stays at the end.
at::Tensor flip_len(const at::Tensor& x, const at::Tensor& rows) {
  const int64_t nb = x.size(0), len = x.size(1), c = x.size(2);
  return x.reshape({nb * len, c}).index_select(0, rows).view({nb, len, c});
}

// Causal depthwise convolution, channels-last: x [batch, len, di], w [k, di] -> y[t] = b +
// sum_j w[j] x[t + j - k + 1] (Conv1d with padding k - 1, first len outputs), as shifted
// multiply-adds without a padded copy.
at::Tensor causal_conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const int64_t len = x.size(1), k = w.size(0);
  at::Tensor y = x * w[k - 1];
  if (b.defined()) y.add_(b);
  for (int64_t j = 0; j < k - 1; j++) {
    const int64_t shift = k - 1 - j;
    if (shift < len) y.narrow(1, shift, len - shift).addcmul_(w[j], x.narrow(1, 0, len - shift));
  }
  return y;
}

// The selective scan on CPU: selective_scan_rows (plain C++, selective_scan.hpp) in parallel
// over batch rows x blocks of 64 channels; softplus applied inside. Inputs as selective_scan.
at::Tensor selective_scan_cpu(const at::Tensor& u_in, const at::Tensor& dt_in, const at::Tensor& A,
                              const at::Tensor& B_in, const at::Tensor& C_in) {
  const at::Tensor u = u_in.contiguous(), dt = dt_in.contiguous();
  const at::Tensor Bm = B_in.contiguous(), Cm = C_in.contiguous();
  const at::Tensor a_t = A.t().contiguous();  // [N, di]
  ScanShape s;
  s.nb = u.size(0);
  s.len = u.size(1);
  s.di = u.size(2);
  s.n = A.size(1);
  at::Tensor y = at::empty({s.nb, s.len, s.di}, u.options());
  constexpr int64_t kChannels = 64;
  const int64_t n_blocks = (s.di + kChannels - 1) / kChannels;
  const float* pu = u.data_ptr<float>();
  const float* pd = dt.data_ptr<float>();
  const float* pa = a_t.data_ptr<float>();
  const float* pb = Bm.data_ptr<float>();
  const float* pc = Cm.data_ptr<float>();
  float* py = y.data_ptr<float>();
  at::parallel_for(0, s.nb * n_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) {
      const int64_t d0 = (i % n_blocks) * kChannels;
      selective_scan_rows(s, pu, pd, pa, pb, pc, py, i / n_blocks, d0,
                          std::min(s.di, d0 + kChannels));
    }
  });
  return y;
}

// Mamba's selective scan without the D skip and the gate (selective_scan_ref with
// delta_softplus): u, dt [batch, len, di] (dt_proj output with its bias), A [di, N], B, C
// [batch, len, N] -> y [batch, len, di] float, y_t = C_t h_t with delta_t = softplus(dt_t),
// h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t, h_{-1} = 0. The environment variable
// BEND_CADUCEUS_ATEN_SCAN runs the other devices' ATen path on CPU too (its test).
at::Tensor selective_scan(const at::Tensor& u_in, const at::Tensor& dt, const at::Tensor& A,
                          const at::Tensor& B_in, const at::Tensor& C_in) {
  const at::Tensor u = u_in.to(at::kFloat);
  const at::Tensor Bm = B_in.to(at::kFloat), Cm = C_in.to(at::kFloat);
  const int64_t nb = u.size(0), len = u.size(1), di = u.size(2), n = A.size(1);
  static const bool aten_on_cpu = std::getenv("BEND_CADUCEUS_ATEN_SCAN") != nullptr;  // tests
  if (u.device().is_cpu() && !aten_on_cpu)
    return selective_scan_cpu(u, dt.to(at::kFloat), A, Bm, Cm);
  const at::Tensor delta = at::softplus(dt.to(at::kFloat));
  const int64_t block =
      std::max<int64_t>(1, std::min<int64_t>(64, kScanBlockElems / (nb * di * n)));
  at::Tensor h = at::zeros({nb, di, n}, u.options());
  at::Tensor y = at::empty({nb, len, di}, u.options());
  for (int64_t t0 = 0; t0 < len; t0 += block) {
    const int64_t T = std::min(block, len - t0);
    const at::Tensor dl = delta.narrow(1, t0, T);                      // [nb, T, di]
    const at::Tensor dA = at::exp(dl.unsqueeze(-1) * A).contiguous();  // [nb, T, di, N]
    const at::Tensor dBu =
        ((dl * u.narrow(1, t0, T)).unsqueeze(-1) * Bm.narrow(1, t0, T).unsqueeze(2))
            .contiguous();                                   // [nb, T, di, N]
    const at::Tensor Cb = Cm.narrow(1, t0, T).contiguous();  // [nb, T, N]
    at::Tensor hs = at::empty_like(dA);
    for (int64_t t = 0; t < T; t++) {
      h.mul_(dA.select(1, t)).add_(dBu.select(1, t));
      hs.select(1, t).copy_(h);
    }
    y.narrow(1, t0, T).copy_((hs * Cb.unsqueeze(2)).sum(-1));
  }
  return y;
}

// Mamba (mamba_simple.py forward without inference cache) between its projections, which the
// tied directions of BiMamba share: xz = in_proj(x) [batch, len, 2 di] -> the gated scan output
// y * silu(z) [batch, len, di] that out_proj reads.
at::Tensor mamba_gated(const MambaWeights& w, const at::Tensor& xz) {
  const int64_t di = w.D.size(0), n = w.A.size(1), r = w.dt_proj.w.size(1);
  const at::Tensor z = xz.narrow(-1, di, di);
  const at::Tensor xs = at::silu(causal_conv(xz.narrow(-1, 0, di), w.conv_w, w.conv_b));
  const at::Tensor dbl = w.x_proj(xs);                    // [batch, len, R + 2 N]
  const at::Tensor dt = w.dt_proj(dbl.narrow(-1, 0, r));  // softplus in the scan
  at::Tensor y = selective_scan(xs, dt, w.A, dbl.narrow(-1, r, n), dbl.narrow(-1, r + n, n));
  return (y + xs * w.D) * at::silu(z);
}

class CaduceusEmbedder : public ChunkedEmbedder {
 public:
  explicit CaduceusEmbedder(const EmbedderOptions& opts);

 protected:
  void forward_inputs(const std::vector<const std::vector<int32_t>*>& inputs,
                      std::vector<std::vector<float>>& hidden) override;

 private:
  void load_weights(const SafetensorsFile& file);
  MambaWeights load_mamba(const SafetensorsFile& file, const std::string& m,
                          const MambaWeights* tied) const;
  void load_lm_head(const SafetensorsFile& file, const std::string& config_path);
  at::Tensor norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const;
  at::Tensor bimamba(const CaduceusLayer& l, const at::Tensor& x, const at::Tensor& rev) const;
  at::Tensor rc_bimamba(const CaduceusLayer& l, const at::Tensor& x, const at::Tensor& rev) const;
  at::Tensor forward_ph(const at::Tensor& ids, const at::Tensor& rev) const;
  at::Tensor forward_ps(const at::Tensor& ids, const at::Tensor& rev) const;
  at::Tensor head_output(const at::Tensor& y, const at::Tensor& ids) const;

  CaduceusConfig cfg_;
  at::Device device_{at::kCPU};
  at::Tensor word_;        // [padded vocab, d]
  at::Tensor complement_;  // [padded vocab] int64 (PS only)
  at::Tensor norm_f_w_, norm_f_b_;
  std::vector<CaduceusLayer> layers_;
  LmOutput output_ = LmOutput::kHidden;
  at::Tensor head_w_;     // [padded vocab, d], set unless output_ is kHidden
  at::Tensor head_w_rc_;  // [padded vocab, d]: head_w_[complement] (PS)
};

CaduceusEmbedder::CaduceusEmbedder(const EmbedderOptions& opts) {
  name_ = "caduceus";
  const std::string& dir = opts.checkpoint_dir;
  if (dir.empty()) fail("caduceus: needs a checkpoint directory");
  const std::string config_path = path_join(dir, "config.json");
  const std::string weights_path = checkpoint_weights_path(dir);  // one file or shards
  cfg_ = read_caduceus_config(config_path);
  tokenizer_.reset(new CaduceusTokenizer());
  if (tokenizer_->max_emitted_id() >= cfg_.padded_vocab_size()) {
    fail("%s: vocab_size %lld has no row for token id %d", config_path.c_str(),
         (long long)cfg_.vocab_size, tokenizer_->max_emitted_id());
  }
  rule_ = ChunkRule{kCaduceusChunkBp, 0};
  output_ = parse_lm_output(opts.output, "caduceus");
  dim_ = output_ == LmOutput::kHidden
             ? cfg_.hidden_dim()
             : (output_ == LmOutput::kLogits ? cfg_.padded_vocab_size() : 1);
  device_ = zoo::select_torch_device("caduceus", opts.use_cuda, opts.local_rank);
  if (opts.n_threads > 0) at::set_num_threads(opts.n_threads);
  const SafetensorsFile file(weights_path);
  load_weights(file);
  if (output_ != LmOutput::kHidden) load_lm_head(file, config_path);
  fingerprint_ = strfmt("caduceus:crc32c=%08x", zoo::files_crc32c({weights_path, config_path}));
}

MambaWeights CaduceusEmbedder::load_mamba(const SafetensorsFile& file, const std::string& m,
                                          const MambaWeights* tied) const {
  const int64_t d = cfg_.d_model, di = cfg_.d_inner(), n = cfg_.d_state, r = cfg_.dt_rank;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) {
    return zoo::load_f32(file, m + name, shape, device_);
  };
  auto opt = [&](const std::string& name, std::vector<int64_t> shape, bool present) {
    return present ? load(name, shape) : at::Tensor();
  };
  MambaWeights w;
  if (tied != nullptr && !file.has(m + "in_proj.weight")) {
    w.in_proj = tied->in_proj;
  } else {
    w.in_proj = zoo::make_linear(load("in_proj.weight", {2 * di, d}),
                                 opt("in_proj.bias", {2 * di}, cfg_.bias));
  }
  if (tied != nullptr && !file.has(m + "out_proj.weight")) {
    w.out_proj = tied->out_proj;
  } else {
    w.out_proj =
        zoo::make_linear(load("out_proj.weight", {d, di}), opt("out_proj.bias", {d}, cfg_.bias));
  }
  w.conv_w = load("conv1d.weight", {di, 1, cfg_.d_conv}).view({di, cfg_.d_conv}).t().contiguous();
  w.conv_b = opt("conv1d.bias", {di}, cfg_.conv_bias);
  w.x_proj = zoo::make_linear(load("x_proj.weight", {r + 2 * n, di}), at::Tensor());
  w.dt_proj = zoo::make_linear(load("dt_proj.weight", {di, r}), load("dt_proj.bias", {di}));
  w.A = -at::exp(load("A_log", {di, n}));
  w.D = load("D", {di});
  return w;
}

void CaduceusEmbedder::load_weights(const SafetensorsFile& file) {
  const std::string prefix = check_caduceus_weights(file, cfg_);
  const std::vector<CaduceusTensorSpec> specs = caduceus_tensor_specs(cfg_);
  const int64_t d = cfg_.d_model;
  auto load = [&](const std::string& n) { return zoo::load_f32(file, prefix + n, {d}, device_); };
  word_ = zoo::load_f32(file, prefix + specs[0].name, {cfg_.padded_vocab_size(), d}, device_);
  if (cfg_.rcps)
    complement_ = at::tensor(cfg_.complement_map, at::TensorOptions().dtype(at::kLong)).to(device_);
  const std::string ps = cfg_.rcps ? ".submodule" : "";
  const std::string norm_ps = cfg_.rcps && !cfg_.fused_add_norm ? ".submodule" : "";
  for (int64_t i = 0; i < cfg_.n_layer; i++) {
    const std::string p = prefix + "layers." + std::to_string(i) + ".";
    CaduceusLayer l;
    l.fwd = load_mamba(file, p + "mixer" + ps + ".mamba_fwd.", nullptr);
    if (cfg_.bidirectional) {
      l.rev = load_mamba(file, p + "mixer" + ps + ".mamba_rev.",
                         cfg_.bidirectional_weight_tie ? &l.fwd : nullptr);
    }
    const std::string nn = "layers." + std::to_string(i) + ".norm" + norm_ps;
    l.norm_w = load(nn + ".weight");
    if (!cfg_.rms_norm) l.norm_b = load(nn + ".bias");
    layers_.push_back(std::move(l));
  }
  norm_f_w_ = load("norm_f" + norm_ps + ".weight");
  if (!cfg_.rms_norm) norm_f_b_ = load("norm_f" + norm_ps + ".bias");
}

// CaduceusForMaskedLM's lm_head (Linear without bias; PS: RCPSLMHead): its own weight when the
// checkpoint has one, else the word embeddings (tied: the default, and what Hugging Face saves).
void CaduceusEmbedder::load_lm_head(const SafetensorsFile& file, const std::string& config_path) {
  const int64_t v = cfg_.padded_vocab_size(), d = cfg_.d_model;
  const char* name = cfg_.rcps ? "lm_head.lm_head.weight" : "lm_head.weight";
  if (file.has(name)) {
    const TensorInfo& t = file.info(name);
    if (t.shape != std::vector<int64_t>{v, d}) {
      fail("%s: %s has shape %s; the LM head needs [%lld, %lld] (padded vocab, d_model)",
           file.path().c_str(), name, zoo::shape_str(t.shape).c_str(), (long long)v, (long long)d);
    }
    head_w_ = zoo::load_f32(file, name, {v, d}, device_);
  } else {
    const nlohmann::json j = zoo::parse_json_object(read_file(config_path), config_path);
    if (!zoo::json_bool(j, "tie_word_embeddings", config_path, true)) {
      fail(
          "%s: no LM head for output logits / loss: missing tensors: %s (config.json has "
          "\"tie_word_embeddings\": false)",
          file.path().c_str(), name);
    }
    head_w_ = word_;
  }
  if (cfg_.rcps) head_w_rc_ = head_w_.index_select(0, complement_).contiguous();
}

// RMSNorm (x / sqrt(mean(x^2) + eps) * w) or LayerNorm over the last dim of x.
at::Tensor CaduceusEmbedder::norm(const at::Tensor& x, const at::Tensor& w,
                                  const at::Tensor& b) const {
  if (!cfg_.rms_norm) return at::layer_norm(x, {x.size(-1)}, w, b, cfg_.norm_epsilon);
  return x * at::rsqrt(x.pow(2).mean({-1}, true) + cfg_.norm_epsilon) * w;
}

// BiMambaWrapper: x [batch, len, d] -> [batch, len, d].
at::Tensor CaduceusEmbedder::bimamba(const CaduceusLayer& l, const at::Tensor& x,
                                     const at::Tensor& rev) const {
  const at::Tensor xz = l.fwd.in_proj(x);  // [batch, len, 2 di]
  const at::Tensor yf = mamba_gated(l.fwd, xz);
  if (!cfg_.bidirectional) return l.fwd.out_proj(yf);
  // Tied projections act per position: in_proj of the reversed input = the reversed in_proj,
  // and with "add" out_proj(yf) + rev(out_proj(yr)) = out_proj(yf + rev(yr)) + bias.
  const bool tied_in =
      l.rev.in_proj.w.is_same(l.fwd.in_proj.w) && l.rev.in_proj.b.is_same(l.fwd.in_proj.b);
  const bool tied_out =
      l.rev.out_proj.w.is_same(l.fwd.out_proj.w) && l.rev.out_proj.b.is_same(l.fwd.out_proj.b);
  const at::Tensor yr =
      mamba_gated(l.rev, tied_in ? flip_len(xz, rev) : l.rev.in_proj(flip_len(x, rev)));
  if (cfg_.bidirectional_strategy == "add" && tied_out) {
    at::Tensor out = l.fwd.out_proj(yf + flip_len(yr, rev));
    return l.fwd.out_proj.b.defined() ? out + l.fwd.out_proj.b : out;
  }
  const at::Tensor out = l.fwd.out_proj(yf);
  const at::Tensor back = flip_len(l.rev.out_proj(yr), rev);
  return cfg_.bidirectional_strategy == "add" ? out + back : out * back;
}

// The reverse-complement half of RCPSWrapper(BiMamba): flip_lc(BiMamba(flip_lc(x))) for x
// [batch, len, d].
at::Tensor CaduceusEmbedder::rc_bimamba(const CaduceusLayer& l, const at::Tensor& x,
                                        const at::Tensor& rev) const {
  const at::Tensor m = bimamba(l, flip_len(x, rev).flip({-1}), rev);
  return flip_len(m, rev).flip({-1});
}

// Caduceus-Ph: ids [batch, len] int64 on device_ -> last hidden state [batch, len, d_model].
at::Tensor CaduceusEmbedder::forward_ph(const at::Tensor& ids, const at::Tensor& rev) const {
  at::Tensor h = at::embedding(word_, ids);
  at::Tensor res;
  for (const CaduceusLayer& l : layers_) {
    res = res.defined() ? h + res : h;
    h = bimamba(l, norm(res, l.norm_w, l.norm_b), rev);
  }
  return norm(h + res, norm_f_w_, norm_f_b_);
}

// Caduceus-PS: ids [batch, len] -> [batch, len, 2 d_model]. The two halves are kept as separate
// [batch, len, d] tensors (a = first, b = second channel half).
at::Tensor CaduceusEmbedder::forward_ps(const at::Tensor& ids, const at::Tensor& rev) const {
  // RCPSEmbedding: the length flips of rc(ids) and of its embedding cancel.
  at::Tensor ha = at::embedding(word_, ids);
  at::Tensor hb =
      at::embedding(word_, complement_.index_select(0, ids.reshape({-1})).view_as(ids)).flip({-1});
  // The second half's norm: flip_c(Norm(flip_c(x))) = Norm with flipped weight and bias.
  auto norm_rc = [&](const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias) {
    return norm(x, w.flip({0}), bias.defined() ? bias.flip({0}) : bias);
  };
  at::Tensor ra, rb;
  for (const CaduceusLayer& l : layers_) {
    ra = ra.defined() ? ha + ra : ha;
    rb = rb.defined() ? hb + rb : hb;
    // fused_add_norm: RCPSMambaBlock reads the second half as forward, the first as rc.
    if (cfg_.fused_add_norm) std::swap(ra, rb);
    ha = bimamba(l, norm(ra, l.norm_w, l.norm_b), rev);
    hb = rc_bimamba(l, norm_rc(rb, l.norm_w, l.norm_b), rev);
  }
  return at::cat({norm(ha + ra, norm_f_w_, norm_f_b_), norm_rc(hb + rb, norm_f_w_, norm_f_b_)}, -1);
}

// Language-model output of hidden states y [n, len, hidden_dim] for ids [n, len]: logits
// [n, len, padded vocab], or BEND's loss [n, len, 1] = -log softmax(logits[A..N])[id - 7].
at::Tensor CaduceusEmbedder::head_output(const at::Tensor& y, const at::Tensor& ids) const {
  const int64_t d = cfg_.d_model;
  at::Tensor logits = at::matmul(y.narrow(-1, 0, cfg_.rcps ? d : y.size(-1)), head_w_.t());
  if (cfg_.rcps) logits = logits + at::matmul(y.narrow(-1, d, d).flip({-1}), head_w_rc_.t());
  if (output_ == LmOutput::kLogits) return logits;
  const at::Tensor bases = logits.narrow(-1, kFirstBaseId, kNumBases);
  const at::Tensor ce = zoo::token_cross_entropy(  // padding clamped; its rows are dropped
      bases.reshape({-1, kNumBases}),
      (ids.clamp(kFirstBaseId, kFirstBaseId + kNumBases - 1) - kFirstBaseId).reshape({-1}));
  return ce.view({y.size(0), y.size(1), 1});
}

void CaduceusEmbedder::forward_inputs(const std::vector<const std::vector<int32_t>*>& inputs,
                                      std::vector<std::vector<float>>& hidden) {
  std::vector<int64_t> lengths;
  for (const std::vector<int32_t>* in : inputs) {
    for (int32_t id : *in) {
      if (id < 0 || id >= cfg_.padded_vocab_size())
        fail("caduceus: token id %d is outside [0, %lld)", id, (long long)cfg_.padded_vocab_size());
      if (output_ == LmOutput::kLoss && (id < kFirstBaseId || id >= kFirstBaseId + kNumBases))
        fail(
            "caduceus: --output loss: token id %d is not one of A, C, G, T, N (BEND's loss "
            "covers only those; its code fails on others too)",
            id);
    }
    lengths.push_back(int64_t(in->size()));
  }
  c10::InferenceMode inference_guard;
  c10::NoGradGuard no_grad;
  hidden.assign(inputs.size(), {});
  for (const std::vector<size_t>& batch : zoo::length_batches(lengths, kMaxBatchTokens)) {
    at::Tensor ids = zoo::padded_ids(inputs, batch, std::max(0, tokenizer_->pad_id()));
    const int64_t max_len = ids.size(1);
    std::vector<int64_t> rows(batch.size() * size_t(max_len));  // flip_len's row order
    for (size_t b = 0; b < batch.size(); b++) {
      const int64_t n = lengths[batch[b]], first = int64_t(b) * max_len;
      for (int64_t t = 0; t < max_len; t++)
        rows[size_t(first + t)] = first + (t < n ? n - 1 - t : t);
    }
    const at::Tensor rev = at::tensor(rows, at::TensorOptions().dtype(at::kLong)).to(device_);
    ids = ids.to(device_);
    at::Tensor y = cfg_.rcps ? forward_ps(ids, rev) : forward_ph(ids, rev);  // [n, max_len, hidden]
    if (output_ != LmOutput::kHidden) y = head_output(y, ids);               // [n, max_len, dim_]
    zoo::copy_batch_rows(y, batch, lengths, hidden);
  }
}

}  // namespace

std::unique_ptr<Embedder> make_caduceus_embedder(const EmbedderOptions& opts) {
  return std::unique_ptr<Embedder>(new CaduceusEmbedder(opts));
}

}  // namespace bend
