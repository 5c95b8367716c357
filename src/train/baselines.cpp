// BEND's supervised baselines in LibTorch: resnet-supervised (dilated ResNet + BEND's CNN head)
// and basset-supervised (Basset with BatchNorm synchronised over ranks). See baselines.hpp.
#include "baselines.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
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

// Sums x (float, any device) over ranks with `sum`; backward sums the gradient the same way
// (the adjoint of a sum that every rank receives).
torch::Tensor sum_ranks_now(const torch::Tensor& x, const SumOverRanks& sum) {
  if (!sum) return x.clone();
  torch::Tensor d = x.detach().to(torch::kCPU, torch::kDouble).contiguous();
  sum(d.data_ptr<double>(), d.numel());
  return d.to(x.device(), torch::kFloat);
}

struct RankSum : public torch::autograd::Function<RankSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, int64_t sum_ptr) {
    ctx->saved_data["sum"] = sum_ptr;
    return sum_ranks_now(x, *reinterpret_cast<const SumOverRanks*>(sum_ptr));
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto* sum = reinterpret_cast<const SumOverRanks*>(ctx->saved_data["sum"].toInt());
    return {sum_ranks_now(grad[0], *sum), torch::Tensor()};
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

// BatchNorm1d over y [n, C, L]. Training: 1. sum y per channel, with the row count, over ranks;
// 2. mean; 3. sum the squared deviations over ranks; 4. biased variance, normalise; running
// statistics with the unbiased variance (PyTorch's rule). Both sums are RankSum nodes, so
// backward sums the statistics' gradients over ranks too (synchronised BatchNorm).
torch::Tensor Basset::batch_norm(const torch::Tensor& y, ConvBlock& c) {
  const int64_t ch = y.size(1);
  const double eps = cfg_.bn_eps, m = cfg_.bn_momentum;
  if (!training_) {
    return at::batch_norm(y, c.gamma, c.beta, c.run_mean, c.run_var, false, m, eps, false);
  }
  const int64_t ptr = reinterpret_cast<int64_t>(&sum_);
  const std::vector<int64_t> rows_and_positions = {0, 2};
  torch::Tensor count = torch::full({1}, static_cast<double>(y.size(0) * y.size(2)), y.options());
  // [C + 1]: per-channel sums and the count, over every rank
  torch::Tensor s = RankSum::apply(torch::cat(std::vector<torch::Tensor>{y.sum(rows_and_positions), count}), ptr);
  torch::Tensor n = s.narrow(0, ch, 1).detach();                                // [1] global count
  torch::Tensor mean = s.narrow(0, 0, ch) / n;                                   // [C]
  torch::Tensor d = y - mean.view({1, ch, 1});
  torch::Tensor zero = torch::zeros({1}, y.options());
  torch::Tensor sq = torch::cat(std::vector<torch::Tensor>{(d * d).sum(rows_and_positions), zero});  // [C + 1]
  torch::Tensor var = RankSum::apply(sq, ptr).narrow(0, 0, ch) / n;  // [C], biased
  update_running(c, mean.detach(), var.detach(), n.item<double>());
  torch::Tensor scale = at::rsqrt(var + eps) * c.gamma;  // [C]
  return d * scale.view({1, ch, 1}) + c.beta.view({1, ch, 1});
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

// The collectives of forward (two [C + 1] sums per block, blocks in order) with nothing to add;
// the running statistics are updated from the global sums as on the other ranks.
void Basset::idle_forward() {
  torch::NoGradGuard no_grad;
  for (ConvBlock& c : conv_) {
    const int64_t ch = c.w.size(0);
    torch::Tensor s = sum_ranks_now(torch::zeros({ch + 1}, torch::kFloat), sum_);
    torch::Tensor n = s.narrow(0, ch, 1);
    torch::Tensor mean = s.narrow(0, 0, ch) / n;
    torch::Tensor var = sum_ranks_now(torch::zeros({ch + 1}, torch::kFloat), sum_).narrow(0, 0, ch) / n;
    update_running(c, mean, var, n.item<double>());
  }
}

// The collectives of backward: the same sums, blocks in reverse order (each block's are done
// before the gradient reaches the block below).
void Basset::idle_backward() {
  for (int j = 2; j >= 0; --j) {
    for (int k = 0; k < 2; ++k) sum_ranks_now(torch::zeros({conv_[j].w.size(0) + 1}, torch::kFloat), sum_);
  }
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
