// BEND's downstream head in LibTorch: construction with BEND's parameter names, seeded init that
// reproduces PyTorch's default init, forward, and weight exchange with safetensors.
#include "head.hpp"

#include "losses.hpp"  // shape_str

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>
#include <ATen/ops/avg_pool1d.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/div.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/gelu_backward.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/modules/container/moduledict.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "bend/core/error.hpp"

namespace bend {

namespace {

// A container holding `module` as its child `key`: parameters then carry BEND's nn.Sequential
// index in their names ("conv1.1.weight").
torch::nn::ModuleDict slot(const std::string& key, std::shared_ptr<torch::nn::Module> module) {
  using Item = std::pair<std::string, std::shared_ptr<torch::nn::Module>>;
  return torch::nn::ModuleDict(std::vector<Item>{{key, std::move(module)}});
}

// Fills `p` (any device) with U(-bound, bound) drawn on the CPU from `gen`, element by element
// in row-major order, as Tensor.uniform_ does on a CPU tensor.
void fill_uniform(at::Tensor& p, double bound, at::Generator& gen) {
  at::Tensor cpu = at::empty(p.sizes(), at::TensorOptions().dtype(p.scalar_type()));
  cpu.uniform_(-bound, bound, gen);
  p.copy_(cpu);
}

// The six parameters of `head` with their BEND names, in construction order (each weight is
// followed by its bias).
std::vector<std::pair<std::string, torch::Tensor>> named_parameters_of(HeadImpl& head) {
  static const char* const kNames[] = {"conv1.1.weight", "conv1.1.bias",    "conv2.1.weight",
                                       "conv2.1.bias",   "linear.0.weight", "linear.0.bias"};
  const auto all = head.named_parameters(/*recurse=*/true);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const char* name : kNames) {
    const torch::Tensor* p = all.find(name);
    BEND_ASSERT(p != nullptr);
    out.emplace_back(name, *p);
  }
  BEND_ASSERT(all.size() == out.size());
  return out;
}

// PyTorch 1.13 defaults (nn.Conv1d / nn.Linear reset_parameters), drawn from a generator seeded
// with `seed`: weight by kaiming_uniform_(a=sqrt(5)), bound = sqrt(3) * gain / sqrt(fan_in) with
// gain = sqrt(2 / (1 + a^2)); then bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). The bounds use
// PyTorch's arithmetic so the drawn float values match bit for bit.
void init_parameters(HeadImpl& head, at::Generator& gen) {
  c10::NoGradGuard no_grad;
  const double a = std::sqrt(5.0);
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  auto params = named_parameters_of(head);
  for (size_t i = 0; i + 1 < params.size(); i += 2) {
    at::Tensor& weight = params[i].second;    // [out, in, kernel] or [out, in]
    at::Tensor& bias = params[i + 1].second;  // [out]
    const double fan_in = static_cast<double>(weight.numel() / weight.size(0));
    fill_uniform(weight, std::sqrt(3.0) * (gain / std::sqrt(fan_in)), gen);
    fill_uniform(bias, 1.0 / std::sqrt(fan_in), gen);
  }
}

// GELU (exact, erf form) whose backward gives torch's kernel a contiguous gradient. On CPU,
// LibTorch 1.13 runs gelu_backward through oneDNN whenever the input is contiguous and then
// reads grad_output as if it were contiguous too: the transposed gradient that comes back from
// the Linear over [batch, T, hidden] produced wrong (even garbage) weight gradients.
struct Gelu : public torch::autograd::Function<Gelu> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    const torch::Tensor xc = x.contiguous();
    ctx->save_for_backward({xc});
    return at::gelu(xc);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    return {at::gelu_backward(grad[0].contiguous(), x)};
  }
};

