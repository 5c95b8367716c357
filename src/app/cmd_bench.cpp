// `bend bench forward`: the pure batched forward of an Embedder, no I/O: random ACGT sequences
// (or the lines of --seqs) are tokenized once, then the same batch is embedded until --seconds
// have passed. The "pure forward" reference that `bend embed` is compared with, and what the
// python3-torch references are timed against (tools/bench/run_bench.py, --dump-tokens and
// --dump-output give them the same inputs and bend's outputs).
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/dist/comm.hpp"
#include "bend/train/bench_train.hpp"
#include "cli_paths.hpp"
#include "commands.hpp"
#include "run_options.hpp"
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
  std::string seqs_path;         // one sequence per line: the batch (replaces --len/--batch)
  std::string dump_tokens_path;  // tokenize()'s ids of each row, one line per row
  std::string dump_output_path;  // the warm-up batch's outputs, float32 rows concatenated
};

// splitmix64: a tiny seeded generator, the same on every machine.
uint64_t next_random(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The batch: the non-empty lines of --seqs, or --batch random ACGT sequences of --len bp.
std::vector<std::string> bench_sequences(const BenchForwardArgs& a) {
  std::vector<std::string> seqs;
  if (!a.seqs_path.empty()) {
    const std::string text = read_file(a.seqs_path);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(pos, end - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) seqs.push_back(line);
      pos = end + 1;
    }
    if (seqs.empty())
      fail("bend bench forward: %s: no sequences (one per line expected)", a.seqs_path.c_str());
    return seqs;
  }
  if (a.len_bp < 1) fail("bend bench forward: --len must be >= 1 (got %lld)", (long long)a.len_bp);
  if (a.batch_rows < 1) fail("bend bench forward: --batch must be >= 1 (got %lld)", (long long)a.batch_rows);
  uint64_t state = a.seed;
  seqs.assign(static_cast<size_t>(a.batch_rows), std::string(static_cast<size_t>(a.len_bp), 'A'));
  for (std::string& seq : seqs) {
    for (char& c : seq) c = "ACGT"[next_random(state) & 3];
  }
  return seqs;
}

// --dump-tokens / --dump-output: the inputs and outputs of one batch, for a reference to check.
void write_bench_dumps(const BenchForwardArgs& a, const std::vector<std::vector<int32_t>>& ids,
                       const std::vector<std::vector<float>>& out) {
  if (!a.dump_tokens_path.empty()) {
    std::string text;
    for (const auto& row : ids) {
      for (size_t i = 0; i < row.size(); i++) text += (i ? " " : "") + std::to_string(row[i]);
      text += "\n";
    }
    write_file_atomic(a.dump_tokens_path, text);
  }
  if (!a.dump_output_path.empty()) {
    std::string bytes;
    for (const auto& row : out)
      bytes.append(reinterpret_cast<const char*>(row.data()), row.size() * sizeof(float));
    write_file_atomic(a.dump_output_path, bytes);
  }
}

void run_bench_forward(const BenchForwardArgs& a) {
  if (a.seconds < 0) fail("bend bench forward: --seconds must be >= 0 (got %g)", a.seconds);
  const std::vector<std::string> seqs = bench_sequences(a);
  std::unique_ptr<Embedder> model = make_embedder(a.model);

  std::vector<std::vector<int32_t>> ids(seqs.size());
  std::vector<const std::vector<int32_t>*> batch;
  std::vector<int64_t> len_bp;
  double batch_nt = 0;
  for (size_t i = 0; i < seqs.size(); i++) {
    model->tokenize(seqs[i], ids[i]);
    batch.push_back(&ids[i]);
    len_bp.push_back(int64_t(seqs[i].size()));
    batch_nt += double(seqs[i].size());
  }
  std::vector<std::vector<float>> out;
  model->embed(batch, len_bp, out);  // warm-up: allocations, kernel selection
  write_bench_dumps(a, ids, out);

  const double t0 = wall_seconds(), cpu0 = cpu_seconds();
  int64_t n_batches = 0;
  double wall_s = 0;
  do {
    model->embed(batch, len_bp, out);
    n_batches++;
    wall_s = wall_seconds() - t0;
  } while (wall_s < a.seconds);
  const double cpu_s = cpu_seconds() - cpu0;
  const double n_nt = double(n_batches) * batch_nt;
  std::printf(
      "bend bench forward: model %s, %.0f nt in %lld rows per batch, threads %d: %lld batches "
      "(%.0f nt) in %.3f s wall, %.3f s CPU: nt_per_s=%.1f\n",
      model->name().c_str(), batch_nt, (long long)seqs.size(), a.model.n_threads,
      (long long)n_batches, n_nt, wall_s, cpu_s, n_nt / wall_s);
}

