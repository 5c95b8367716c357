// The model `bend train` trains (--model): BEND's head on stored embeddings, or one of BEND's
// supervised baselines trained end to end on one-hot data (baselines.hpp). Private to src/train
// (torch headers). The trainer sees only this interface: logits, BEND-named parameters and
// buffers, train/eval mode, and the per-step hooks the baselines need for data parallelism.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bend/train/head_config.hpp"

namespace bend {

// Sums `n` doubles element-wise over every rank of the run, in place (the trainer passes
// Comm::allreduce_sum; an empty function on one rank, and models then skip their collectives).
// Every rank must call it the same number of times with the same n.
using SumOverRanks = std::function<void(double* values, int64_t n)>;

// Where a training step's rows lie in the global batch, for what must not depend on the rank
// count (the baselines' dropout masks).
struct StepInfo {
  uint64_t seed = 0;
  int epoch = 0;              // 1-based
  int64_t step = 0;           // 1-based global batch of the epoch
  int64_t row_offset = 0;     // this rank's first row within the global batch
  int64_t global_batch = 0;   // --batch-size (rows of a full global batch)
};

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

class TrainModel {
 public:
  virtual ~TrainModel() = default;
  // "head", "resnet-supervised" or "basset-supervised".
  virtual const char* name() const = 0;
  // Logits [n, T, n_out] of x: [n, dim, len] when channels_first, else [n, len, dim];
  // `lengths` [n] are the rows' unpadded lengths (padding beyond them is zero). Throws
  // bend::Error for inputs the model cannot take (wrong dim, too short, Basset's fixed length).
  virtual torch::Tensor forward(const torch::Tensor& x, bool channels_first,
                                const std::vector<int64_t>& lengths) = 0;
  // Output positions T for rows of `len` positions.
  virtual int64_t output_length(int64_t len) const = 0;
  // Trained parameters with BEND's state_dict names, in a fixed order (shared storage).
  virtual NamedTensors parameters() = 0;
  // Non-trained state saved in checkpoints (BatchNorm running statistics); shared storage.
  virtual NamedTensors buffers() { return {}; }
  // Training (batch statistics, dropout) or evaluation mode.
  virtual void set_training(bool on) = 0;
  // Moves every parameter and buffer to `device`.
  virtual void to(const torch::Device& device) = 0;
  // Called before each training forward (dropout masks follow seed, epoch, step and row).
  virtual void set_step(const StepInfo& /*info*/) {}
  // A rank with no rows in a training step joins the collectives the others make in forward
  // (before the loss allreduce) and in backward (only when the others back-propagate).
  virtual void idle_forward() {}
  virtual void idle_backward() {}
};

// Names --model accepts, in the order `bend train --help` lists them.
const std::vector<std::string>& train_model_names();

// Builds model `name` seeded with `seed` on the CPU. `head` is the task's head configuration
// (input_dim from the data); the baselines take n_out, output_window and, for
// resnet-supervised, kernel from it (BEND's config merge). `sum` is used by models whose
// training statistics span ranks (Basset's BatchNorm). Throws bend::Error for an unknown name
// or a configuration the model cannot take (e.g. a baseline on data that is not one-hot).
std::unique_ptr<TrainModel> make_train_model(const std::string& name, const HeadConfig& head, uint64_t seed,
                                             SumOverRanks sum);

}  // namespace bend
