// BEND's supervised baselines in LibTorch: resnet-supervised (dilated ResNet + BEND's CNN head)
// and basset-supervised (Basset with BatchNorm synchronised over ranks). See baselines.hpp.
#include "baselines.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>

#include "bend/core/error.hpp"
#include "head.hpp"
#include "losses.hpp"  // shape_str

namespace bend {

namespace {

// Fills `p` with U(-bound, bound) drawn on the CPU from `gen`, as Tensor.uniform_ does.
void fill_uniform(torch::Tensor& p, double bound, at::Generator& gen) {
  torch::Tensor cpu = torch::empty(p.sizes(), torch::kFloat);
  cpu.uniform_(-bound, bound, gen);
  p.copy_(cpu);
}

// nn.Conv1d / nn.Linear reset_parameters (PyTorch 1.13): weight kaiming_uniform_(a = sqrt(5)),
// then bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the head's arithmetic (head.cpp).
void init_default(torch::Tensor& weight, torch::Tensor& bias, at::Generator& gen) {
  const double a = std::sqrt(5.0);
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double fan_in = static_cast<double>(weight.numel() / weight.size(0));
  fill_uniform(weight, std::sqrt(3.0) * (gain / std::sqrt(fan_in)), gen);
  fill_uniform(bias, 1.0 / std::sqrt(fan_in), gen);
}

torch::Tensor param(std::vector<int64_t> shape) {
  return torch::zeros(shape, torch::kFloat).set_requires_grad(true);
}

void move_to(NamedTensors list, const torch::Device& device) {
  for (auto& t : list) t.second.set_data(t.second.data().to(device));
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// ---- resnet-supervised ---------------------------------------------------------------------

struct Block {
  torch::Tensor conv_w, conv_b;    // [h, h, k], [h]
  torch::Tensor ln1_w, ln1_b;      // [h]  (conv.4)
  torch::Tensor ffn_w, ffn_b;      // [h, h], [h]
  torch::Tensor ln2_w, ln2_b;      // [h]  (ffn.2)
  int64_t dilation = 1, pad = 0;   // 'same': dilation * (kernel - 1) / 2 each side (odd kernel)
};

class ResNetSupervised : public TrainModel {
 public:
  ResNetSupervised(const ResNetSupervisedConfig& cfg, uint64_t seed);
  const char* name() const override { return "resnet-supervised"; }
  torch::Tensor forward(const torch::Tensor& x, bool channels_first, const std::vector<int64_t>& lengths) override;
  int64_t output_length(int64_t len) const override { return head_->output_length(len); }
  NamedTensors parameters() override;
  void set_training(bool on) override { head_->train(on); }
  void to(const torch::Device& device) override {
    move_to(encoder_parameters(), device);
    head_->to(device);
  }

 private:
  NamedTensors encoder_parameters();
  torch::Tensor conv(const Block& b, const torch::Tensor& x) const;

  ResNetSupervisedConfig cfg_;
  std::vector<Block> blocks_;
  Head head_{nullptr};
};

ResNetSupervised::ResNetSupervised(const ResNetSupervisedConfig& cfg, uint64_t seed) : cfg_(cfg) {
  if (cfg.in_dim < 1 || cfg.hidden < 1 || cfg.n_layers < 1 || cfg.in_dim > cfg.hidden) {
    fail("resnet-supervised: in_dim %lld, hidden %lld, n_layers %lld: need 1 <= in_dim <= hidden, n_layers >= 1",
         (long long)cfg.in_dim, (long long)cfg.hidden, (long long)cfg.n_layers);
  }
  if (cfg.kernel < 1 || cfg.kernel % 2 == 0) {
    fail("resnet-supervised: kernel must be odd (got %lld; --kernel-size sets it, as in BEND's config merge)",
         (long long)cfg.kernel);
  }
  const int64_t h = cfg.hidden, k = cfg.kernel;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < cfg.n_layers; ++i) {  // construction: Conv1d then Linear defaults
    Block b;
    b.conv_w = param({h, h, k});
    b.conv_b = param({h});
    b.ln1_w = param({h});
    b.ln1_b = param({h});
    b.ffn_w = param({h, h});
    b.ffn_b = param({h});
    b.ln2_w = param({h});
    b.ln2_b = param({h});
    init_default(b.conv_w, b.conv_b, gen);
    init_default(b.ffn_w, b.ffn_b, gen);
    b.ln1_w.fill_(1.0);
    b.ln2_w.fill_(1.0);
    b.dilation = resnet_supervised_dilation(cfg, i);
    b.pad = b.dilation * (k - 1) / 2;
    blocks_.push_back(b);
  }
  for (Block& b : blocks_) {  // transformers' post_init: every Linear redrawn, in module order
    b.ffn_w.normal_(0.0, cfg.initializer_range, gen);
    b.ffn_b.zero_();
  }
  HeadConfig hc = cfg.head;
  hc.input_dim = h;
  head_ = Head(hc, seed);
  init_head_parameters(head_, gen);  // BEND builds the CNN after the ResNet, from the same stream
}

NamedTensors ResNetSupervised::encoder_parameters() {
  NamedTensors out;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const std::string p = "encoder.encoder." + std::to_string(i) + ".";
    Block& b = blocks_[i];
    out.emplace_back(p + "conv.1.weight", b.conv_w);
    out.emplace_back(p + "conv.1.bias", b.conv_b);
    out.emplace_back(p + "conv.4.weight", b.ln1_w);
    out.emplace_back(p + "conv.4.bias", b.ln1_b);
    out.emplace_back(p + "ffn.0.weight", b.ffn_w);
    out.emplace_back(p + "ffn.0.bias", b.ffn_b);
    out.emplace_back(p + "ffn.2.weight", b.ln2_w);
    out.emplace_back(p + "ffn.2.bias", b.ln2_b);
  }
  return out;
}

NamedTensors ResNetSupervised::parameters() {
  NamedTensors out = encoder_parameters();
  for (auto& p : head_named_parameters(head_)) out.emplace_back("downstream_cnn." + p.first, p.second);
  return out;
}

// Conv1d over x [n, len, h] read in place as a channels-last image; returns [n, len, h].
torch::Tensor ResNetSupervised::conv(const Block& b, const torch::Tensor& x) const {
  const int64_t stride[2] = {1, 1}, padding[2] = {0, b.pad}, dilation[2] = {1, b.dilation};
  torch::Tensor y = at::conv2d(x.permute({0, 2, 1}).unsqueeze(2), b.conv_w.unsqueeze(2), b.conv_b,
                               at::IntArrayRef(stride, 2), at::IntArrayRef(padding, 2), at::IntArrayRef(dilation, 2));
  return y.squeeze(2).permute({0, 2, 1});
}

torch::Tensor ResNetSupervised::forward(const torch::Tensor& x, bool channels_first,
                                        const std::vector<int64_t>& lengths) {
  const torch::Tensor rows = channels_first ? x.transpose(1, 2) : x;  // [n, len, in_dim]
  if (rows.dim() != 3 || rows.size(2) != cfg_.in_dim || rows.scalar_type() != torch::kFloat) {
    fail("resnet-supervised: input has shape %s, expected one-hot float32 rows of %lld values per position "
         "(train on a `bend embed --model onehot` directory)", shape_str(x.sizes()).c_str(), (long long)cfg_.in_dim);
  }
  const int64_t n = rows.size(0), len = rows.size(1), h = cfg_.hidden;
  torch::Tensor act = torch::zeros({n, len, h}, rows.options());  // one-hot codes in h channels
  act.narrow(2, 0, cfg_.in_dim).copy_(rows);
  torch::Tensor mask;  // [n, len, 1]: 1 on a row's own positions, when some row is shorter
  if (std::any_of(lengths.begin(), lengths.end(), [&](int64_t l) { return l < len; })) {
    mask = torch::zeros({n, len, 1}, torch::kFloat);
    for (int64_t i = 0; i < n; ++i) mask[i].narrow(0, 0, std::min(lengths[i], len)).fill_(1.0);
    mask = mask.to(rows.device());
  }
  for (const Block& b : blocks_) {
    torch::Tensor c = conv(b, mask.defined() ? act * mask : act);
    act = act + at::layer_norm(gelu_contiguous(c), {h}, b.ln1_w, b.ln1_b, 1e-5);
    torch::Tensor f = at::linear(act, b.ffn_w, b.ffn_b);
    act = act + at::layer_norm(gelu_contiguous(f), {h}, b.ln2_w, b.ln2_b, 1e-5);
  }
  if (mask.defined()) act = act * mask;
  return head_->forward(act.contiguous());  // [n, T, n_out]
}

// ---- basset-supervised ---------------------------------------------------------------------

// Sums x (float or double, any device) over ranks with `sum` in float64; the result is float64
// on x's device. Without `sum` (a single rank), x itself.
torch::Tensor sum_ranks_now(const torch::Tensor& x, const SumOverRanks& sum) {
  if (!sum) return x.to(torch::kDouble);
  torch::Tensor d = x.detach().to(torch::kCPU, torch::kDouble).contiguous().clone();
  sum(d.data_ptr<double>(), d.numel());
  return d.to(x.device());
}

// dy_in = (dy - a) * k1 + (y - mean) * k2 per channel (a, k1, k2, mean [C]; dy, y [n, C, L]),
// in one pass on the CPU. y - mean, not y * k2 - mean * k2: the sum of dy_in over a channel (the
// gradient of the convolution bias before BatchNorm, truly 0) stays at the rounding of the centred
// terms, as in PyTorch's BatchNorm backward.
torch::Tensor sync_bn_input_grad(const torch::Tensor& dy, const torch::Tensor& y, const torch::Tensor& mean,
                                 const torch::Tensor& a, const torch::Tensor& k1, const torch::Tensor& k2) {
  const int64_t ch = y.size(1);
  if (!y.is_cpu() || y.scalar_type() != torch::kFloat || !y.is_contiguous() || !dy.is_contiguous() ||
      dy.scalar_type() != torch::kFloat) {
    const std::vector<int64_t> pc = {1, ch, 1};
    return (dy - a.view(pc)) * k1.view(pc) + (y - mean.view(pc)) * k2.view(pc);
  }
  torch::Tensor dx = torch::empty_like(y);
  const torch::Tensor m = mean.contiguous(), ac = a.contiguous(), k1c = k1.contiguous(), k2c = k2.contiguous();
  const float *py = y.data_ptr<float>(), *pdy = dy.data_ptr<float>(), *pm = m.data_ptr<float>(),
              *pa = ac.data_ptr<float>(), *p1 = k1c.data_ptr<float>(), *p2 = k2c.data_ptr<float>();
  float* pdx = dx.data_ptr<float>();
  const int64_t len = y.size(2);
  at::parallel_for(0, y.size(0) * ch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {  // one (row, channel) plane of len values
      const int64_t c = i % ch;
      const float mc = pm[c], ac_ = pa[c], k1_ = p1[c], k2_ = p2[c];
      const float *yi = py + i * len, *dyi = pdy + i * len;
      float* dxi = pdx + i * len;
      for (int64_t l = 0; l < len; ++l) dxi[l] = (dyi[l] - ac_) * k1_ + (yi[l] - mc) * k2_;
    }
  });
  return dx;
}

