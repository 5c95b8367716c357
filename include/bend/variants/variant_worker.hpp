// One rank's scoring loop of `bend variants`: for each shard of variants the dynamic queue
// (bend/pipeline/scheduler.hpp) hands it, fetch every variant's window, build the ref and the
// alt sequence (alt base at the variant's index), embed both in batches under the token budget
// (a ref window equal to the previous row's, as at a split multi-allelic site, once),
// score the vectors at the geometry's index and write the shard's scores file atomically.
// Batches never cross shards and depend only on the shard, so the bytes do not depend on the
// number of ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bend/pipeline/work.hpp"
#include "bend/variants/variant_score.hpp"

namespace bend {

class Embedder;
class ShardSource;
struct RankCounters;

struct VariantWorkerSettings {
  std::string genome_path;
  std::string out_dir;               // shard files are written here
  int64_t batch_nt = 32768;          // (sequences in batch) x (longest token count) per forward
  VariantGeometry geometry;
  std::vector<VariantScore> scores;  // columns of the shard files, in order
  // llr from a masked LM (the variant's token masked in the ref window, logit(alt token) -
  // logit(ref token) at its position) instead of a causal LM's next-base prediction.
  bool masked_llr = false;
};

// How a variant travels in a ShardWork row (bend/pipeline/work.hpp): chrom = the FASTA name,
// [start_bp, end_bp) = the window, region = "chrom:pos REF>ALT" (pos 1-based, the file's
// contig name); the alt base is region's last character.
WorkRow variant_work_row(int64_t row, const std::string& fasta_chrom, const std::string& file_chrom,
                         int64_t pos_bp, char ref, char alt, const VariantGeometry& g);

// A shard's scores file: one line per row, "row\tscore1\tscore2...\n" (row = the 0-based data
// row of the variant file, scores as format_score writes them), in shard order.
// Runs until `source` has no more work; throws bend::Error naming the shard and variant on any
// failure (finished shard files stay valid). `hidden` (hidden states) computes cosine / l2,
// `lm` (the same weights with output "logits": a causal model, or a masked LM when
// settings.masked_llr) llr; either may be null when no score needs it.
void run_variant_worker(const VariantWorkerSettings& settings, Embedder* hidden, Embedder* lm,
                        ShardSource& source, RankCounters& counters);

// The token id a model gives the single base `base` (its one id, or in a packed ChunkedTokens
// vector the id with a non-zero repeat count). Throws bend::Error when there is none.
int32_t base_token_id(const Embedder& model, char base);

// Cuts rows with token counts `n_tokens` (max of ref and alt, in shard order), each embedding
// n_seqs[i] sequences (2, or 1 when its ref is the previous row's), into batches of
// consecutive rows: a batch grows while (its sequences) x (longest) stays within `batch_nt`;
// a row over the budget gets a batch of its own. Returns the row count of each batch.
std::vector<int64_t> row_batches(const std::vector<int64_t>& n_tokens,
                                 const std::vector<int64_t>& n_seqs, int64_t batch_nt);

// row_batches with two sequences (ref and alt) per row. Cuts pairs with token counts `n_tokens` (max of ref and alt, in shard order) into batches of
// consecutive pairs: a batch grows while 2 x (pairs) x (longest) stays within `batch_nt`; a
// pair over the budget gets a batch of its own. Returns the pair count of each batch.
std::vector<int64_t> pair_batches(const std::vector<int64_t>& n_tokens, int64_t batch_nt);

}  // namespace bend
