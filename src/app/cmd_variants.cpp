// `bend variants`: options -> VariantParams -> run_variants on every rank of the MPI job.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "bend/core/log.hpp"
#include "bend/dist/comm.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/variants/variant_run.hpp"
#include "cli_paths.hpp"
#include "commands.hpp"
#include "run_options.hpp"
#include "stop_exit.hpp"
#include "torch_exec.hpp"

namespace bend {

void add_variants_command(CLI::App& app) {
  auto p = std::make_shared<VariantParams>();
  CLI::App* c = app.add_subcommand(
      "variants", "Zero-shot variant effects (BEND's 7th task): ref vs alt embedding distance per variant, and AUROC");
  c->add_option("--bed", p->bed_path, "Variant BED: header, chromosome start end (1 bp), ref, alt, label, other columns");
  c->add_option("--vcf", p->vcf_path, "Variants as VCF / VCF.gz / BCF instead of --bed (SNVs; one row per ALT)");
  c->add_option("--label-from", p->label_from, "--vcf: INFO key holding the label (e.g. CLNSIG)");
  c->add_option("--label-map", p->label_map_path, "--vcf: TSV mapping INFO values to labels 0/1 (others: unlabelled)");
  c->add_option("--category-from", p->category_from, "--vcf: INFO key holding the category (e.g. MC)");
  c->add_option("--genome", p->genome_path, "Reference FASTA (plain or bgzip; .fai/.gzi built if missing)")->required();
  c->add_option("--model", p->model.model, "Model name (see `bend models`)")->required();
  c->add_option("--checkpoint", p->model.checkpoint_dir, "Model directory: config.json + model.safetensors (+ tokenizer)");
  c->add_option("--tokenizer", p->model.tokenizer, "Tokenizer kind for --model torchscript");
  c->add_option("--out", p->out_dir, "Output directory: scores.tsv, auroc.csv, manifest.json, ...")->required();
  c->add_option("--score", p->scores, "Scores, comma-separated: cosine (BEND's), l2, llr (LM head: log P(alt) - log P(ref); causal: next base, masked: the variant's token masked)")->capture_default_str();
  c->add_option("--context", p->context_bp,
                "Context bp on each side of the variant (causal models: twice this on the left only)")
      ->capture_default_str();
  c->add_flag("--bend-compat", p->bend_compat,
              "Causal models: compare BEND's vector (the one before the variant, which cannot see the alt base)");
  c->add_flag("--allow-ref-mismatch", p->allow_ref_mismatch,
              "Score variants whose REF differs from the genome (listed in ref_mismatches.tsv) instead of refusing");
  c->add_option("--label-column", p->label_column, "Binary label column for the AUROC (absent: no AUROC)")
      ->capture_default_str();
  c->add_option("--category", p->category_column, "Also report the AUROC per value of this column");
  c->add_option("--bootstrap", p->bootstrap, "Bootstrap resamples for the 95% interval (0: none)")->capture_default_str();
  c->add_option("--seed", p->seed, "Bootstrap seed")->capture_default_str();
  c->add_option("--shard-rows", p->shard_rows, "Variants per shard (unit of work and of resume)")->capture_default_str();
  c->add_option("--batch-nt", p->batch_nt, "Token budget per forward batch (sequences x longest)")->capture_default_str();
  c->add_option("--threads", p->model.n_threads, "Compute threads per rank")->capture_default_str();
  c->add_flag("--gzip", p->gzip, "Write scores.tsv.gz (gzip) instead of scores.tsv");
  c->add_flag("--overwrite", p->overwrite, "Replace output written with different parameters");
  c->add_flag("--cuda", p->model.use_cuda, "Run the model on the CUDA device of this local rank");
  add_progress_options(c, p->progress, p->progress_interval_s);
  add_rules_option(c, p->model.rules);
  c->callback([p] {
    require_path("--bed", p->bed_path, PathKind::kFile);
    require_path("--vcf", p->vcf_path, PathKind::kFile);
    require_path("--label-map", p->label_map_path, PathKind::kFile);
    require_path("--genome", p->genome_path, PathKind::kFile);
    require_path("--checkpoint", p->model.checkpoint_dir, PathKind::kDirectory);
    if (!kTorchBuild && !has_embedder(p->model.model)) exec_torch_binary("bend variants --model");
    // BEND's variant script reads DNABERT's k-mer vectors unupsampled at the k-mer centred on
    // the variant (embedder.hpp kmer_centre), whichever --rules.
    p->model.kmer_centre = true;
    run_stoppable([&] {
      run_on_every_rank("bend variants", [&](Comm& comm) { run_variants(*p, comm); });
    });
  });
}

}  // namespace bend