// AvgPool1d(w, stride w) whose backward writes grad / w over each window itself. The gradient
// reaching the pool comes from the Linear over [batch, T, hidden], transposed (channel stride
// 1), so LibTorch 1.13's CPU avg_pool backward takes its channels-last path and copies the whole
// [batch, hidden, 1, len] input gradient to channels-last and back: two strided copies, ~13% of
// a 512 x 5 head step (torch.autograd.profiler). Same values: that kernel writes 0 + grad / w,
// this writes grad / w; positions past the last full window get 0 in both.
struct AvgPool : public torch::autograd::Function<AvgPool> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, int64_t w) {
    ctx->saved_data["len"] = x.size(2);
    ctx->saved_data["w"] = w;
    return at::avg_pool1d(x, {w}, {w});
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const int64_t len = ctx->saved_data["len"].toInt(), w = ctx->saved_data["w"].toInt();
    const torch::Tensor g = grad[0];  // [batch, hidden, T]
    const int64_t n = g.size(0), c = g.size(1), t = g.size(2);
    torch::Tensor gi = at::empty({n, c, len}, g.options());
    at::Tensor windows = gi.narrow(2, 0, t * w).view({n, c, t, w});
    windows.copy_(at::div(g, at::full({}, static_cast<double>(w), g.options())).unsqueeze(3).expand({n, c, t, w}));
    if (t * w < len) gi.narrow(2, t * w, len - t * w).zero_();
    return {gi, torch::Tensor()};
  }
};

}  // namespace

void validate_head_config(const HeadConfig& cfg) {
  if (cfg.input_dim <= 0) fail("head: input_dim must be > 0 (got %lld)", (long long)cfg.input_dim);
  if (cfg.hidden <= 0) fail("head: hidden must be > 0 (got %lld)", (long long)cfg.hidden);
  if (cfg.n_out <= 0) fail("head: n_out must be > 0 (got %lld)", (long long)cfg.n_out);
  if (cfg.kernel <= 0 || cfg.kernel % 2 == 0) {
    fail(
        "head: kernel must be odd and > 0 (got %lld): padding kernel/2 keeps the length only "
        "for odd kernels",
        (long long)cfg.kernel);
  }
  if (cfg.output_window < 0) {
    fail("head: output_window must be >= 0 (0 = no pooling; got %lld)",
         (long long)cfg.output_window);
  }
}

HeadImpl::HeadImpl(const HeadConfig& cfg, uint64_t seed) : cfg_(cfg) {
  validate_head_config(cfg);
  // torch's module constructors draw their default init from the global CPU generator; keep
  // its state so that building a head has no side effect, then draw our own from `seed`.
  at::Generator global = at::detail::getDefaultCPUGenerator();
  const at::Tensor global_state = global.get_state();
  const int64_t pad = cfg.kernel / 2;
  conv1_ = torch::nn::Conv1d(
      torch::nn::Conv1dOptions(cfg.input_dim, cfg.hidden, cfg.kernel).stride(1).padding(pad));
  conv2_ = torch::nn::Conv1d(
      torch::nn::Conv1dOptions(cfg.hidden, cfg.hidden, cfg.kernel).stride(1).padding(pad));
  linear_ = torch::nn::Linear(torch::nn::LinearOptions(cfg.hidden, cfg.n_out));
  global.set_state(global_state);
  // BEND wraps each layer in nn.Sequential: conv1 = (Transpose, Conv1d, Transpose, GELU),
  // linear = (Linear,). The dicts reproduce those state_dict names; forward() calls the layers.
  register_module("conv1", slot("1", conv1_.ptr()));
  register_module("conv2", slot("1", conv2_.ptr()));
  register_module("linear", slot("0", linear_.ptr()));
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  init_parameters(*this, gen);
}

int64_t HeadImpl::output_length(int64_t len) const {
  return cfg_.output_window > 0 ? len / cfg_.output_window : len;
}

void HeadImpl::check_input(const torch::Tensor& x, int64_t len_axis, int64_t dim_axis) const {
  if (x.dim() != 3 || x.size(dim_axis) != cfg_.input_dim) {
    fail("head: input has shape %s, expected %s", shape_str(x.sizes()).c_str(),
         (len_axis == 1 ? "[batch, len, " + std::to_string(cfg_.input_dim) + "]"
                        : "[batch, " + std::to_string(cfg_.input_dim) + ", len]").c_str());
  }
  if (x.scalar_type() != at::kFloat) {
    fail("head: input has dtype %s, expected float32", c10::toString(x.scalar_type()));
  }
  if (x.size(len_axis) < 1 || x.size(len_axis) < cfg_.output_window) {
    fail("head: input of %lld positions is shorter than %s (%lld)", (long long)x.size(len_axis),
         cfg_.output_window > 0 ? "the output window" : "one position",
         (long long)std::max<int64_t>(cfg_.output_window, 1));
  }
}

