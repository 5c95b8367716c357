// `bend variants`: BEND's zero-shot variant-effect task as a distributed run (every rank calls
// run_variants; rank 0 reads and checks the variant file, plans shards of variants and serves
// them over the dynamic queue, every rank scores shards, rank 0 writes the table and the AUROC).
//
// Output directory:
//   scores.tsv[.gz]    every input row (header and columns as given) + one column per score;
//                      "NA" for skipped rows (skipped.tsv says why). Written atomically at the end.
//   auroc.csv          AUROC per score, overall and per category, bootstrap 95% interval
//   ref_mismatches.tsv rows whose REF differs from the genome; skipped.tsv rows not scored
//   variants.bed, vcf_skipped.tsv (--vcf) the SNV rows read from the VCF; the alleles skipped
//   scores-NNNNN.tsv   per-shard scores (row, scores), journaled for resume; manifest.json
// The bytes of scores.tsv and auroc.csv do not depend on the number of ranks.
#pragma once

#include <cstdint>
#include <string>

#include "bend/embed/embedder.hpp"

namespace bend {

class Comm;

// Every setting of a variant run (CLI / config file).
struct VariantParams {
  std::string bed_path;               // BEND's variant BED, or
  std::string vcf_path;               // VCF / VCF.gz / BCF (converted to OUT/variants.bed first)
  std::string label_from;             // VCF: INFO key of the label (-> column "label")
  std::string label_map_path;         // VCF: TSV INFO value -> 0/1 (variant_vcf.hpp)
  std::string category_from;          // VCF: INFO key of the category (-> column "category")
  std::string genome_path;            // reference FASTA (plain or bgzip)
  std::string out_dir;
  std::string scores = "cosine";      // comma-separated: cosine, l2
  int64_t context_bp = 256;           // each side; causal models: 2 x on the left
  bool bend_compat = false;           // causal models: BEND's vector index (left - 1)
  bool allow_ref_mismatch = false;    // score rows whose REF differs from the genome
  std::string label_column = "label"; // binary label (0/1) for the AUROC; absent: no evaluation
  std::string category_column;        // AUROC per value of this column too ("" = overall only)
  int64_t bootstrap = 1000;           // resamples for the 95% interval (0: none)
  uint64_t seed = 0;                  // bootstrap seed
  int64_t shard_rows = 2048;          // variants per shard
  int64_t batch_nt = 32768;           // token budget per forward batch (sequences x longest)
  bool overwrite = false;             // replace an output written with other parameters
  bool gzip = false;                  // scores.tsv.gz instead of scores.tsv
  double progress_interval_s = 10.0;  // seconds between progress lines
  std::string progress = "auto";      // auto | bar | lines | none (as bend embed)
  EmbedderOptions model;
};

// Runs the whole command on every rank of `comm` (collective). Input errors are found on rank
// 0 before any work and thrown on every rank as CollectiveError; a stop signal ends with
// RunStopped after the finished shards are journaled (a rerun resumes).
void run_variants(const VariantParams& p, Comm& comm);

}  // namespace bend
