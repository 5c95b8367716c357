// `--format hdf5` of `bend embed` (one HDF5 file per split) and `bend genome` (one file,
// genome.h5) instead of TFRecord shard files (store/h5_embeddings.hpp). The shard plan, the
// dynamic queue and the manifest stay as they are: a shard is a run of rows of its file, and the
// manifest (journal) records finished shards with the CRC32C of their embedding bytes (then
// token spans); that is the resume mask.
//
// Protocol (embed_run.cpp, genome_run.cpp):
//   1. Rank 0, before any work: H5Rank0Files locks every file (flock, exclusive), checks
//      journaled shards against the file, refuses files of other runs, decides per file:
//      create, reopen (some shards done) or leave (complete).
//   2. Every rank: H5Output::open.
//      a. Rank 0 broadcasts the files; it sends each rank only its static block of the rows
//         whose vector counts need tokenizing (point-to-point: no rank holds all of them).
//      b. Each rank tokenizes its block (output_length, or token_level_rows with token-level
//         output); rank 0 gathers the counts in row order (rows counted without tokenizing,
//         bend genome --reduce, it computes itself) and prefix-sums them into the offsets.
//      c. File by file, rank 0 builds the layout and tables and broadcasts the layout; every
//         rank creates (or reopens) the file collectively; rank 0 reserves the disk space and
//         writes the tables.
//   3. Writer threads: H5ShardWriter writes each shard's rows independently, fdatasyncs, reports.
//   4. Every rank: H5Output::finish. Files whose shards are all done get their shard checksums
//      and, last, the `complete` attribute; the others are closed as they are.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bend/store/h5_embeddings.hpp"

namespace bend {

class Comm;
class Embedder;
class LabelSource;
struct BedTable;
struct EmbedParams;
struct ShardDone;
struct ShardEntry;
struct ShardSpec;
struct ShardWork;
struct VectorSpan;

// Name of a split's file in the output directory: "<split>.h5" (bend genome: "genome.h5").
std::string h5_file_name(const std::string& split);
// Checks --format (tfrecord | hdf5) and refuses --compression with hdf5, saying why. Throws
// bend::Error.
void check_output_format(const std::string& format, const std::string& compression);

// Rank 0's side before any work. Owns the exclusive locks on the split files until destroyed.
class H5Rank0Files {
 public:
  // Opens (creating empty when missing) and flocks OUT/<split>.h5 of every split of `shards`.
  // Throws bend::Error naming the file when another process holds a lock on it.
  H5Rank0Files(const std::string& out_dir, const std::vector<ShardSpec>& shards);
  // Releases the locks; removes files this run created and never wrote.
  ~H5Rank0Files();
  H5Rank0Files(const H5Rank0Files&) = delete;
  H5Rank0Files& operator=(const H5Rank0Files&) = delete;

  // True for a file name this run has locked (check_output_dir must not delete it).
  bool holds(const std::string& file_name) const;
  // True when journaled shard `e` is intact in its file: the file is a bend file of these
  // `params` and the CRC32C and size of the shard's embedding bytes match the entry.
  bool shard_matches(const ShardEntry& e, const nlohmann::json& params);
  // After check_output_dir: refuses (unless `overwrite`) a file written with other parameters
  // or that is not a bend file; decides each file's action; removes from `done` the shards of
  // files that will be created anew. `resuming`: the manifest matched these parameters.
  void decide(const nlohmann::json& params, bool overwrite, bool resuming,
              std::map<int32_t, ShardEntry>& done);
  // Reserves `n_bytes` for the file (fallocate). Throws naming the file, what it needs and
  // what is free when the file system is full; file systems without fallocate are skipped.
  void reserve(const std::string& file_name, uint64_t n_bytes);

  // What open() does with a file.
  enum Action : int32_t { kLeave = 0, kCreate = 1, kReopen = 2 };
  struct File {
    std::string split, name, path;
    int fd = -1;                 // open with an exclusive flock
    bool created_empty = false;  // did not exist before this run
    int32_t action = kLeave;
    int32_t first_shard = 0, n_shards = 0;
    bool checked = false, readable = false, complete = false;
    int64_t format_version = 0;                 // the file's `version` attribute
    std::string params_json;                    // the file's `params` attribute
    std::shared_ptr<H5EmbeddingReader> reader;  // open (unlocked) between check and decide
  };
  std::vector<File>& files() { return files_; }

 private:
  File* find(const std::string& file_name);
  void check_file(File& f);