#ifdef BEND_TORCH_BUILD
void run_bench_allreduce(const AllreduceBenchSettings& s) {
  Comm comm;
  AllreduceBenchResult r = bench_allreduce(s, comm);
  if (comm.rank() != 0) return;
  std::printf(
      "bend bench allreduce: %s, %d ranks, %.1f MiB float32 per rank, %d sums: %.3f ms per sum: "
      "algbw_gb_s=%.2f busbw_gb_s=%.2f\n",
      r.reducer.c_str(), r.n_ranks, s.mib, s.iters, 1000.0 * r.seconds_per_sum, r.algbw_gb_s, r.busbw_gb_s);
}

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

void run_bench_load(const LoadBenchSettings& s) {
  LoadBenchResult r = bench_load_batches(s);
  if (r.batches == 0) fail("bend bench load: %s: split %s has no records", s.data_dir.c_str(), s.split.c_str());
  const double mib = double(r.input_bytes) / (1024.0 * 1024.0);
  std::printf(
      "bend bench load: %s split %s, batch %lld, %d passes: %lld batches (%.0f MiB of inputs) in %.3f s wall, "
      "%.3f s CPU: ms_cpu_per_batch=%.2f mib_per_cpu_s=%.0f\n",
      s.data_dir.c_str(), s.split.c_str(), (long long)s.batch_rows, s.passes, (long long)r.batches, mib,
      r.wall_s, r.cpu_s, 1000.0 * r.cpu_s / double(r.batches), mib / r.cpu_s);
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
  c->add_option("--seqs", a->seqs_path,
                "Text file, one sequence per line: the batch (replaces --len, --batch)");
  c->add_option("--dump-tokens", a->dump_tokens_path,
                "Write each row's token ids (one line per row)");
  c->add_option("--dump-output", a->dump_output_path,
                "Write the outputs of one batch (float32, rows in order)");
  c->add_flag("--cuda", a->model.use_cuda, "Run the model on CUDA device 0 (builds with CUDA only)");
  add_precision_option(c, a->model.precision);
  add_rules_option(c, a->model.rules);
  c->callback([a] {
    require_path("--checkpoint", a->model.checkpoint_dir, PathKind::kDirectory);
    require_path("--seqs", a->seqs_path, PathKind::kFile);
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
  tr->add_option("--criterion", *criterion, "bce | cross_entropy")
      ->check(CLI::IsMember({"bce", "cross_entropy"}))
      ->capture_default_str();
  tr->add_option("--lr", t->lr, "AdamW learning rate")->capture_default_str();
  tr->add_option("--threads", t->threads, "Compute threads")->capture_default_str();
  tr->add_option("--seconds", t->min_seconds, "Minimum measured time after one warm-up step")
      ->capture_default_str();
  tr->add_option("--seed", t->seed, "Seed of the weights and batches")->capture_default_str();
  tr->callback([t, criterion] { BEND_RUN_WITH_TORCH("bend bench train", run_bench_train(*t, *criterion)); });

  auto ar = std::make_shared<AllreduceBenchSettings>();
  CLI::App* arc = bench->add_subcommand(
      "allreduce", "Time bend train's gradient sum over all ranks (MPI, or NCCL with --cuda) on one fused buffer");
  arc->add_option("--mib", ar->mib, "Buffer size per rank, MiB of float32")->capture_default_str();
  arc->add_option("--iters", ar->iters, "Timed sums after one checked sum (1-30)")->capture_default_str();
  arc->add_flag("--cuda", ar->use_cuda, "Device buffers on this rank's CUDA device (as bend embed --cuda), summed by NCCL");
  arc->callback([ar] { BEND_RUN_WITH_TORCH("bend bench allreduce", run_bench_allreduce(*ar)); });

  auto l = std::make_shared<LoadBenchSettings>();
  CLI::App* ld = bench->add_subcommand(
      "load", "Time bend train's data loading alone (read, check, decode, collate) over one split");
  ld->add_option("--data", l->data_dir, "A `bend embed` output directory")->required();
  ld->add_option("--split", l->split, "Split to read")->capture_default_str();
  ld->add_option("--batch", l->batch_rows, "Rows per batch")->capture_default_str();
  ld->add_option("--shuffle-buffer", l->shuffle_buffer, "As bend train's")->capture_default_str();
  ld->add_option("--passes", l->passes, "Timed passes over the split (after one warm-up pass)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ld->add_option("--seed", l->seed, "Seed of the epoch orders")->capture_default_str();
  ld->callback([l] {
    require_path("--data", l->data_dir, PathKind::kDirectory);
    BEND_RUN_WITH_TORCH("bend bench load", run_bench_load(*l));
  });
}

}  // namespace bend
