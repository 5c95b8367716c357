// `bend bench forward`: the pure batched forward of an Embedder, no I/O: random ACGT sequences
// are tokenized once, then the same batch is embedded until --seconds have passed. The
// "pure forward" reference that `bend embed` is compared with (tools/bench/run_bench.py).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/core/log.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/train/bench_train.hpp"
#include "commands.hpp"
#include "torch_exec.hpp"

namespace bend {

namespace {

// What `bend bench forward` was given.
struct BenchForwardArgs {
  EmbedderOptions model;
  int64_t len_bp = 512;
  int64_t batch_rows = 8;
  double seconds = 10.0;  // minimum measured time, after one warm-up batch
  uint64_t seed = 1;
};

// splitmix64: a tiny seeded generator, the same on every machine.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void run_bench_forward(const BenchForwardArgs& a) {
  if (a.len_bp < 1) fail("bend bench forward: --len must be >= 1 (got %lld)", (long long)a.len_bp);
  if (a.batch_rows < 1) fail("bend bench forward: --batch must be >= 1 (got %lld)", (long long)a.batch_rows);
  if (a.seconds < 0) fail("bend bench forward: --seconds must be >= 0 (got %g)", a.seconds);
  std::unique_ptr<Embedder> model = make_embedder(a.model);

  uint64_t state = a.seed;
  std::vector<std::vector<int32_t>> ids(static_cast<size_t>(a.batch_rows));
  std::vector<const std::vector<int32_t>*> batch;
  std::vector<int64_t> len_bp(static_cast<size_t>(a.batch_rows), a.len_bp);
  std::string seq(static_cast<size_t>(a.len_bp), 'A');
  for (auto& row : ids) {
    for (char& c : seq) c = "ACGT"[next_random(state) & 3];
    model->tokenize(seq, row);
    batch.push_back(&row);
  }
  std::vector<std::vector<float>> out;
  model->embed(batch, len_bp, out);  // warm-up: allocations, kernel selection

  const double t0 = wall_seconds(), cpu0 = cpu_seconds();
  int64_t n_batches = 0;
  double wall_s = 0;
  do {
    model->embed(batch, len_bp, out);
    n_batches++;
    wall_s = wall_seconds() - t0;
  } while (wall_s < a.seconds);
  const double cpu_s = cpu_seconds() - cpu0;
  const double n_nt = double(n_batches) * double(a.batch_rows) * double(a.len_bp);
  std::printf(
      "bend bench forward: model %s, len %lld bp, batch %lld, threads %d: %lld batches (%.0f nt) "
      "in %.3f s wall, %.3f s CPU: nt_per_s=%.1f\n",
      model->name().c_str(), (long long)a.len_bp, (long long)a.batch_rows, a.model.n_threads,
      (long long)n_batches, n_nt, wall_s, cpu_s, n_nt / wall_s);
}

#ifdef BEND_TORCH_BUILD
void run_bench_train(const TrainBenchSettings& s, const std::string& criterion) {
  TrainBenchSettings t = s;
  t.loss.criterion = parse_criterion(criterion);
  TrainBenchResult r = bench_train_steps(t);
  std::printf(
      "bend bench train: head input %lldx%lld, hidden %lld, kernel %lld, window %lld, %lld outputs (%s), "
      "batch %lld, threads %d: %lld steps in %.3f s: rows_per_s=%.1f\n",
      (long long)t.len, (long long)t.head.input_dim, (long long)t.head.hidden, (long long)t.head.kernel,
      (long long)t.head.output_window, (long long)t.head.n_out, criterion.c_str(), (long long)t.batch_rows,
      t.threads, (long long)r.steps, r.wall_s, r.rows_per_s);
}
#endif

}  // namespace

void add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchForwardArgs>();
  CLI::App* bench = app.add_subcommand("bench", "Micro-benchmarks (see docs/benchmarks.md)");
  bench->require_subcommand(1);
  CLI::App* c = bench->add_subcommand(
      "forward", "Time the batched forward of a model on random ACGT tokens, no I/O; prints nt/s");
  c->add_option("--model", a->model.model, "Model name (see `bend models`)")->required();
  c->add_option("--checkpoint", a->model.checkpoint_dir, "Model directory (config.json, model.safetensors)");
  c->add_option("--len", a->len_bp, "Sequence length in bp")->capture_default_str();
  c->add_option("--batch", a->batch_rows, "Sequences per forward batch")->capture_default_str();
  c->add_option("--threads", a->model.n_threads, "Compute (intra-op) threads")->capture_default_str();
  c->add_option("--seconds", a->seconds, "Minimum measured time after one warm-up batch")
      ->capture_default_str();
  c->add_option("--seed", a->seed, "Seed of the random sequences")->capture_default_str();
  c->add_flag("--cuda", a->model.use_cuda, "Run the model on CUDA device 0");
  c->callback([a] {
    if (!kTorchBuild && !has_embedder(a->model.model)) exec_torch_binary("bend bench forward");
    run_bench_forward(*a);
  });

  auto t = std::make_shared<TrainBenchSettings>();
  auto criterion = std::make_shared<std::string>("bce");
  CLI::App* tr = bench->add_subcommand(
      "train", "Time BEND head training steps (forward, loss, backward, AdamW) on in-memory random batches");
  tr->add_option("--input-dim", t->head.input_dim, "Embedding dim of the inputs")->required();
  tr->add_option("--len", t->len, "Positions per row")->capture_default_str();
  tr->add_option("--batch", t->batch_rows, "Rows per step")->capture_default_str();
  tr->add_option("--hidden-size", t->head.hidden, "Head channels")->capture_default_str();
  tr->add_option("--kernel-size", t->head.kernel, "Head convolution width")->capture_default_str();
  tr->add_option("--output-window", t->head.output_window, "Average-pool window (0: per position)")
      ->capture_default_str();
  tr->add_option("--label-depth", t->head.n_out, "Outputs per position")->required();
  tr->add_option("--criterion", *criterion, "bce | cross_entropy")->capture_default_str();
  tr->add_option("--lr", t->lr, "AdamW learning rate")->capture_default_str();
  tr->add_option("--threads", t->threads, "Compute threads")->capture_default_str();
  tr->add_option("--seconds", t->min_seconds, "Minimum measured time after one warm-up step")
      ->capture_default_str();
  tr->add_option("--seed", t->seed, "Seed of the weights and batches")->capture_default_str();
  tr->callback([t, criterion] { BEND_RUN_WITH_TORCH("bend bench train", run_bench_train(*t, *criterion)); });
}

}  // namespace bend
