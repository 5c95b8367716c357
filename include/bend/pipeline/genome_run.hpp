// `bend genome`: a whole genome, chosen sequences or BED regions tiled into windows (the
// windows of `bedtools makewindows -w -s`), windows with too many N skipped, shards by genomic
// range, embedded by the same queue, pipeline, resume and graceful-stop machinery as
// `bend embed` (shard_run.hpp). Records carry their coordinates (docs/formats.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bend/embed/embedder.hpp"

namespace bend {

class Comm;

// Every setting of a genome run (CLI / [genome] section of a config file).
struct GenomeParams {
  std::string genome_path;            // FASTA, plain or bgzip
  std::vector<std::string> chroms;    // only these sequences (empty: all, in .fai order)
  std::string regions_path;           // BED3+: tile these regions instead (not with chroms)
  std::string out_dir;
  int64_t window_bp = 1000;           // window length
  int64_t stride_bp = 0;              // distance between window starts (0: = window_bp)
  double max_n = 0.5;                 // skip windows whose fraction of N is larger
  std::string reduce = "none";        // none | mean | bin:N (records.hpp)
  int64_t shard_windows = 256;        // windows per shard file
  int64_t batch_nt = 32768;           // token budget of one forward batch
  std::string dtype = "float32";      // float32 | float16 | bfloat16
  std::string compression = "none";   // none | zlib | gzip
  std::string format = "tfrecord";    // tfrecord (shard files) | hdf5 (one file, genome.h5)
  int compression_level = 6;
  bool overwrite = false;             // replace an output dir written with other parameters
  bool force = false;                 // start even when the file system lacks the planned bytes
  double progress_interval_s = 10.0;
  std::string progress = "auto";      // auto | bar | lines | none (progress.hpp)
  bool token_level = false;           // one vector per token + its span; not with --reduce
  EmbedderOptions model;
};

// Runs on every rank of `comm`. Rank 0 scans the sequence for N (one streaming pass per
// interval), tiles, plans, prints the plan (windows, nucleotides, bytes for the dtype and model
// dim) and refuses when the output file system has less free space than the bytes still to
// write, unless `force`. Bad settings or input throw CollectiveError on every rank; a stop
// signal ends with RunStopped (exit 75); other failures throw bend::Error on the failing rank.
void run_genome(const GenomeParams& params, Comm& comm);

// The one file of `bend genome --format hdf5` in the output directory.
constexpr const char* kGenomeH5Name = "genome.h5";

// Shard file name: "<chrom>_<first start:010d>-<last end:010d>.tfrecord[.zlib|.gz]", the chrom
// name with every character other than [A-Za-z0-9._-] replaced by '_'.
std::string genome_shard_name(const std::string& chrom, int64_t start_bp, int64_t end_bp, const char* suffix);

}  // namespace bend
