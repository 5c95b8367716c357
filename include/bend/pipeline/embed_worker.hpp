// One rank's embedding pipeline, three stages over bounded queues:
//   reader thread:  next shard -> fetch sequences (htslib) -> tokenize -> length-sorted batches
//   calling thread: forward each batch through the Embedder
//   writer thread:  encode records (dtype), write the shard to a temporary name in BED order,
//                   close + fsync, rename to the final name, report it to the ShardSource.
// Batches never cross shards; their composition depends only on the shard, so the output
// bytes do not depend on how many ranks run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bend/pipeline/progress.hpp"

namespace bend {

class Embedder;
class H5Output;
class ShardSource;

struct WorkerSettings {
  std::string genome_path;
  std::string out_dir;
  int64_t batch_nt = 32768;      // max (rows in batch) x (longest token count) per forward
  std::string dtype = "float32";
  std::string compression = "none";
  int compression_level = 6;
  int rank = 0;                  // temporary files are named "<final>.tmp-r<rank>"
  bool genome_records = false;   // bend genome: add chrom/start/end features (records.hpp)
  int64_t reduce = 0;            // kReduceNone, kReduceMean or N: mean per N positions (records.hpp)
  bool token_level = false;      // Embedder::embed_tokens: one vector per token + token_spans
  H5Output* h5 = nullptr;        // --format hdf5: rows go into these open split files instead
};

// Runs until `source` has no more work. Throws bend::Error (after stopping its threads and
// removing its temporary file) on any failure; finished shards stay valid.
void run_embed_worker(const WorkerSettings& settings, Embedder& embedder, ShardSource& source,
                      RankCounters& counters);

// Length-sorted batching of one shard: positions sorted by token count (stable, so ties keep
// BED order), cut whenever (rows + 1) x longest would exceed `batch_nt`. A row longer than the
// budget gets a batch of its own.
std::vector<std::vector<int32_t>> make_length_batches(const std::vector<int64_t>& n_tokens,
                                                      int64_t batch_nt);

// Temporary name of a shard file while rank `rank` writes it.
std::string shard_temp_name(const std::string& final_path, int rank);

}  // namespace bend
