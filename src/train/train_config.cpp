#include "bend/train/train_config.hpp"

#include <nlohmann/json.hpp>

#include "bend/core/cpu_limits.hpp"
#include "bend/core/error.hpp"
#include "bend/train/head_config.hpp"

namespace bend {

void validate_train_config(const TrainConfig& c) {
  if (c.data_dir.empty()) fail("--data is required (a bend embed output directory)");
  if (c.out_dir.empty()) fail("--out is required (where results go)");
  if (c.n_out < 1) fail("--label-depth must be at least 1 (outputs per position; got %lld)", (long long)c.n_out);
  if (c.model != "head" && c.model != "resnet-supervised" && c.model != "basset-supervised") {
    fail("unknown --model '%s' (valid: head, resnet-supervised, basset-supervised)", c.model.c_str());
  }
  if (c.epochs < 1) fail("--epochs must be at least 1 (got %d)", c.epochs);
  if (c.batch_size < 1) fail("--batch-size must be at least 1 (got %lld)", (long long)c.batch_size);
  if (c.grad_accum < 1) fail("--gradient-accumulation must be at least 1 (got %d)", c.grad_accum);
  if (c.shuffle_buffer < 1) fail("--shuffle-buffer must be at least 1 (got %lld)", (long long)c.shuffle_buffer);
  check_thread_count(c.threads, "--threads");
  if (!(c.lr > 0)) fail("--lr must be positive (got %g)", c.lr);
  if (c.weight_decay < 0) fail("--weight-decay must not be negative (got %g)", c.weight_decay);
  if (c.cv && (c.fold < 1 || c.fold > 10)) fail("--fold must be 1..10 with --cv (got %d)", c.fold);
  Criterion crit = parse_criterion(c.criterion);
  if (c.metric != "mcc" && c.metric != "auroc" && c.metric != "auprc" && c.metric != "pearsonr") {
    fail("unknown --metric '%s' (valid: mcc, auroc, auprc, pearsonr)", c.metric.c_str());
  }
  if (!c.class_weights.empty() && crit != Criterion::kCrossEntropy) {
    fail("--class-weights applies to cross_entropy only (criterion is %s)", c.criterion.c_str());
  }
  if (!c.class_weights.empty() && static_cast<int64_t>(c.class_weights.size()) != c.n_out) {
    fail("--class-weights has %zu values for %lld classes", c.class_weights.size(), (long long)c.n_out);
  }
  if (c.pos_weight != 0 && crit != Criterion::kBCE) fail("--pos-weight applies to bce only");
  if (c.metric == "mcc" && crit != Criterion::kCrossEntropy) fail("--metric mcc needs --criterion cross_entropy");
#ifndef BEND_WITH_CUDA
  // Refuse rather than silently train on the CPU.
  if (c.use_cuda) fail("--cuda: this bend was built without CUDA (see docs/cli.md)");
#endif
  HeadConfig h{1, c.hidden, c.kernel, c.output_window, c.n_out};
  validate_head_config(h);
}

std::string cv_results_dir(const TrainConfig& c) {
  if (!c.cv || c.out_dir.empty()) return c.out_dir;
  std::string leaf = "fold" + std::to_string(c.fold);
  std::string dir = c.out_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  size_t slash = dir.rfind('/');
  std::string last = slash == std::string::npos ? dir : dir.substr(slash + 1);
  if (last == leaf) return dir;
  return dir + "/" + leaf;
}

std::string train_config_json(const TrainConfig& c) {
  nlohmann::json j;
  j["train_splits"] = c.train_splits;
  j["valid_splits"] = c.valid_splits;
  j["test_splits"] = c.test_splits;
  j["cv"] = c.cv;
  j["fold"] = c.cv ? c.fold : 0;
  if (c.model != "head") j["model"] = c.model;  // absent for the head: its older checkpoints resume
  j["hidden"] = c.hidden;
  j["kernel"] = c.kernel;
  j["output_window"] = c.output_window;
  j["n_out"] = c.n_out;
  j["lr"] = c.lr;
  j["weight_decay"] = c.weight_decay;
  j["batch_size"] = c.batch_size;
  j["grad_accum"] = c.grad_accum;
  j["criterion"] = c.criterion;
  j["metric"] = c.metric;
  j["class_weights"] = c.class_weights;
  j["pos_weight"] = c.pos_weight;
  j["seed"] = c.seed;
  j["shuffle_buffer"] = c.shuffle_buffer;
  return j.dump();
}

std::string train_options_json(const TrainConfig& c) {
  nlohmann::json j;
  j["data"] = c.data_dir;
  j["out"] = c.out_dir;
  j["train-splits"] = c.train_splits;
  j["valid-splits"] = c.valid_splits;
  j["test-splits"] = c.test_splits;
  j["cv"] = c.cv;
  j["fold"] = c.fold;
  j["model"] = c.model;
  j["hidden-size"] = c.hidden;
  j["kernel-size"] = c.kernel;
  j["output-window"] = c.output_window;
  j["label-depth"] = c.n_out;
  j["input-dim"] = c.input_dim;
  j["lr"] = c.lr;
  j["weight-decay"] = c.weight_decay;
  j["epochs"] = c.epochs;
  j["batch-size"] = c.batch_size;
  j["gradient-accumulation"] = c.grad_accum;
  j["criterion"] = c.criterion;
  j["metric"] = c.metric;
  j["class-weights"] = c.class_weights;
  j["pos-weight"] = c.pos_weight;
  j["seed"] = c.seed;
  j["shuffle-buffer"] = c.shuffle_buffer;
  j["threads"] = c.threads;
  j["cuda"] = c.use_cuda;
  j["overwrite"] = c.overwrite;
  j["test-only"] = c.test_only;
  j["save-predictions"] = c.save_predictions;
  return j.dump();
}

}  // namespace bend
