// `bend embed`: options -> EmbedParams -> run_embed on every rank of the MPI job.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "bend/core/log.hpp"
#include "bend/dist/comm.hpp"
#include "bend/pipeline/embed_run.hpp"
#include "bend/embed/embedder.hpp"
#include "cli_paths.hpp"
#include "commands.hpp"
#include "run_options.hpp"
#include "stop_exit.hpp"
#include "torch_exec.hpp"

namespace bend {

void add_embed_command(CLI::App& app) {
  auto p = std::make_shared<EmbedParams>();
  CLI::App* c = app.add_subcommand("embed", "Embed a task's BED regions with a model into TFRecord shards or HDF5 files (--format)");
  c->add_option("--bed", p->bed_path, "Task BED file (BEND layout with header and split column, or BED3/BED6)")
      ->required();
  c->add_option("--genome", p->genome_path, "Reference FASTA (plain or bgzip; .fai/.gzi built if missing)")
      ->required();
  c->add_option("--labels", p->labels_path, "HDF5 labels file (default: the label column, or <bed stem>.hdf5)");
  c->add_option("--labels-dataset", p->labels_dataset, "Dataset name in the HDF5 labels file")->capture_default_str();
  c->add_option("--label-depth", p->label_depth, "Number of classes of the label column (multi-hot width)");
  c->add_flag("--read-strand", p->read_strand, "Reverse-complement rows on the '-' strand");
  c->add_option("--flank", p->flank_bp, "Extend every region by this many bp on both sides")->capture_default_str();
  c->add_option("--model", p->model.model, "Model name (see `bend models`)")->required();
  c->add_option("--checkpoint", p->model.checkpoint_dir, "Model directory: config.json + model.safetensors (+ tokenizer)");
  c->add_option("--output", p->model.output,
                "hidden (last hidden state) | logits (LM head, dim = vocabulary) | loss (per-token "
                "cross-entropy of the input, dim 1)")
      ->capture_default_str();
  c->add_option("--tokenizer", p->model.tokenizer, "Tokenizer kind for --model torchscript (overrides torchscript.json)");
  c->add_option("--out", p->out_dir, "Output directory for shards and manifest.json")->required();
  c->add_option("--splits", p->splits, "Only these splits (default: all in the BED)")->delimiter(',');
  c->add_option("--shard-rows", p->shard_rows, "BED rows per shard file")->capture_default_str();
  c->add_option("--batch-nt", p->batch_nt, "Token budget per forward batch (rows x longest)")->capture_default_str();
  c->add_option("--threads", p->model.n_threads, "Compute threads per rank")->capture_default_str();
  c->add_option("--dtype", p->dtype, "Stored dtype: float32 | float16 | bfloat16")
      ->check(CLI::IsMember({"float32", "float16", "bfloat16"}))
      ->capture_default_str();
  c->add_option("--compression", p->compression, "Shard compression: none | zlib | gzip (TFRecordOptions)")
      ->check(CLI::IsMember({"none", "zlib", "gzip"}))
      ->capture_default_str();
  c->add_option("--compression-level", p->compression_level, "zlib level 1-9")->capture_default_str();
  c->add_option("--format", p->format, "Output: tfrecord (shard files) | hdf5 (one parallel HDF5 file per split)")
      ->check(CLI::IsMember({"tfrecord", "hdf5"}))
      ->capture_default_str();
  c->add_flag("--token-level", p->token_level,
              "Store one vector per token plus its nucleotide span (token_spans) instead of BEND's "
              "per-nucleotide copies; bend train upsamples on the fly");
  c->add_flag("--overwrite", p->overwrite, "Replace output written with different parameters");
  c->add_flag("--cuda", p->model.use_cuda, "Run the model on the CUDA device of this local rank");
  add_precision_option(c, p->model.precision);
  add_rules_option(c, p->model.rules);
  add_progress_options(c, p->progress, p->progress_interval_s);
  c->callback([p] {
    require_path("--bed", p->bed_path, PathKind::kFile);
    require_path("--genome", p->genome_path, PathKind::kFile);
    require_path("--labels", p->labels_path, PathKind::kFile);
    require_path("--checkpoint", p->model.checkpoint_dir, PathKind::kDirectory);
    // before MPI starts: a LibTorch model runs in bend-torch (torch_exec.hpp)
    if (!kTorchBuild && !has_embedder(p->model.model)) exec_torch_binary("bend embed --model");
    run_stoppable([&] {
      run_on_every_rank("bend embed", [&](Comm& comm) { run_embed(*p, comm); });
    });
  });
}

}  // namespace bend
