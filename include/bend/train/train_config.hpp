// Settings of `bend train` (CLI / [train] section of a job TOML) and the checks on them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

struct TrainConfig {
  std::string data_dir;     // a `bend embed` output directory (manifest.json + shards)
  std::string out_dir;      // results: checkpoints/, losses.csv, best_model_metrics.csv
                            // (with cv: cv_results_dir() puts them in out_dir/fold<fold>)
  std::vector<std::string> train_splits{"train"}, valid_splits{"valid"}, test_splits{"test"};
  bool cv = false;          // BEND's 10-fold cross-validation over part1..part10
  int fold = 1;             // with cv: test part<fold>, validate part<fold+1>, train the rest
  std::string model = "head";  // head | resnet-supervised | basset-supervised (docs/training.md)
  int64_t hidden = 64;      // head channels
  int64_t kernel = 3;       // head convolution width
  int64_t output_window = 0;  // average-pool window over positions (0: none)
  int64_t n_out = 0;        // outputs per position: classes (CE) or labels (BCE)
  int64_t input_dim = 0;    // expected embedding width (0: take it from the data)
  double lr = 3e-3;
  double weight_decay = 0.01;
  int epochs = 100;
  int64_t batch_size = 64;  // global batch, split across ranks
  int grad_accum = 1;       // optimizer step every this many batches
  std::string criterion = "cross_entropy";  // cross_entropy | bce | poisson | mse
  std::string metric = "mcc";               // mcc | auroc | auprc | pearsonr
  std::vector<float> class_weights;         // cross-entropy class weights (empty: none)
  float pos_weight = 0;                     // BCE positive-class weight (0: none)
  uint64_t seed = 0;
  int64_t shuffle_buffer = 1000;  // records in the shuffle buffer (BEND: 200 or 100 per task)
  int threads = 1;                // intra-op threads per rank
  bool use_cuda = false;
  bool overwrite = false;         // replace results trained with other settings
  bool test_only = false;         // skip training: evaluate the best saved epoch on test
  bool save_predictions = false;  // also write out_dir/test_predictions.npz (predictions.hpp)
};

// Throws bend::Error naming the option when a setting is out of range.
void validate_train_config(const TrainConfig& c);

// Where a run's results go: out_dir, or with cv `out_dir/fold<fold>` (BEND keeps one results
// directory per fold; slurm/train.sbatch's layout). An out_dir whose last component already is
// `fold<fold>` is kept as it is, so a script that appends the fold itself is not doubled.
std::string cv_results_dir(const TrainConfig& c);

// The settings that define a training run (compared when resuming), as JSON text.
std::string train_config_json(const TrainConfig& c);

// Every option of `bend train` as JSON text keyed by its command-line name without dashes
// ("label-depth": 6, ...): settings.json's "options" (a test checks it covers `--help`).
std::string train_options_json(const TrainConfig& c);

}  // namespace bend
