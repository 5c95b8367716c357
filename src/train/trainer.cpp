#include "bend/train/trainer.hpp"

#include <torch/torch.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <limits>
#include <memory>

#include <nlohmann/json.hpp>

#include "adamw.hpp"
#include "bend/core/alloc_tuning.hpp"
#include "bend/core/crc32c.hpp"
#include "batch_loader.hpp"
#include "bend/core/dir_lock.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"
#include "bend/core/stop.hpp"
#include "bend/dist/collective.hpp"
#include "bend/dist/comm.hpp"
#include "bend/dist/reducer.hpp"
#include "bend/train/dataset.hpp"
#include "bend/train/predictions.hpp"
#include "bend/train/results.hpp"
#include "checkpoint.hpp"
#include "head.hpp"
#include "losses.hpp"
#include "train_model.hpp"
// The compute device of a rank: the models' own choice (cuda:<local rank>, TF32 off), shared so
// `bend train --cuda` binds ranks to devices exactly as `bend embed --cuda` does.
#include "../models/torch_zoo.hpp"

namespace bend {

namespace {

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
void parallel_rows(int64_t n, const std::function<void(int64_t, int64_t)>& body) {
  at::parallel_for(0, n, 1, body);
}

// The model's logits for a batch, its inputs read in place in either BatchLoader layout (on CPU;
// copied to `device` otherwise).
torch::Tensor model_logits(TrainModel& model, Batch& b, const torch::Device& device) {
  torch::Tensor x = b.channels_first ? torch::from_blob(b.inputs.data(), {b.n, b.dim, b.max_len}, torch::kFloat32)
                                     : torch::from_blob(b.inputs.data(), {b.n, b.max_len, b.dim}, torch::kFloat32);
  return model.forward(device.is_cpu() ? x : x.to(device), b.channels_first, b.lengths);
}

// The baselines train end to end on `bend embed --model onehot` output; Basset on 512-bp rows.
void check_baseline_data(const TrainConfig& c, const SplitReader& r, const Sample& first) {
  if (c.model == "head") return;
  if (r.model() != "onehot") {
    fail("--model %s trains on one-hot data, but %s holds %s embeddings (embed the task with --model onehot; "
         "BEND reads data/<task>/onehot)", c.model.c_str(), c.data_dir.c_str(), r.model().c_str());
  }
  if (c.model == "basset-supervised" && first.length != 512) {
    fail("--model basset-supervised takes rows of exactly 512 bp (BEND's input_len); %s: BED row %lld has %lld",
         c.data_dir.c_str(), (long long)first.index, (long long)first.length);
  }
}

// Splits of the run: cross-validation folds or the named splits.
void choose_splits(const TrainConfig& c, std::vector<std::string>& tr, std::vector<std::string>& va,
                   std::vector<std::string>& te) {
  if (c.cv) {
    SplitNames s = cv_fold_splits(c.fold);
    tr = s.train;
    va = s.valid;
    te = s.test;
  } else {
    tr = c.train_splits;
    va = c.valid_splits;
    te = c.test_splits;
  }
}

// Labels each criterion accepts, checked on every record read (SplitReader::set_label_range).
void TrainRun::set_label_ranges() {
  const float big = std::numeric_limits<float>::max();
  float lo = 0, hi = big;
  bool integral = false;
  switch (loss_.criterion) {
    case Criterion::kCrossEntropy: hi = static_cast<float>(cfg_.n_out - 1); integral = true; break;
    case Criterion::kBCE: hi = 1; break;
    case Criterion::kPoisson: break;
    case Criterion::kMSE: lo = -big; break;
  }
  for (SplitReader* r : {train_.get(), valid_.get(), test_.get()}) r->set_label_range(lo, hi, integral);
}

void TrainRun::setup() {
  collective_check(comm_, "checking the training settings", [&] {
    validate_train_config(cfg_);
    std::vector<std::string> tr, va, te;
    choose_splits(cfg_, tr, va, te);
    train_ = std::make_unique<SplitReader>(cfg_.data_dir, tr);
    valid_ = std::make_unique<SplitReader>(cfg_.data_dir, va);
    test_ = std::make_unique<SplitReader>(cfg_.data_dir, te);
    head_cfg_ = {train_->dim(), cfg_.hidden, cfg_.kernel, cfg_.output_window, cfg_.n_out};
    loss_.criterion = parse_criterion(cfg_.criterion);
    set_label_ranges();
    loss_.class_weights = cfg_.class_weights;
    loss_.pos_weight = cfg_.pos_weight;
    if (cfg_.input_dim > 0 && cfg_.input_dim != train_->dim()) {
      fail("%s holds %s embeddings of dim %lld, the config expects --input-dim %lld", cfg_.data_dir.c_str(),
           train_->model().c_str(), (long long)train_->dim(), (long long)cfg_.input_dim);
    }
    Sample first;
    train_->read(RecordRef{0, 0}, first);
    check_baseline_data(cfg_, *train_, first);
    // Basset gives one output position per row, whatever --output-window says
    const int64_t window = cfg_.model == "basset-supervised" ? first.length : cfg_.output_window;
    DataExpectation want{train_->dim(), cfg_.n_out, loss_.criterion == Criterion::kCrossEntropy, window};
    check_compatible(*train_, first, want);
    int64_t n_pos = window > 0 ? first.length / window : first.length;
    label_matrix_ = loss_.criterion != Criterion::kCrossEntropy && n_pos == 1 && cfg_.n_out > 1;
    nlohmann::json j = nlohmann::json::parse(train_config_json(cfg_));
    nlohmann::json manifest = nlohmann::json::parse(read_file(path_join(cfg_.data_dir, "manifest.json")));
    j["data"] = manifest.value("params", nlohmann::json::object());
    config_json_ = j.dump();
    if (comm_.rank() == 0) {
      make_dirs(path_join(cfg_.out_dir, "checkpoints"));
      out_lock_ = std::make_unique<DirLock>(cfg_.out_dir, "bend train");
      auto join = [](const std::vector<std::string>& v) {
        std::string s;
        for (const std::string& x : v) s += (s.empty() ? "" : ",") + x;
        return s;
      };
      log_info("%s: %s embeddings, dim %lld; splits: train %s, valid %s, test %s (%lld/%lld/%lld records)",
               cfg_.data_dir.c_str(), train_->model().c_str(), (long long)train_->dim(), join(tr).c_str(),
               join(va).c_str(), join(te).c_str(), (long long)train_->n_records(), (long long)valid_->n_records(),
               (long long)test_->n_records());
      if (cfg_.cv) log_info("cross-validation fold %d: results in %s", cfg_.fold, cfg_.out_dir.c_str());
    }
  });
  torch::set_num_threads(cfg_.threads);
  tune_allocator_for_batches();
  collective_check(comm_, "choosing the compute device", [&] {
    device_ = zoo::select_torch_device("bend train", cfg_.use_cuda, comm_.local_rank());
  });
  if (device_.is_cuda()) {
    // Repeatable steps (resume gives the same weights): no atomics-based or autotuned kernels.
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
  }
  AdamW::Options o;
  o.lr = cfg_.lr;
  o.weight_decay = cfg_.weight_decay;
  make_head(o);
  if (comm_.rank() == 0 && cfg_.model != "head") {
    int64_t n_params = 0;
    for (const auto& p : model_->parameters()) n_params += p.second.numel();
    log_info("model %s: %lld parameters, trained end to end on %s%s", cfg_.model.c_str(), (long long)n_params,
             cfg_.data_dir.c_str(),
             cfg_.model == "resnet-supervised" ? " (ResNet kernel --kernel-size; head hidden 64, kernel 3, as BEND's "
                                                 "config merge builds it; --hidden-size is not used)" : "");
  }
#ifdef BEND_WITH_NCCL
  if (device_.is_cuda() && comm_.size() > 1) {
    collective_check(comm_, "starting NCCL", [&] { reducer_ = make_nccl_reducer(comm_, device_.index()); });
  }
#endif
  if (!reducer_) reducer_ = make_mpi_reducer(comm_);
  if (comm_.rank() == 0 && device_.is_cuda()) {
    log_info("training on %s per rank; gradients summed with %s", device_.str().c_str(), reducer_->name());
  }

  int last = 0;
  bool replaced = false;  // a checkpoint of other settings was loaded, then refused (--overwrite)
  collective_check(comm_, "resuming", [&] {
    last = latest_checkpoint_epoch(cfg_.out_dir);
    if (last == 0) return;
    // settings first: a checkpoint of another --model has other tensors
    CheckpointMeta meta = load_checkpoint_meta(checkpoint_path(cfg_.out_dir, last));
    if (meta.config_json == config_json_) {
      NamedTensors params = checkpoint_tensors();
      meta = load_checkpoint(checkpoint_path(cfg_.out_dir, last), params, opt_.get());
    }
    if (meta.config_json != config_json_) {
      if (!cfg_.overwrite) {
        fail("%s holds a run with other settings or data; use --overwrite to replace it, or another --out",
             cfg_.out_dir.c_str());
      }
      last = 0;  // start over: the old files are replaced as the new epochs are written
      replaced = true;
      return;
    }
    history_ = meta.history;
  });
  if (!replaced) collective_check(comm_, "resuming inside an epoch", [&] { resume_inside_epoch(last); });
  if (last > 0 && resume_step_ == 0 && comm_.rank() == 0) {
    log_info("resuming after epoch %d of %d from %s", last, cfg_.epochs, cfg_.out_dir.c_str());
  }
  if (replaced) {  // the refused checkpoint's tensors were loaded: start from the seed again
    make_head(o);
    if (comm_.rank() == 0) {
      for (const std::string& f : list_dir(path_join(cfg_.out_dir, "checkpoints"))) {
        remove_if_exists(path_join(path_join(cfg_.out_dir, "checkpoints"), f));
      }
      remove_if_exists(path_join(cfg_.out_dir, "losses.csv"));
    }
  }
  if (!replaced) check_finished();
  // accepted (new, resumed or --overwrite): record this run's settings, version and command line
  if (comm_.rank() == 0 && !finished_) {
    write_settings_json(cfg_.out_dir, train_options_json(cfg_), data_json());
  }
}

// A rerun of a finished training (every epoch saved, best_model_metrics.csv written) does
// nothing, unless it asks for predictions not saved yet (then the test step runs again).
void TrainRun::check_finished() {
  std::string flag = "0";
  if (comm_.rank() == 0 && !cfg_.test_only && static_cast<int>(history_.size()) >= cfg_.epochs &&
      path_exists(path_join(cfg_.out_dir, "best_model_metrics.csv"))) {
    const bool need_predictions = cfg_.save_predictions &&
                                  !path_exists(path_join(cfg_.out_dir, "test_predictions.npz"));
    flag = need_predictions ? "2" : "1";
    if (need_predictions) {
      log_info("%s: training finished before (%d epochs); testing the best epoch again to save its predictions",
               cfg_.out_dir.c_str(), (int)history_.size());
    }
  }
  comm_.bcast(flag, 0);
  finished_ = flag == "1";
}

// settings.json's "data": the embeddings trained on and a fingerprint of the shards read
// (CRC32C over "split file n_records crc32c" of every shard: any change of the data changes it).
std::string TrainRun::data_json() const {
  nlohmann::json manifest = nlohmann::json::parse(read_file(path_join(cfg_.data_dir, "manifest.json")));
  nlohmann::json j;
  j["dir"] = cfg_.data_dir;
  j["embedding_model"] = train_->model();
  j["dim"] = train_->dim();
  j["params"] = manifest.value("params", nlohmann::json::object());
  uint32_t crc = 0;
  int64_t n_shards = 0;
  const char* names[3] = {"train", "valid", "test"};
  SplitReader* readers[3] = {train_.get(), valid_.get(), test_.get()};
  for (int i = 0; i < 3; ++i) {
    for (const ShardInfo& sh : readers[i]->shards()) {
      const std::string file = sh.path.substr(sh.path.rfind('/') + 1);  // npos + 1 == 0
      std::string line = sh.split + " " + file + " " + std::to_string(sh.n_records) + " " +
                         strfmt("%08x", sh.crc32c) + "\n";
      crc = crc32c_extend(crc, line.data(), line.size());
      ++n_shards;
    }
    j["records"][names[i]] = readers[i]->n_records();
  }
  j["n_shards"] = n_shards;
  j["fingerprint"] = strfmt("crc32c:%08x", crc);
  return j.dump();
}

// The head seeded from cfg_.seed (drawn on the CPU, so every device starts from the same weights)
// on device_, and a fresh optimizer over its parameters.
void TrainRun::make_head(const AdamW::Options& o) {
  Comm* comm = &comm_;
  SumOverRanks sum;  // none for one rank: the models then skip their collectives
  if (comm_.size() > 1) sum = [comm](double* v, int64_t n) { comm->allreduce_sum(v, static_cast<int>(n)); };
  model_ = make_train_model(cfg_.model, head_cfg_, cfg_.seed, std::move(sum));
  if (!device_.is_cpu()) model_->to(device_);
  opt_ = std::make_unique<AdamW>(model_->parameters(), o);
}

// What a checkpoint holds of the model: its parameters, then its buffers (BatchNorm statistics).
NamedTensors TrainRun::checkpoint_tensors() {
  NamedTensors t = model_->parameters();
  for (auto& b : model_->buffers()) t.push_back(b);
  return t;
}

// Tells the model where this rank's rows of global batch `step` lie (dropout masks).
void TrainRun::set_train_step(int epoch, int64_t step) {
  const int64_t begin = (step - 1) * cfg_.batch_size;
  const int64_t n = std::min(cfg_.batch_size, train_->n_records() - begin);
  StepInfo info;
  info.seed = cfg_.seed;
  info.epoch = epoch;
  info.step = step;
  info.row_offset = rank_slice(0, n, comm_.rank(), comm_.size()).first;
  info.global_batch = cfg_.batch_size;
  model_->set_step(info);
}

// The global shape of a pass's first batch (GlobalPadding): one sum of its own; the later
// batches' shapes travel in each step's loss sum (peek_next).
void TrainRun::start_padding(BatchLoader& loader, GlobalPadding& padding, double* waited) {
  if (padding.n_values() == 0) return;
  std::vector<double> v(static_cast<size_t>(padding.n_values()));
  peek_next(loader, padding, v.data(), waited);
  comm_.allreduce_sum(v.data(), padding.n_values());
  padding.take(v.data());
}

// This rank's shape of the batch after the current one into v (GlobalPadding::put); the time
// spent waiting for the loader is added to *waited (training: time spent getting batches).
void TrainRun::peek_next(BatchLoader& loader, const GlobalPadding& padding, double* v, double* waited) {
  if (padding.n_values() == 0) return;
  const double t0 = wall_seconds();
  int64_t len = 0, label_len = 0;
  loader.peek_shape(len, label_len);
  if (waited) *waited += wall_seconds() - t0;
  padding.put(len, label_len, v);
}

torch::Tensor TrainRun::logits_of(Batch& b) {
  return model_logits(*model_, b, device_);
}

// A graceful stop inside epoch last+1 left a partial checkpoint: continue from its step.
void TrainRun::resume_inside_epoch(int last_epoch) {
  std::string path = partial_checkpoint_path(cfg_.out_dir);
  if (!path_exists(path)) return;
  CheckpointMeta meta = load_checkpoint_meta(path);
  if (meta.epoch != last_epoch + 1 || meta.epoch_step <= 0) return;  // stale: that epoch is saved
  if (meta.config_json != config_json_) {
    if (!cfg_.overwrite) {
      fail("%s holds a run with other settings or data; use --overwrite to replace it, or another --out",
           cfg_.out_dir.c_str());
    }
    return;  // replaced by the new epochs; removed when epoch 1 is saved
  }
  NamedTensors params = checkpoint_tensors();
  load_checkpoint(path, params, opt_.get());
  history_ = meta.history;
  resume_step_ = meta.epoch_step;
  resume_loss_sum_ = meta.epoch_loss_sum;
  if (comm_.rank() == 0) {
    log_info("resuming in epoch %d of %d after step %lld from %s", meta.epoch, cfg_.epochs,
             (long long)meta.epoch_step, path.c_str());
  }
}

// `n_ranks_asking` ranks reported a stop signal (their numbers sum to `signal_sum`); every rank
// sees the same sums after the allreduce, so all of them stop at the same step.
void TrainRun::note_stop(double n_ranks_asking, double signal_sum) {
  if (n_ranks_asking <= 0 || stop_signal_ != 0) return;
  int n = static_cast<int>(n_ranks_asking), sum = static_cast<int>(signal_sum);
  stop_signal_ = sum % n == 0 ? sum / n : stop_signal();  // mixed signals: name this rank's own
  if (stop_signal_ == 0) stop_signal_ = SIGTERM;
  if (comm_.rank() == 0) {
    log_info("stop requested by %s: stopping at the next step boundary and saving a checkpoint",
             signal_name(stop_signal_).c_str());
  }
}

void TrainRun::save_partial(int epoch, int64_t step, double loss_sum) {
  if (comm_.rank() != 0) return;
  CheckpointMeta meta;
  meta.epoch = epoch;
  meta.n_steps = opt_->n_steps();
  meta.history = history_;
  meta.config_json = config_json_;
  meta.epoch_step = step;
  meta.epoch_loss_sum = loss_sum;
  save_checkpoint(partial_checkpoint_path(cfg_.out_dir), checkpoint_tensors(), opt_.get(), meta);
}

// Every rank: once rank 0 has written its checkpoint, end the run with exit status 75.
void TrainRun::stop_now(const std::string& where) {
  comm_.barrier();  // no rank exits (and makes mpirun kill rank 0) before the checkpoint is written
  throw_run_stopped(strfmt("stopped by %s %s; run the same command again to resume",
                           signal_name(stop_signal_).c_str(), where.c_str()),
                    comm_.rank() == 0, stop_signal_);
}

torch::Tensor TrainRun::to_target(const Batch& b, int64_t n_pos) const {
  torch::Tensor lab = torch::from_blob(const_cast<float*>(b.labels.data()), b.label_shape, torch::kFloat32).clone();
  if (!device_.is_cpu()) lab = lab.to(device_);
  if (loss_.criterion == Criterion::kCrossEntropy) return lab.reshape({b.n, -1}).to(torch::kLong);  // [n, T]
  if (label_matrix_) return lab.reshape({b.n, 1, cfg_.n_out});                                     // [n, 1, C]
  return lab.reshape({b.n, n_pos, cfg_.n_out});                                                     // [n, T, C]
}

void TrainRun::sum_gradients() {
  if (comm_.size() == 1) return;
  // 1. Pack every gradient into one fused buffer where the reducer reads it (device memory for
  //    NCCL, host memory for MPI). 2. One allreduce. 3. Unpack into the gradients.
  torch::NoGradGuard no_grad;
  NamedTensors params = model_->parameters();
  int64_t total = 0;
  for (auto& p : params) total += p.second.numel();
  const torch::Device where = reducer_->device_buffers() ? device_ : torch::Device(torch::kCPU);
  torch::Tensor fused = torch::zeros({total}, torch::TensorOptions().dtype(torch::kFloat32).device(where));
  int64_t off = 0;
  for (auto& p : params) {
    const int64_t n = p.second.numel();
    if (p.second.grad().defined()) fused.narrow(0, off, n).copy_(p.second.grad().reshape({n}));
    off += n;
  }
  reducer_->sum(fused.data_ptr<float>(), total);
  off = 0;
  for (auto& p : params) {
    const int64_t n = p.second.numel();
    torch::Tensor g = fused.narrow(0, off, n).view(p.second.sizes());
    if (p.second.grad().defined()) {
      p.second.mutable_grad().copy_(g);
    } else {
      p.second.mutable_grad() = g.to(device_, /*non_blocking=*/false, /*copy=*/true);
    }
    off += n;
  }
}

// The loader of `epoch`'s training batches, reading from now on (from resume_step_ when
// resuming inside that epoch).
std::unique_ptr<BatchLoader> TrainRun::start_epoch_loader(int epoch) {
  std::vector<RecordRef> order = epoch_order(train_->records_per_shard(), cfg_.seed, epoch, cfg_.shuffle_buffer);
  return std::make_unique<BatchLoader>(*train_, std::move(order), cfg_.batch_size, comm_.rank(), comm_.size(),
                                       pool_, resume_step_, parallel_rows);
}

// One epoch (from resume_step_ when resuming inside it); returns the mean batch loss. A stop
// request ends it after the next optimizer step: partial checkpoint, then RunStopped.
double TrainRun::train_epoch(int epoch) {
  model_->set_training(true);
  int64_t first = resume_step_;
  std::unique_ptr<BatchLoader> started = std::move(next_loader_);
  if (!started || next_loader_epoch_ != epoch) started = start_epoch_loader(epoch);
  BatchLoader& loader = *started;
  double loss_total = first > 0 ? resume_loss_sum_ : 0;
  resume_step_ = 0;
  Batch b;
  int64_t step = first;
  data_s_ = 0;
  GlobalPadding padding(comm_.rank(), comm_.size());  // BEND's padding of the whole global batch
  start_padding(loader, padding, &data_s_);
  for (;;) {
    const double t_wait = wall_seconds();
    const bool more = loader.next(b);
    data_s_ += wall_seconds() - t_wait;
    if (!more) break;
    padding.pad(b);  // to the global batch's longest row, as BEND's one process pads it
    ++step;
    // loss sum, denominator over this global batch; ranks asking to stop, their signal numbers;
    // then the next batch's shape (GlobalPadding)
    std::vector<double> parts(static_cast<size_t>(4 + padding.n_values()), 0.0);
    parts[2] = stop_requested() ? 1.0 : 0.0;
    parts[3] = static_cast<double>(stop_signal());
    torch::Tensor sum;
    set_train_step(epoch, step);
    if (b.n == 0) model_->idle_forward();  // collectives the other ranks' forward makes (sync BN)
    if (b.n > 0) {
      torch::Tensor logits = logits_of(b);
      LossParts lp = loss_parts(logits, to_target(b, logits.size(1)), loss_);
      sum = lp.sum;
      parts[0] = sum.item<double>();
      parts[1] = lp.denom;
    }
    peek_next(loader, padding, parts.data() + 4, &data_s_);
    comm_.allreduce_sum(parts.data(), static_cast<int>(parts.size()));
    padding.take(parts.data() + 4);
    note_stop(parts[2], parts[3]);
    double batch_loss = parts[1] > 0 ? parts[0] / parts[1] : 0.0;
    if (!std::isfinite(batch_loss)) {
      throw CollectiveError(strfmt("epoch %d, step %lld of %lld: training loss is %g; lower --lr or check the "
                                   "embeddings in %s", epoch, (long long)step, (long long)loader.n_batches(),
                                   batch_loss, cfg_.data_dir.c_str()),
                            comm_.rank() == 0);
    }
    if (sum.defined() && parts[1] > 0) (sum / (parts[1] * cfg_.grad_accum)).backward();
    if (!sum.defined() && parts[1] > 0) model_->idle_backward();
    loss_total += batch_loss;
    if (step % cfg_.grad_accum == 0 || step == loader.n_batches()) {
      sum_gradients();
      opt_->step();
      opt_->zero_grad();
      if (stop_signal_ != 0 && step < loader.n_batches()) {  // the last step ends the epoch instead
        save_partial(epoch, step, loss_total);
        stop_now(strfmt("in epoch %d after step %lld of %lld (checkpoint %s)", epoch, (long long)step,
                        (long long)loader.n_batches(), partial_checkpoint_path(cfg_.out_dir).c_str()));
      }
    }
  }
  return step > 0 ? loss_total / step : 0.0;
}

void TrainRun::gather_outputs(EvalOutputs& out) {
  std::string mine;
  uint64_t n = out.y_true.size();
  const bool rows = !out.bed_row.empty();  // --save-predictions: each value's row and position too
  mine.append(reinterpret_cast<const char*>(&n), sizeof n);
  mine.append(reinterpret_cast<const char*>(out.y_true.data()), n * sizeof(float));
  mine.append(reinterpret_cast<const char*>(out.y_pred.data()), n * sizeof(float));
  if (rows) {
    mine.append(reinterpret_cast<const char*>(out.bed_row.data()), n * sizeof(int64_t));
    mine.append(reinterpret_cast<const char*>(out.position.data()), n * sizeof(int64_t));
  }
  std::vector<std::string> all = comm_.gather(mine, 0);
  out.y_true.clear();
  out.y_pred.clear();
  out.bed_row.clear();
  out.position.clear();
  for (const std::string& m : all) {  // rank order; metrics do not depend on row order
    uint64_t k = 0;
    std::memcpy(&k, m.data(), sizeof k);
    const float* t = reinterpret_cast<const float*>(m.data() + sizeof k);
    out.y_true.insert(out.y_true.end(), t, t + k);
    out.y_pred.insert(out.y_pred.end(), t + k, t + 2 * k);
    if (!rows) continue;
    std::vector<int64_t> r(2 * k);  // unaligned in the message: copy out
    std::memcpy(r.data(), m.data() + sizeof k + 2 * k * sizeof(float), 2 * k * sizeof(int64_t));
    out.bed_row.insert(out.bed_row.end(), r.begin(), r.begin() + k);
    out.position.insert(out.position.end(), r.begin() + k, r.end());
  }
}

EvalResult TrainRun::evaluate(SplitReader& reader, bool keep_rows) {
  model_->set_training(false);
  torch::NoGradGuard no_grad;
  BatchLoader loader(reader, sequential_order(reader.records_per_shard()), cfg_.batch_size, comm_.rank(),
                     comm_.size(), pool_, 0, parallel_rows);
  EvalResult r;
  r.out.matrix = label_matrix_;
  r.out.width = label_matrix_ ? cfg_.n_out : 1;
  Batch b;
  int64_t n_batches = 0;
  GlobalPadding padding(comm_.rank(), comm_.size());
  start_padding(loader, padding, nullptr);
  while (loader.next(b)) {
    padding.pad(b);
    ++n_batches;
    std::vector<double> parts(static_cast<size_t>(2 + padding.n_values()), 0.0);  // loss sum, denominator; next shape
    if (b.n > 0) {
      torch::Tensor logits = logits_of(b);
      torch::Tensor target = to_target(b, logits.size(1));
      LossParts lp = loss_parts(logits, target, loss_);
      parts[0] = lp.sum.item<double>();
      parts[1] = lp.denom;
      torch::Tensor pred = predictions(logits, loss_.criterion).to(torch::kCPU, torch::kFloat32);
      torch::Tensor tgt = target.to(torch::kCPU, torch::kFloat32);
      torch::Tensor keep = tgt != -100.0f;
      torch::Tensor yt = tgt.masked_select(keep).contiguous(), yp = pred.masked_select(keep).contiguous();
      r.out.y_true.insert(r.out.y_true.end(), yt.data_ptr<float>(), yt.data_ptr<float>() + yt.numel());
      r.out.y_pred.insert(r.out.y_pred.end(), yp.data_ptr<float>(), yp.data_ptr<float>() + yp.numel());
      if (keep_rows) {  // each kept value's BED row and index in its row's flattened labels
        torch::Tensor k = keep.reshape({b.n, -1}).contiguous();  // [n, values per row]
        const bool* kp = k.data_ptr<bool>();
        const int64_t per_row = k.size(1);
        for (int64_t i = 0; i < b.n; ++i) {
          for (int64_t j = 0; j < per_row; ++j) {
            if (!kp[i * per_row + j]) continue;
            r.out.bed_row.push_back(b.indices[i]);
            r.out.position.push_back(j);
          }
        }
      }
    }
    peek_next(loader, padding, parts.data() + 2, nullptr);
    comm_.allreduce_sum(parts.data(), static_cast<int>(parts.size()));
    padding.take(parts.data() + 2);
    r.loss += parts[1] > 0 ? parts[0] / parts[1] : 0.0;
  }
  if (n_batches > 0) r.loss /= n_batches;  // BEND: mean of the batch losses
  gather_outputs(r.out);
  if (keep_rows && comm_.rank() == 0) sort_outputs_by_row(r.out);  // the same order for any rank count
  if (comm_.rank() == 0) r.metrics = compute_metrics(cfg_.metric, r.out, cfg_.n_out);
  std::vector<double> m = r.metrics;
  std::string packed(reinterpret_cast<const char*>(m.data()), m.size() * sizeof(double));
  comm_.bcast(packed, 0);  // every rank agrees on the metric (best-epoch choice)
  r.metrics.assign(reinterpret_cast<const double*>(packed.data()),
                   reinterpret_cast<const double*>(packed.data()) + packed.size() / sizeof(double));
  return r;
}

void TrainRun::save_epoch(const EpochRecord& rec) {
  history_.push_back(rec);
  if (comm_.rank() != 0) return;
  CheckpointMeta meta;
  meta.epoch = rec.epoch;
  meta.n_steps = opt_->n_steps();
  meta.history = history_;
  meta.config_json = config_json_;
  save_checkpoint(checkpoint_path(cfg_.out_dir, rec.epoch), checkpoint_tensors(), opt_.get(), meta);
  write_losses_csv(path_join(cfg_.out_dir, "losses.csv"), cfg_.metric, history_);
  remove_if_exists(partial_checkpoint_path(cfg_.out_dir));  // superseded by this epoch
}

void TrainRun::train() {
  int start = static_cast<int>(history_.size()) + 1;
  for (int epoch = start; epoch <= cfg_.epochs && !cfg_.test_only; ++epoch) {
    double t0 = wall_seconds();
    EpochRecord rec;
    rec.epoch = epoch;
    rec.train_loss = train_epoch(epoch);  // a stop inside the epoch throws RunStopped
    const double train_s = wall_seconds() - t0;
    if (epoch < cfg_.epochs && stop_signal_ == 0) {  // read ahead while validating
      next_loader_ = start_epoch_loader(epoch + 1);
      next_loader_epoch_ = epoch + 1;
    }
    EvalResult val = evaluate(*valid_);
    rec.val_loss = val.loss;
    rec.val_metric = val.metrics.empty() ? std::nan("") : val.metrics[0];
    save_epoch(rec);
    if (comm_.rank() == 0) {
      log_info("epoch %d/%d: train_loss %.5f  val_loss %.5f  val_%s %.5f  (%.1f s; training %.2f s, "
               "%.2f rows/s, %.2f s of it getting batches)", epoch, cfg_.epochs, rec.train_loss, rec.val_loss,
               cfg_.metric.c_str(), rec.val_metric, wall_seconds() - t0, train_s,
               double(train_->n_records()) / train_s, data_s_);
    }
    if (stop_signal_ == 0) {  // a stop asked during validation or the last step: stop here
      double flags[2] = {stop_requested() ? 1.0 : 0.0, static_cast<double>(stop_signal())};
      comm_.allreduce_sum(flags, 2);
      note_stop(flags[0], flags[1]);
    }
    if (stop_signal_ != 0 && epoch < cfg_.epochs) {
      stop_now(strfmt("after epoch %d of %d (checkpoint %s)", epoch, cfg_.epochs,
                      checkpoint_path(cfg_.out_dir, epoch).c_str()));
    }
  }
}

void TrainRun::test() {
  if (history_.empty()) throw CollectiveError("no trained epoch to test in " + cfg_.out_dir, comm_.rank() == 0);
  const EpochRecord* best = nullptr;  // highest validation metric, first on ties, NaN skipped
  for (const EpochRecord& r : history_) {
    if (!std::isnan(r.val_metric) && (!best || r.val_metric > best->val_metric)) best = &r;
  }
  if (!best) best = &history_.back();
  comm_.barrier();  // rank 0 has finished writing every checkpoint
  NamedTensors params = checkpoint_tensors();
  load_checkpoint(checkpoint_path(cfg_.out_dir, best->epoch), params, nullptr);
  EvalResult t = evaluate(*test_, cfg_.save_predictions);
  if (comm_.rank() != 0) return;
  if (cfg_.save_predictions) {
    const std::string path = path_join(cfg_.out_dir, "test_predictions.npz");
    write_predictions_npz(path, t.out, loss_.criterion == Criterion::kCrossEntropy);
    log_info("test predictions of epoch %d (%zu values) -> %s", best->epoch, t.out.y_true.size(), path.c_str());
  }
  std::vector<std::string> header{"Epoch", "train_loss", "val_loss", "val_" + cfg_.metric};
  std::vector<std::string> cols = test_metric_columns(cfg_.metric, t.metrics.size());
  header.insert(header.end(), cols.begin(), cols.end());
  std::vector<std::string> row{std::to_string(best->epoch), format_double(best->train_loss),
                               format_double(best->val_loss), format_double(best->val_metric),
                               format_double(t.loss)};
  for (double v : t.metrics) row.push_back(format_double(v));
  write_csv_row(path_join(cfg_.out_dir, "best_model_metrics.csv"), header, row);
  log_info("test (best epoch %d by val_%s): test_loss %.5f  test_%s %.5f  -> %s", best->epoch,
           cfg_.metric.c_str(), t.loss, cfg_.metric.c_str(), t.metrics.empty() ? std::nan("") : t.metrics[0],
           path_join(cfg_.out_dir, "best_model_metrics.csv").c_str());
}

}  // namespace

void run_train(const TrainConfig& cfg, Comm& comm) {
  double t0 = wall_seconds();
  TrainConfig c = cfg;
  c.out_dir = cv_results_dir(cfg);  // --cv: one results directory per fold, out/fold<K>
  TrainRun run(c, comm);
  run.setup();
  if (run.finished()) {
    if (comm.rank() == 0) {
      log_info("%s: already finished (every epoch trained, best_model_metrics.csv written): nothing to do "
               "(--test-only tests the best epoch again; another --out trains again)", c.out_dir.c_str());
    }
    return;
  }
  run.train();
  run.test();
  int64_t rss = peak_rss_bytes();
  comm.allreduce_sum(&rss, 1);
  if (comm.rank() == 0) {
    log_info("done in %.1f s wall on %d rank%s; peak RSS %s (all ranks)", wall_seconds() - t0, comm.size(),
             comm.size() > 1 ? "s" : "", human_bytes(static_cast<double>(rss)).c_str());
  }
}

}  // namespace bend
