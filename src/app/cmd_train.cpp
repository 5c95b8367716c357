// `bend train`: options -> TrainConfig -> run_train on every rank of the MPI job.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "bend/core/error.hpp"
#include "bend/core/log.hpp"
#include "bend/dist/comm.hpp"
#include "bend/train/trainer.hpp"
#include "cli_paths.hpp"
#include "commands.hpp"
#include "stop_exit.hpp"
#include "torch_exec.hpp"

namespace bend {

#ifdef BEND_TORCH_BUILD
static void run_train_command(const TrainConfig& c) {
  Comm comm;
  install_stop_handlers();  // SIGTERM/SIGINT/SIGUSR1: checkpoint at the next step, exit 75
  set_log_rank(comm.size() > 1 ? comm.rank() : -1);
  try {
    run_train(c, comm);
  } catch (const CollectiveError&) {
    throw;  // every rank knows (RunStopped too); main() prints it on rank 0 only
  } catch (const std::exception& e) {
    if (comm.size() == 1) throw;
    std::fprintf(stderr, "bend train: error (rank %d): %s\n", comm.rank(), e.what());
    std::fflush(stderr);
    comm.abort(1);
  }
}
#endif

void add_train_command(CLI::App& app) {
  auto c = std::make_shared<TrainConfig>();
  CLI::App* t = app.add_subcommand("train", "Train BEND's supervised head on stored embeddings (data parallel)");
  t->add_option("--data", c->data_dir, "bend embed output directory (manifest.json + shards or HDF5 files)")
      ->required();
  t->add_option("--out", c->out_dir, "Results directory (checkpoints/, losses.csv, best_model_metrics.csv, settings.json)")
      ->required();
  t->add_option("--model", c->model,
                "head (BEND's head on the embeddings) | resnet-supervised | basset-supervised (baselines trained "
                "end to end on onehot data)")
      ->check(CLI::IsMember({"head", "resnet-supervised", "basset-supervised"}))
      ->capture_default_str();
  t->add_option("--train-splits", c->train_splits, "Training splits")->delimiter(',')->capture_default_str();
  t->add_option("--valid-splits", c->valid_splits, "Validation splits")->delimiter(',')->capture_default_str();
  t->add_option("--test-splits", c->test_splits, "Test splits")->delimiter(',')->capture_default_str();
  t->add_flag("--cv", c->cv, "BEND's 10-fold cross-validation over part1..part10 (see --fold)");
  t->add_option("--fold", c->fold,
                "With --cv: test part<fold>, validate part<fold+1>; results in <out>/fold<fold>")
      ->capture_default_str();
  t->add_option("--hidden-size", c->hidden, "Head channels")->capture_default_str();
  t->add_option("--kernel-size", c->kernel, "Head convolution width (odd)")->capture_default_str();
  t->add_option("--output-window", c->output_window, "Average-pool window over positions (0: none)")
      ->capture_default_str();
  t->add_option("--label-depth", c->n_out, "Outputs per position: classes (cross_entropy) or labels")->required();
  t->add_option("--input-dim", c->input_dim, "Expected embedding dim (0: from the data)")->capture_default_str();
  t->add_option("--lr", c->lr, "AdamW learning rate")->capture_default_str();
  t->add_option("--weight-decay", c->weight_decay, "AdamW weight decay")->capture_default_str();
  t->add_option("--epochs", c->epochs, "Epochs")->capture_default_str();
  t->add_option("--batch-size", c->batch_size, "Global batch size (split across ranks)")->capture_default_str();
  t->add_option("--gradient-accumulation", c->grad_accum, "Batches per optimizer step")->capture_default_str();
  t->add_option("--criterion", c->criterion, "cross_entropy | bce | poisson | mse")
      ->check(CLI::IsMember({"cross_entropy", "bce", "poisson", "mse"}))
      ->capture_default_str();
  t->add_option("--metric", c->metric, "mcc | auroc | auprc | pearsonr")
      ->check(CLI::IsMember({"mcc", "auroc", "auprc", "pearsonr"}))
      ->capture_default_str();
  t->add_option("--class-weights", c->class_weights, "Cross-entropy class weights")->delimiter(',');
  t->add_option("--pos-weight", c->pos_weight, "BCE positive-class weight (0: none)")->capture_default_str();
  t->add_option("--seed", c->seed, "Seed of the head's weights and the data order")->capture_default_str();
  t->add_option("--shuffle-buffer", c->shuffle_buffer, "Records in the shuffle buffer")->capture_default_str();
  t->add_option("--threads", c->threads, "Compute threads per rank")->capture_default_str();
  t->add_flag("--cuda", c->use_cuda, "Refused for now: bend train runs on CPU ranks (docs/cli.md)");
  t->add_flag("--overwrite", c->overwrite, "Replace results trained with other settings");
  t->add_flag("--test-only", c->test_only, "Only evaluate the best saved epoch on the test split");
  t->add_flag("--save-predictions", c->save_predictions,
              "Also write the best epoch's test predictions, labels and BED rows to test_predictions.npz");
  t->callback([c] {
    require_path("--data", c->data_dir, PathKind::kDirectory);
    BEND_RUN_WITH_TORCH("bend train", run_stoppable([&] { run_train_command(*c); }));
  });
}

}  // namespace bend
