// `bend genome`: options -> GenomeParams -> run_genome on every rank of the MPI job.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "bend/core/log.hpp"
#include "bend/dist/comm.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/pipeline/genome_run.hpp"
#include "cli_paths.hpp"
#include "commands.hpp"
#include "run_options.hpp"
#include "stop_exit.hpp"
#include "torch_exec.hpp"

namespace bend {

void add_genome_command(CLI::App& app) {
  auto p = std::make_shared<GenomeParams>();
  CLI::App* c = app.add_subcommand("genome", "Embed a whole genome, chosen sequences or BED regions in windows (TFRecord shards or genome.h5)");
  c->add_option("--genome", p->genome_path, "Reference FASTA (plain or bgzip; .fai/.gzi built if missing)")
      ->required();
  c->add_option("--chroms", p->chroms, "Only these sequences (default: all)")->delimiter(',');
  c->add_option("--regions", p->regions_path, "BED3+ of regions to tile instead of whole sequences");
  c->add_option("--window", p->window_bp, "Window length in bp")->capture_default_str();
  c->add_option("--stride", p->stride_bp, "Distance between window starts in bp (default: --window)");
  c->add_option("--max-n", p->max_n, "Skip windows whose fraction of N is larger than this")->capture_default_str();
  c->add_option("--reduce", p->reduce, "none | mean (one vector per window) | bin:N (mean per N bp)")
      ->capture_default_str();
  c->add_option("--model", p->model.model, "Model name (see `bend models`)")->required();
  c->add_option("--checkpoint", p->model.checkpoint_dir, "Model directory: config.json + model.safetensors (+ tokenizer)");
  c->add_option("--output", p->model.output, "hidden | logits | loss (as bend embed --output)")
      ->capture_default_str();
  c->add_option("--tokenizer", p->model.tokenizer, "Tokenizer kind for --model torchscript (overrides torchscript.json)");
  c->add_option("--out", p->out_dir, "Output directory for shards and manifest.json")->required();
  c->add_option("--shard-windows", p->shard_windows, "Windows per shard file")->capture_default_str();
  c->add_option("--batch-nt", p->batch_nt, "Token budget per forward batch (rows x longest)")->capture_default_str();
  c->add_option("--threads", p->model.n_threads, "Compute threads per rank")->capture_default_str();
  c->add_option("--dtype", p->dtype, "Stored dtype: float32 | float16 | bfloat16")
      ->check(CLI::IsMember({"float32", "float16", "bfloat16"}))
      ->capture_default_str();
  c->add_option("--compression", p->compression, "Shard compression: none | zlib | gzip")
      ->check(CLI::IsMember({"none", "zlib", "gzip"}))
      ->capture_default_str();
  c->add_option("--compression-level", p->compression_level, "zlib level 1-9")->capture_default_str();
  c->add_option("--format", p->format, "Output: tfrecord (shard files) | hdf5 (one parallel HDF5 file, genome.h5)")
      ->check(CLI::IsMember({"tfrecord", "hdf5"}))
      ->capture_default_str();
  c->add_flag("--token-level", p->token_level,
              "Store one vector per token plus its nucleotide span (not with --reduce)");
  c->add_flag("--overwrite", p->overwrite, "Replace output written with different parameters");
  c->add_flag("--force", p->force, "Start even when the output file system lacks the planned space");
  c->add_flag("--cuda", p->model.use_cuda, "Run the model on the CUDA device of this local rank");
  add_precision_option(c, p->model.precision);
  add_rules_option(c, p->model.rules);
  add_progress_options(c, p->progress, p->progress_interval_s);
  c->callback([p] {
    require_path("--genome", p->genome_path, PathKind::kFile);
    require_path("--regions", p->regions_path, PathKind::kFile);
    require_path("--checkpoint", p->model.checkpoint_dir, PathKind::kDirectory);
    // before MPI starts: a LibTorch model runs in bend-torch (torch_exec.hpp)
    if (!kTorchBuild && !has_embedder(p->model.model)) exec_torch_binary("bend genome --model");
    run_stoppable([&] {
      run_on_every_rank("bend genome", [&](Comm& comm) { run_genome(*p, comm); });
    });
  });
}

}  // namespace bend
