// Training checkpoints as safetensors: head parameters (BEND's names), AdamW state, and the
// epoch history in the metadata. Written atomically; loading never executes a pickle.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "adamw.hpp"
#include "bend/train/results.hpp"

namespace bend {

struct CheckpointMeta {
  int epoch = 0;                     // 1-based epoch this checkpoint ends (or is inside of)
  int64_t n_steps = 0;               // optimizer steps taken
  std::vector<EpochRecord> history;  // epochs 1..epoch (1..epoch-1 when saved mid-epoch)
  std::string config_json;           // train_config_json() of the run
  int64_t epoch_step = 0;            // > 0: saved mid-epoch (graceful stop) after this many batches
  double epoch_loss_sum = 0;         // with epoch_step: the sum of those batches' losses
};

// Writes `path` (tmp + rename): every parameter, "optimizer.<state name>" tensors, metadata.
void save_checkpoint(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& params,
                     const AdamW* opt, const CheckpointMeta& meta);
// Copies the saved tensors into `params` (and `opt` when given). Throws bend::Error naming the
// file and a missing or mis-shaped tensor.
CheckpointMeta load_checkpoint(const std::string& path,
                               std::vector<std::pair<std::string, torch::Tensor>>& params, AdamW* opt);
// Only the metadata of a checkpoint (no tensors are read). Same errors as load_checkpoint.
CheckpointMeta load_checkpoint_meta(const std::string& path);
// Path of epoch `epoch`'s checkpoint in `out_dir`.
std::string checkpoint_path(const std::string& out_dir, int epoch);
// Path of the mid-epoch checkpoint a graceful stop writes (checkpoints/partial.safetensors);
// removed when the epoch it is inside of is saved.
std::string partial_checkpoint_path(const std::string& out_dir);
// Highest epoch with a checkpoint in out_dir/checkpoints (0 when none).
int latest_checkpoint_epoch(const std::string& out_dir);

}  // namespace bend