torch::Tensor HeadImpl::forward(const torch::Tensor& x) {
  check_input(x, 1, 2);
  // The first convolution reads [batch, len, dim] where it lies: viewed as [batch, dim, 1, len]
  // the rows are an NHWC ("channels last") image, which LibTorch's oneDNN convolution takes
  // without a transposed copy of the input (Conv1d would copy it). Its output is channels last
  // too; Gelu makes it contiguous [batch, hidden, len] for the rest of the head.
  const int64_t pad = cfg_.kernel / 2;
  const int64_t stride[2] = {1, 1}, padding[2] = {0, pad};
  const torch::Tensor h = at::conv2d(x.permute({0, 2, 1}).unsqueeze(2), conv1_->weight.unsqueeze(2), conv1_->bias,
                                     at::IntArrayRef(stride, 2), at::IntArrayRef(padding, 2));
  return after_conv1(h.squeeze(2));
}

torch::Tensor HeadImpl::forward_channels_first(const torch::Tensor& x) {
  check_input(x, 2, 1);
  return after_conv1(conv1_->forward(x));  // a strided x is copied here
}

torch::Tensor HeadImpl::after_conv1(const torch::Tensor& conv1_out) {
  torch::Tensor h = Gelu::apply(conv1_out);  // [batch, hidden, len], contiguous
  h = Gelu::apply(conv2_->forward(h));       // [batch, hidden, len]
  if (cfg_.output_window > 0) {
    const int64_t w = cfg_.output_window;
    h = avg_pool_windows(h, w);  // [batch, hidden, len / w]
  }
  h = h.transpose(1, 2);       // [batch, T, hidden]
  return linear_->forward(h);  // [batch, T, n_out]
}

torch::Tensor avg_pool_windows(const torch::Tensor& x, int64_t w) {
  return AvgPool::apply(x, w);
}

void init_head_parameters(Head& head, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  init_parameters(*head, gen);
}

void init_head_parameters(Head& head, at::Generator& gen) {
  init_parameters(*head, gen);
}

torch::Tensor gelu_contiguous(const torch::Tensor& x) {
  return Gelu::apply(x);
}

std::vector<std::pair<std::string, torch::Tensor>> head_named_parameters(Head& head) {
  return named_parameters_of(*head);
}

void load_head_weights(Head& head, const SafetensorsFile& file) {
  c10::NoGradGuard no_grad;
  for (auto& np : head_named_parameters(head)) {
    const at::Tensor& p = np.second;
    if (!file.has(np.first)) {
      fail("%s: head weights: tensor %s is missing", file.path().c_str(), np.first.c_str());
    }
    const TensorInfo& info = file.info(np.first);
    if (!p.sizes().equals(info.shape)) {
      fail("%s: head weights: tensor %s has shape %s, the head expects %s", file.path().c_str(),
           np.first.c_str(), shape_str(info.shape).c_str(), shape_str(p.sizes()).c_str());
    }
    std::vector<float> values = file.read_f32(np.first);
    at::Tensor cpu = at::from_blob(values.data(), p.sizes(), at::kFloat);
    np.second.copy_(cpu);
  }
}

std::vector<F32Tensor> head_weights(Head& head) {
  std::vector<F32Tensor> out;
  for (const auto& np : head_named_parameters(head)) {
    const at::Tensor cpu = np.second.detach().to(at::kCPU, at::kFloat).contiguous();
    F32Tensor t;
    t.name = np.first;
    t.shape.assign(cpu.sizes().begin(), cpu.sizes().end());
    t.values.resize(static_cast<size_t>(cpu.numel()));
    std::memcpy(t.values.data(), cpu.data_ptr<float>(), t.values.size() * sizeof(float));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace bend
