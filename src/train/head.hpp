// BEND's downstream head ("CNN" in bend/models/downstream.py) as a LibTorch module. Private to
// src/train: it includes torch headers. Parameter names are BEND's state_dict names
// (conv1.1.weight, conv1.1.bias, conv2.1.weight, conv2.1.bias, linear.0.weight, linear.0.bias),
// so a head's weights can be exchanged with BEND checkpoints tensor by tensor.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/moduledict.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <ATen/core/Generator.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bend/models/safetensors.hpp"
#include "bend/train/head_config.hpp"

namespace bend {

// Conv1d -> GELU -> Conv1d -> GELU -> [AvgPool1d] -> Linear over [batch, len, input_dim] inputs.
// The constructor initialises every parameter from `seed` alone (see init_head_parameters) and
// leaves the global torch RNG as it found it. Not thread-safe (a torch module).
class HeadImpl : public torch::nn::Module {
 public:
  // Validates `cfg` (throws bend::Error) and builds a CPU float32 head seeded with `seed`.
  HeadImpl(const HeadConfig& cfg, uint64_t seed);

  // x: [batch, len, input_dim] float32 -> logits [batch, T, n_out], T = len without pooling,
  // len / output_window (floor) with it. Throws bend::Error on a wrong rank, width, dtype or a
  // sequence shorter than the window. The first convolution reads a contiguous x in place
  // (channels-last oneDNN path); the training BatchLoader's layout for input_dim >= 128.
  torch::Tensor forward(const torch::Tensor& x);
  // The same for x: [batch, input_dim, len] (channels first, as torch's Conv1d reads it; the
  // training BatchLoader's layout for input_dim < 128, where this path is the faster one).
  // The same logits and gradients up to float rounding (another convolution kernel), the same
  // errors.
  torch::Tensor forward_channels_first(const torch::Tensor& x);

  // The configuration the head was built with.
  const HeadConfig& config() const { return cfg_; }
  // Output length for an input of `len` positions (len or len / output_window).
  int64_t output_length(int64_t len) const;

 private:
  // Throws bend::Error unless x is float32 [batch, *, *] with input_dim along `dim_axis` and at
  // least one position (one output window) along `len_axis`.
  void check_input(const torch::Tensor& x, int64_t len_axis, int64_t dim_axis) const;
  // GELU -> conv2 -> GELU -> [pool] -> linear on conv1's output [batch, hidden, len].
  torch::Tensor after_conv1(const torch::Tensor& conv1_out);

  HeadConfig cfg_;
  torch::nn::Conv1d conv1_{nullptr};   // weight [hidden, input_dim, kernel], bias [hidden]
  torch::nn::Conv1d conv2_{nullptr};   // weight [hidden, hidden, kernel], bias [hidden]
  torch::nn::Linear linear_{nullptr};  // weight [n_out, hidden], bias [n_out]
};
TORCH_MODULE(Head);

// at::avg_pool1d(x, w, stride w) over x [batch, channels, len], differentiable, with a backward
// that writes grad / w over each window directly: the same gradient as LibTorch's avg_pool
// backward, bit for bit, without its channels-last round trip (see head.cpp).
torch::Tensor avg_pool_windows(const torch::Tensor& x, int64_t w);

// Re-initialises every parameter of `head` from `seed`, in BEND's construction order (conv1
// weight, conv1 bias, conv2 weight, conv2 bias, linear weight, linear bias), each
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the values PyTorch's default init gives BEND's CNN right
// after torch.manual_seed(seed) on CPU. Uses a private generator; the global RNG is untouched.
void init_head_parameters(Head& head, uint64_t seed);
// The same draws from `gen` (its state advances): a head built after other modules that drew
// from one generator, as BEND's resnet-supervised builds its CNN after the ResNet.
void init_head_parameters(Head& head, at::Generator& gen);

// Exact (erf) GELU whose backward makes the incoming gradient contiguous first: LibTorch 1.13's
// CPU gelu_backward misreads a non-contiguous gradient (docs/differences.md). Differentiable.
torch::Tensor gelu_contiguous(const torch::Tensor& x);

// The six parameters with their BEND names, in the fixed order listed in init_head_parameters.
// The tensors share storage with the module (writing to them changes the head).
std::vector<std::pair<std::string, torch::Tensor>> head_named_parameters(Head& head);

// Copies the six BEND-named tensors of `file` into `head` (any float dtype read_f32 accepts).
// Throws bend::Error naming the file and tensor when one is missing or has the wrong shape.
void load_head_weights(Head& head, const SafetensorsFile& file);

// The six parameters as float32 host tensors with BEND names, ready for write_safetensors.
std::vector<F32Tensor> head_weights(Head& head);

}  // namespace bend
