// BEND's supervised baselines, trained end to end on one-hot data by `bend train --model`.
// Private to src/train (torch headers).
//
// resnet-supervised (bend/models/downstream.py ConvNetForSupervised, as BEND's config merge
// builds it): the input's one-hot channels are placed in `hidden` (256) channels, then
// `n_layers` (30) residual blocks of BEND's dilated ResNet
//   x = x + LayerNorm(GELU(Conv1d(x, kernel, dilation d, padding 'same')))
//   x = x + LayerNorm(GELU(Linear(x)))          d = min(32, 2 ** ((i % 6) // 1))
// then BEND's CNN head (hidden 64, kernel 3, the task's output window and outputs). Padded
// positions of a shorter row are zeroed before every convolution and before the head, so a row
// gives the same logits whatever its batch-mates (BEND pads with code 0, 'A', unmasked).
//
// basset-supervised (bend/models/basset.py): three blocks Conv1d('same') -> BatchNorm1d -> ReLU
// -> MaxPool1d (300x19 pool 3, 200x11 pool 4, 200x7 pool 4) on 512 positions, flatten
// (200 x 10), Linear 1000 -> ReLU -> Dropout 0.3 -> Linear 1000 -> Dropout 0.3 -> Linear n_out.
// BatchNorm in training normalises with the statistics of the whole global batch (summed over
// ranks with SumOverRanks, forward and backward); dropout masks depend on seed, epoch, step and
// the row's place in the global batch. Both make np = 1 and np = N the same computation.
#pragma once

#include <cstdint>
#include <memory>

#include "train_model.hpp"

namespace bend {

struct ResNetSupervisedConfig {
  int64_t in_dim = 5;          // one-hot width of the data (placed in channels [0, in_dim))
  int64_t hidden = 256;        // ResNet channels (BEND: hidden_size 256)
  int64_t n_layers = 30;
  int64_t kernel = 3;          // BEND's merge: the task's head kernel_size (3) replaces 9
  int64_t dilation_max = 32, dilation_cycle = 6, dilation_double_every = 1;
  double initializer_range = 0.02;  // std of the Linear weights (transformers' post_init)
  HeadConfig head;             // the CNN after it: input_dim = hidden, hidden 64, kernel 3
};

// BEND's configuration for a task whose head is `task_head` (n_out, output_window, kernel).
ResNetSupervisedConfig resnet_supervised_config(const HeadConfig& task_head);

// Dilation of block `layer` (0-based).
int64_t resnet_supervised_dilation(const ResNetSupervisedConfig& cfg, int64_t layer);

// Seeded as PyTorch seeds BEND's model after torch.manual_seed(seed) on CPU: per block the
// Conv1d (kaiming-uniform weight, uniform bias) and Linear defaults in construction order, then
// every Linear weight redrawn N(0, initializer_range) with zero bias in block order
// (post_init), then the CNN head's defaults, all from one generator. Throws bend::Error for
// sizes < 1, an even kernel or in_dim > hidden.
std::unique_ptr<TrainModel> make_resnet_supervised(const ResNetSupervisedConfig& cfg, uint64_t seed);

struct BassetConfig {
  int64_t in_dim = 5;
  int64_t input_len = 512;                 // rows must have exactly this length
  int64_t channels[3] = {300, 200, 200};
  int64_t kernels[3] = {19, 11, 7};        // odd: 'same' padding kernel / 2 each side
  int64_t pools[3] = {3, 4, 4};
  int64_t fc = 1000;
  double dropout = 0.3;
  double bn_eps = 1e-5, bn_momentum = 0.1;
  int64_t n_out = 0;
};

// Positions left after the three pools (512 -> 170 -> 42 -> 10).
int64_t basset_flat_length(const BassetConfig& cfg);

// PyTorch's default init in construction order (conv0, conv4, conv8, clf.1, clf.4, clf.6) from a
// generator seeded with `seed`; BatchNorm weight 1, bias 0, running mean 0, var 1. Throws
// bend::Error for sizes < 1, even kernels or an input that pools to nothing.
std::unique_ptr<TrainModel> make_basset(const BassetConfig& cfg, uint64_t seed, SumOverRanks sum);

// The dropout mask of Basset's dropout layer `layer` (0 or 1) for rows [row_offset, row_offset
// + n) of a global batch of `global_batch` rows: bernoulli(1 - p) / (1 - p) over [global_batch,
// width], drawn from a generator seeded by (seed, epoch, step, layer); [n, width] float32.
torch::Tensor basset_dropout_mask(const StepInfo& info, int layer, int64_t n, int64_t width, double p);

}  // namespace bend
