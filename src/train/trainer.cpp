#include "bend/train/trainer.hpp"

#include "train_run.hpp"

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

namespace bend {

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