// Training-mode BatchNorm of y [n, C, L] with the global batch's mean and invstd [C] (given,
// computed from every rank's rows): one fused pass forward (at::native_batch_norm in inference
// form). Backward is synchronised BatchNorm's: the two per-channel sums sum(dy) and
// sum(dy * xhat) of this rank (one fused pass, native_batch_norm_backward) are summed over ranks
// in one collective of 2C doubles, then dy_in = gamma * invstd * (dy - S_dy / N - xhat * S_dyx / N)
// (sync_bn_input_grad, one pass).
// gamma's and beta's gradients stay this rank's (the trainer sums every gradient over ranks).
// One rank (no `sum`) runs the same arithmetic without the collective, so np 1 and np N differ
// only by how the sums are split (native_batch_norm_backward's own dy_in rounds differently, and
// AdamW amplifies that noise in the convolution biases before BatchNorm: docs/training.md).
struct SyncBatchNorm : public torch::autograd::Function<SyncBatchNorm> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& y,
                               const torch::Tensor& gamma, const torch::Tensor& beta, const torch::Tensor& mean,
                               const torch::Tensor& var, double eps, double count, int64_t sum_ptr) {
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["count"] = count;  // N: positions of the global batch
    ctx->saved_data["sum"] = sum_ptr;
    torch::Tensor invstd = at::rsqrt(var + eps);  // [C]
    ctx->save_for_backward({y, gamma, mean, invstd});
    return std::get<0>(at::native_batch_norm(y, gamma, beta, mean, var, false, 0.0, eps));
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &y = saved[0], &gamma = saved[1], &mean = saved[2], &invstd = saved[3];
    const auto* sum = reinterpret_cast<const SumOverRanks*>(ctx->saved_data["sum"].toInt());
    const double eps = ctx->saved_data["eps"].toDouble(), n = ctx->saved_data["count"].toDouble();
    const torch::Tensor dy = grad[0].contiguous();
    auto r = at::native_batch_norm_backward(dy, y, gamma, {}, {}, mean, invstd, true, eps, {false, true, true});
    torch::Tensor g_gamma = std::get<1>(r), g_beta = std::get<2>(r);  // [C]: sum(dy * xhat), sum(dy)
    const int64_t ch = y.size(1);
    torch::Tensor s = sum_ranks_now(torch::cat({g_gamma, g_beta}), *sum);  // [2C] double, every rank's
    torch::Tensor k1 = gamma.to(torch::kDouble) * invstd.to(torch::kDouble);                  // [C]
    torch::Tensor k2 = -k1 * invstd.to(torch::kDouble) * s.narrow(0, 0, ch) / n;                // [C]
    torch::Tensor dx = sync_bn_input_grad(dy, y, mean, (s.narrow(0, ch, ch) / n).to(torch::kFloat),
                                          k1.to(torch::kFloat), k2.to(torch::kFloat));
    return {dx, g_gamma, g_beta, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

struct ConvBlock {
  torch::Tensor w, b;               // [c_out, c_in, k], [c_out]
  torch::Tensor gamma, beta;        // BatchNorm1d weight, bias [c_out]
  torch::Tensor run_mean, run_var;  // BatchNorm1d buffers [c_out]
  int64_t pad = 0, pool = 1;
};

class Basset : public TrainModel {
 public:
  Basset(const BassetConfig& cfg, uint64_t seed, SumOverRanks sum);
  const char* name() const override { return "basset-supervised"; }
  torch::Tensor forward(const torch::Tensor& x, bool channels_first, const std::vector<int64_t>& lengths) override;
  int64_t output_length(int64_t /*len*/) const override { return 1; }
  NamedTensors parameters() override;
  NamedTensors buffers() override;
  void set_training(bool on) override { training_ = on; }
  void to(const torch::Device& device) override {
    move_to(parameters(), device);
    move_to(buffers(), device);
  }
  void set_step(const StepInfo& info) override { step_ = info; }
  void idle_forward() override;
  void idle_backward() override;

 private:
  torch::Tensor batch_norm(const torch::Tensor& y, ConvBlock& c);
  void global_stats(const torch::Tensor& y, torch::Tensor* mean, torch::Tensor* var, double* n) const;
  void update_running(ConvBlock& c, const torch::Tensor& mean, const torch::Tensor& var, double n) const;

  BassetConfig cfg_;
  SumOverRanks sum_;
  ConvBlock conv_[3];
  torch::Tensor fc_w_[3], fc_b_[3];  // clf.1 [fc, C*T], clf.4 [fc, fc], clf.6 [n_out, fc]
  bool training_ = true;
  StepInfo step_;
};

Basset::Basset(const BassetConfig& cfg, uint64_t seed, SumOverRanks sum) : cfg_(cfg), sum_(std::move(sum)) {
  for (int j = 0; j < 3; ++j) {
    if (cfg.channels[j] < 1 || cfg.kernels[j] < 1 || cfg.kernels[j] % 2 == 0 || cfg.pools[j] < 1) {
      fail("basset-supervised: block %d needs channels >= 1, an odd kernel and pool >= 1", j + 1);
    }
  }
  if (cfg.in_dim < 1 || cfg.fc < 1 || cfg.n_out < 1 || basset_flat_length(cfg) < 1 ||
      !(cfg.dropout >= 0 && cfg.dropout < 1)) {
    fail("basset-supervised: in_dim %lld, input_len %lld, fc %lld, n_out %lld, dropout %g cannot build the model",
         (long long)cfg.in_dim, (long long)cfg.input_len, (long long)cfg.fc, (long long)cfg.n_out, cfg.dropout);
  }
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  int64_t c_in = cfg.in_dim;
  for (int j = 0; j < 3; ++j) {
    ConvBlock& c = conv_[j];
    c.w = param({cfg.channels[j], c_in, cfg.kernels[j]});
    c.b = param({cfg.channels[j]});
    init_default(c.w, c.b, gen);
    c.gamma = param({cfg.channels[j]});
    c.gamma.fill_(1.0);
    c.beta = param({cfg.channels[j]});
    c.run_mean = torch::zeros({cfg.channels[j]}, torch::kFloat);
    c.run_var = torch::ones({cfg.channels[j]}, torch::kFloat);
    c.pad = cfg.kernels[j] / 2;
    c.pool = cfg.pools[j];
    c_in = cfg.channels[j];
  }
  const int64_t widths[4] = {c_in * basset_flat_length(cfg), cfg.fc, cfg.fc, cfg.n_out};
  for (int j = 0; j < 3; ++j) {
    fc_w_[j] = param({widths[j + 1], widths[j]});
    fc_b_[j] = param({widths[j + 1]});
    init_default(fc_w_[j], fc_b_[j], gen);
  }
}

NamedTensors Basset::parameters() {
  NamedTensors out;
  static const char* const kConv[3] = {"conv_net.0.", "conv_net.4.", "conv_net.8."};
  static const char* const kBn[3] = {"conv_net.1.", "conv_net.5.", "conv_net.9."};
  static const char* const kFc[3] = {"clf.1.", "clf.4.", "clf.6."};
  for (int j = 0; j < 3; ++j) {
    out.emplace_back(std::string(kConv[j]) + "weight", conv_[j].w);
    out.emplace_back(std::string(kConv[j]) + "bias", conv_[j].b);
    out.emplace_back(std::string(kBn[j]) + "weight", conv_[j].gamma);
    out.emplace_back(std::string(kBn[j]) + "bias", conv_[j].beta);
  }
  for (int j = 0; j < 3; ++j) {
    out.emplace_back(std::string(kFc[j]) + "weight", fc_w_[j]);
    out.emplace_back(std::string(kFc[j]) + "bias", fc_b_[j]);
  }
  return out;
}

NamedTensors Basset::buffers() {
  static const char* const kBn[3] = {"conv_net.1.", "conv_net.5.", "conv_net.9."};
  NamedTensors out;
  for (int j = 0; j < 3; ++j) {
    out.emplace_back(std::string(kBn[j]) + "running_mean", conv_[j].run_mean);
    out.emplace_back(std::string(kBn[j]) + "running_var", conv_[j].run_var);
  }
  return out;
}

// BatchNorm1d over y [n, C, L]. Training: the global batch's per-channel mean and biased
// variance, then SyncBatchNorm (fused normalisation; backward through the global statistics).
// Running statistics with the unbiased variance (PyTorch's rule).
torch::Tensor Basset::batch_norm(const torch::Tensor& y, ConvBlock& c) {
  const double eps = cfg_.bn_eps, m = cfg_.bn_momentum;
  if (!training_) {
    return at::batch_norm(y, c.gamma, c.beta, c.run_mean, c.run_var, false, m, eps, false);
  }
  torch::Tensor mean, var;  // [C]
  double n = 0;
  {
    torch::NoGradGuard no_grad;
    global_stats(y.detach(), &mean, &var, &n);
  }
  update_running(c, mean, var, n);
  return SyncBatchNorm::apply(y, c.gamma, c.beta, mean, var, eps, n, reinterpret_cast<int64_t>(&sum_));
}

// Mean and biased variance [C] of y [n, C, L] over every rank's rows, and their count. This
// rank's statistics in one fused pass (batch_norm_update_stats); over ranks (two collectives,
// [C + 1] then [C] doubles) the mean from the summed n_r * mean_r, the variance from the summed
// n_r * (var_r + (mean_r - mean)^2) (Chan et al.: no cancellation). One rank: no collective.
// An idle rank (y undefined) adds zeros.
void Basset::global_stats(const torch::Tensor& y, torch::Tensor* mean, torch::Tensor* var, double* n) const {
  torch::Tensor mean_r, var_r;
  double n_r = 0;
  if (y.defined()) {
    std::tie(mean_r, var_r) = at::batch_norm_update_stats(y, {}, {}, 0.0);
    n_r = static_cast<double>(y.size(0) * y.size(2));
    if (!sum_) {
      *mean = mean_r;
      *var = var_r;
      *n = n_r;
      return;
    }
    mean_r = mean_r.to(torch::kDouble);
    var_r = var_r.to(torch::kDouble);
  }
  const int64_t ch = y.defined() ? y.size(1) : mean->size(0);
  const torch::TensorOptions f64 = torch::TensorOptions().dtype(torch::kDouble).device(y.defined() ? y.device() : mean->device());
  if (!y.defined()) mean_r = var_r = torch::zeros({ch}, f64);
  torch::Tensor s = sum_ranks_now(torch::cat({mean_r * n_r, torch::full({1}, n_r, f64)}), sum_);  // [C + 1]
  *n = s[ch].item<double>();
  torch::Tensor mu = s.narrow(0, 0, ch) / *n;
  torch::Tensor m2 = sum_ranks_now(n_r > 0 ? (var_r + (mean_r - mu).square()) * n_r : torch::zeros({ch}, f64), sum_);
  *mean = mu.to(torch::kFloat);
  *var = (m2 / *n).to(torch::kFloat);
}

// Running statistics from the global batch's mean, biased variance [C] and count n (PyTorch's
// rule: the variance made unbiased). Every rank, idle or not, makes the same float operations on
// the same sums, so the statistics stay identical on all ranks.
void Basset::update_running(ConvBlock& c, const torch::Tensor& mean, const torch::Tensor& var, double n) const {
  torch::NoGradGuard no_grad;
  const double m = cfg_.bn_momentum;
  c.run_mean.mul_(1 - m).add_(mean.to(c.run_mean.device()) * m);
  c.run_var.mul_(1 - m).add_(var.to(c.run_var.device()) * (m * n / std::max(n - 1, 1.0)));
}

torch::Tensor Basset::forward(const torch::Tensor& x, bool channels_first, const std::vector<int64_t>& lengths) {
  torch::Tensor h = channels_first ? x : x.transpose(1, 2);  // [n, in_dim, len]
  if (h.dim() != 3 || h.size(1) != cfg_.in_dim || h.scalar_type() != torch::kFloat) {
    fail("basset-supervised: input has shape %s, expected one-hot float32 rows of %lld values per position "
         "(train on a `bend embed --model onehot` directory)", shape_str(x.sizes()).c_str(), (long long)cfg_.in_dim);
  }
  for (int64_t l : lengths) {
    if (l != cfg_.input_len || h.size(2) != cfg_.input_len) {
      fail("basset-supervised: a row of %lld positions: Basset takes rows of exactly %lld (BEND's input_len)",
           (long long)(l != cfg_.input_len ? l : h.size(2)), (long long)cfg_.input_len);
    }
  }
  for (ConvBlock& c : conv_) {
    h = at::conv1d(h.contiguous(), c.w, c.b, 1, c.pad);
    h = at::relu(batch_norm(h, c));
    h = at::max_pool1d(h, {c.pool}, {c.pool});
  }
  const int64_t n = h.size(0);
  h = h.contiguous().view({n, -1});  // nn.Flatten: [n, C * T], channel-major
  h = at::relu(at::linear(h, fc_w_[0], fc_b_[0]));
  if (training_ && cfg_.dropout > 0) h = h * basset_dropout_mask(step_, 0, n, cfg_.fc, cfg_.dropout).to(h.device());
  h = at::linear(h, fc_w_[1], fc_b_[1]);  // BEND: no activation after the second Linear
  if (training_ && cfg_.dropout > 0) h = h * basset_dropout_mask(step_, 1, n, cfg_.fc, cfg_.dropout).to(h.device());
  return at::linear(h, fc_w_[2], fc_b_[2]).unsqueeze(1);  // [n, 1, n_out]
}

// The collectives of forward (global_stats of every block, in order) with nothing to add; the
// running statistics are updated from the global sums as on the other ranks.
void Basset::idle_forward() {
  torch::NoGradGuard no_grad;
  for (ConvBlock& c : conv_) {
    torch::Tensor mean = torch::zeros({c.w.size(0)}, c.run_mean.options()), var;
    double n = 0;
    global_stats(torch::Tensor(), &mean, &var, &n);
    update_running(c, mean, var, n);
  }
}

// The collectives of backward: SyncBatchNorm's [2C] sum, blocks in reverse order.
void Basset::idle_backward() {
  for (int j = 2; j >= 0; --j) sum_ranks_now(torch::zeros({2 * conv_[j].w.size(0)}, torch::kDouble), sum_);
}

}  // namespace

ResNetSupervisedConfig resnet_supervised_config(const HeadConfig& task_head) {
  ResNetSupervisedConfig c;
  c.in_dim = task_head.input_dim;
  c.kernel = task_head.kernel;
  c.head.input_dim = c.hidden;
  c.head.hidden = 64;  // ConvNetForSupervised's hidden_size_downstream default
  c.head.kernel = 3;   // kernel_size_downstream default
  c.head.output_window = task_head.output_window;
  c.head.n_out = task_head.n_out;
  return c;
}

int64_t resnet_supervised_dilation(const ResNetSupervisedConfig& cfg, int64_t layer) {
  const int64_t e = (layer % cfg.dilation_cycle) / cfg.dilation_double_every;
  return std::min<int64_t>(cfg.dilation_max, int64_t{1} << std::min<int64_t>(e, 62));
}

std::unique_ptr<TrainModel> make_resnet_supervised(const ResNetSupervisedConfig& cfg, uint64_t seed) {
  return std::make_unique<ResNetSupervised>(cfg, seed);
}

int64_t basset_flat_length(const BassetConfig& cfg) {
  int64_t len = cfg.input_len;
  for (int64_t p : cfg.pools) len = p > 0 ? len / p : 0;
  return len;
}

std::unique_ptr<TrainModel> make_basset(const BassetConfig& cfg, uint64_t seed, SumOverRanks sum) {
  return std::make_unique<Basset>(cfg, seed, std::move(sum));
}

torch::Tensor basset_dropout_mask(const StepInfo& info, int layer, int64_t n, int64_t width, double p) {
  const int64_t rows = std::max(info.global_batch, info.row_offset + n);
  uint64_t s = splitmix64(info.seed);
  s = splitmix64(s ^ static_cast<uint64_t>(info.epoch));
  s = splitmix64(s ^ static_cast<uint64_t>(info.step));
  s = splitmix64(s ^ static_cast<uint64_t>(layer));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(s);
  torch::Tensor m = torch::empty({rows, width}, torch::kFloat);
  m.bernoulli_(1.0 - p, gen);
  m.div_(1.0 - p);
  return m.narrow(0, info.row_offset, n);
}

}  // namespace bend
