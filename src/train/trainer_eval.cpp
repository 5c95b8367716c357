// bend train: evaluation passes over a split and the test of the best epoch (TrainRun, train_run.hpp).
#include "train_run.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include <torch/torch.h>
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

}  // namespace bend
