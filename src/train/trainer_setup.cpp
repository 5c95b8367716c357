// bend train: the run's settings, data, model and resume state (TrainRun, train_run.hpp).
#include "train_run.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include <torch/torch.h>
#include <csignal>
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

}  // namespace

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

}  // namespace bend
