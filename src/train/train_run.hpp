// TrainRun: one `bend train` run on every rank (setup and resume, the epochs, evaluation and the
// test of the best epoch). Private to src/train: trainer.cpp (the training loop), trainer_setup.cpp
// (settings, data, model and resume), trainer_eval.cpp (evaluation passes and the test).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adamw.hpp"
#include "batch_loader.hpp"
#include "bend/core/dir_lock.hpp"
#include "bend/dist/reducer.hpp"
#include "bend/train/dataset.hpp"
#include "bend/train/predictions.hpp"
#include "bend/train/results.hpp"
#include "bend/train/trainer.hpp"
#include "head.hpp"
#include "losses.hpp"
#include "train_model.hpp"

namespace bend {

class Comm;

// Loss and predictions of one evaluation pass over a split.
struct EvalResult {
  double loss = 0;
  EvalOutputs out;
  std::vector<double> metrics;  // [headline, details...]
};

class TrainRun {
 public:
  TrainRun(const TrainConfig& cfg, Comm& comm) : cfg_(cfg), comm_(comm) {}
  void setup();
  bool finished() const { return finished_; }
  void set_label_ranges();
  void train();
  void test();

 private:
  torch::Tensor to_target(const Batch& b, int64_t n_pos) const;
  double train_epoch(int epoch);
  std::unique_ptr<BatchLoader> start_epoch_loader(int epoch);
  void resume_inside_epoch(int last_epoch);
  void note_stop(double n_ranks_asking, double signal_sum);
  void save_partial(int epoch, int64_t step, double loss_sum);
  [[noreturn]] void stop_now(const std::string& where);
  EvalResult evaluate(SplitReader& reader, bool keep_rows = false);
  std::string data_json() const;
  void check_finished();
  void gather_outputs(EvalOutputs& out);
  void sum_gradients();
  void save_epoch(const EpochRecord& rec);
  torch::Tensor logits_of(Batch& b);
  void start_padding(BatchLoader& loader, GlobalPadding& padding, double* waited);
  void peek_next(BatchLoader& loader, const GlobalPadding& padding, double* v, double* waited);
  void make_head(const AdamW::Options& o);
  NamedTensors checkpoint_tensors();
  void set_train_step(int epoch, int64_t step);

  const TrainConfig& cfg_;
  Comm& comm_;
  std::unique_ptr<SplitReader> train_, valid_, test_;
  std::unique_ptr<DirLock> out_lock_;  // rank 0: no second bend train writes --out meanwhile
  HeadConfig head_cfg_;
  LossConfig loss_;
  torch::Device device_{torch::kCPU};  // CPU, or cuda:<local rank> with --cuda
  std::unique_ptr<TrainModel> model_;  // --model: BEND's head or a supervised baseline
  std::unique_ptr<AdamW> opt_;
  std::unique_ptr<GradReducer> reducer_;
  BatchPool pool_;  // batch buffers reused by every loader of the run
  std::string config_json_;
  std::vector<EpochRecord> history_;
  bool label_matrix_ = false;  // per-row labels [n, n_out] (multi-label tasks)
  bool finished_ = false;      // every epoch trained and tested before: nothing to do
  int64_t resume_step_ = 0;      // batches of the first epoch done before a graceful stop
  double resume_loss_sum_ = 0;   // the sum of their losses
  int stop_signal_ = 0;          // set on every rank at the same step once any rank asked to stop
  double data_s_ = 0;            // wall time of the last epoch's training steps spent in loader.next()
  // The next epoch's loader, started before validation so its first batches are read meanwhile
  // (declared last: destroyed before the reader and pool it uses).
  std::unique_ptr<BatchLoader> next_loader_;
  int next_loader_epoch_ = 0;
};


// BatchLoader's deferred copies and CRC checks, on the compute threads between steps.
void parallel_rows(int64_t n, const std::function<void(int64_t, int64_t)>& body);

// The model's logits for a batch, its inputs read in place in either BatchLoader layout (on CPU;
// copied to `device` otherwise).
torch::Tensor model_logits(TrainModel& model, Batch& b, const torch::Device& device);

}  // namespace bend