  std::string out_dir_;
  std::vector<File> files_;
  std::vector<ShardSpec> shards_;
};

// Where a row's sequence is, to tokenize it for its vector count (flank included).
struct H5FetchRow {
  int32_t chrom_id = 0;  // index into H5Rank0Inputs::chrom_names
  int64_t start_bp = 0, end_bp = 0;
  bool minus = false;  // reverse-complemented
};

// What rank 0 contributes to opening the files (everything valid during H5Output::open).
// `row` below is a ShardSpec::rows entry.
struct H5Rank0Inputs {
  const std::vector<ShardSpec>* shards = nullptr;  // the run's plan, by shard id
  H5Rank0Files* files = nullptr;                   // locked and decided (protocol step 1)
  std::vector<std::string> chrom_names;            // names of H5FetchRow::chrom_id
  // The sequence of `row`, tokenized for its vector count (used when count_known is empty).
  std::function<H5FetchRow(int64_t row)> fetch;
  // Vectors of `row` when known without tokenizing (bend genome --reduce); empty: tokenize.
  std::function<int64_t(int64_t row)> count_known;
  // Fills split, command, task, checkpoint, params_json and shard_rows of a new file's layout,
  // and its tables (rows in shard order). Everything else is filled by H5Output::open.
  std::function<void(const H5Rank0Files::File& file, H5SplitLayout& layout, H5RowTables& tables)>
      describe;
};

// bend embed's H5Rank0Inputs: BED rows with flank and strand, labels, the BED stem as task.
H5Rank0Inputs h5_embed_inputs(const EmbedParams& p, const BedTable& bed, LabelSource& labels,
                              const std::vector<ShardSpec>& shards, const nlohmann::json& params,
                              H5Rank0Files& files);

// Every rank: how the files are laid out.
struct H5OutputSettings {
  std::string out_dir;
  std::string genome_path;  // FASTA to tokenize rows from
  std::string dtype = "float32";
  bool token_level = false;  // vectors per token (token_level_rows) and a token_spans dataset
};

// Every rank: the split files of this run open for writing.
class H5Output {
 public:
  // Collective (protocol step 2). `rank0` on rank 0, nullptr elsewhere. Input problems
  // throw CollectiveError on every rank; HDF5 failures throw bend::Error (the caller aborts).
  static std::unique_ptr<H5Output> open(Comm& comm, const H5OutputSettings& settings,
                                        const Embedder& model, const H5Rank0Inputs* rank0);
  ~H5Output();

  // The open file holding shard `shard_id` and the shard's first row in it. Writer threads.
  H5EmbeddingWriter& file_of(int32_t shard_id, int64_t& first_row);
  // Collective (protocol step 4). `done` on rank 0 (all finished shards), nullptr elsewhere.
  void finish(Comm& comm, const std::map<int32_t, ShardEntry>* done);

 private:
  struct Open {
    int32_t first_shard = 0, n_shards = 0;
    std::unique_ptr<H5EmbeddingWriter> writer;
  };
  std::vector<Open> open_;
};

// The writer thread's side of one shard: rows arrive in any order; each run of consecutive
// finished rows is converted to the stored dtype and written with one independent write, in
// row order, so the shard's CRC32C streams. Not thread-safe (one writer thread).
class H5ShardWriter {
 public:
  // `reduce`: kReduceNone, kReduceMean or bin length (records.hpp), applied before storing.
  H5ShardWriter(H5Output& out, const ShardWork& work, int64_t dim, DType dtype, int64_t reduce = 0);
  // Row `pos` of the shard (0-based, BED order) as the model returned it ([length, dim]) for
  // `len_bp` nucleotides; `spans` ([length]) with token-level output, else nullptr. Throws
  // bend::Error when its length (after --reduce) differs from the planned one.
  void add_row(int32_t pos, const std::vector<float>& emb, int64_t len_bp,
               const std::vector<VectorSpan>* spans = nullptr);
  bool complete() const { return next_ == pending_.size(); }
  // Makes the rows durable and describes them (bytes and CRC32C of the embedding bytes, then
  // of the token spans).
  ShardDone finish(const std::vector<int64_t>& len_bp);

 private:
  void flush_ready();

  int64_t first_row_ = 0;  // the shard's first row in the file (set by file_'s init)
  H5EmbeddingWriter& file_;
  int32_t shard_id_;
  std::vector<int64_t> bed_rows_;  // [n_rows] for messages
  int64_t dim_;
  DType dtype_;
  int64_t reduce_;
  std::vector<float> pooled_;                        // [n_bins, dim] with --reduce
  std::vector<std::string> pending_;                 // converted rows waiting for earlier ones
  std::vector<std::vector<int64_t>> pending_spans_;  // [length * 2] per row (token-level)
  std::vector<int64_t> shard_spans_;  // spans written so far, for the shard's checksum
  std::vector<char> ready_;
  std::string staging_;  // one contiguous run of rows
  size_t next_ = 0;
  uint32_t crc_ = 0;
  uint64_t n_bytes_ = 0;
};

}  // namespace bend
