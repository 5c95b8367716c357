// `bend embed --format hdf5`: one HDF5 file per split (store/h5_embeddings.hpp) instead of
// TFRecord shard files. The shard plan, the dynamic queue and the manifest stay as they are:
// a shard is a run of rows of its split's file, and the manifest (journal) records finished
// shards with the CRC32C of their embedding bytes; that is the resume mask.
//
// Protocol (embed_run.cpp):
//   1. Rank 0, before any work: H5Rank0Files locks every split file (flock, exclusive), checks
//      journaled shards against the file, refuses files of other runs, decides per file:
//      create, reopen (some shards done) or leave (complete).
//   2. Every rank: H5Output::open. Rank 0 broadcasts the files and the rows to measure; each
//      rank tokenizes a block of rows for their output lengths; rank 0 gathers them, prefix-sums
//      the offsets, builds the tables and broadcasts the layouts; the files are created or
//      reopened collectively; rank 0 writes the tables and reserves the disk space.
//   3. Writer threads: H5ShardWriter writes each shard's rows independently, fdatasyncs, reports.
//   4. Every rank: H5Output::finish. Files whose shards are all done get their shard checksums
//      and, last, the `complete` attribute; the others are closed as they are.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// Name of a split's file in the output directory: "<split>.h5".
std::string h5_file_name(const std::string& split);

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

  struct File {
    std::string split, name, path;
    int fd = -1;                  // open with an exclusive flock
    bool created_empty = false;   // did not exist before this run
    int action = 0;               // 0 leave, 1 create, 2 reopen
    int32_t first_shard = 0, n_shards = 0;
    bool checked = false, readable = false, complete = false;
    std::string params_json;      // the file's `params` attribute
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

// What rank 0 contributes to opening the files (every pointer valid during H5Output::open).
struct H5Rank0Inputs {
  const BedTable* bed = nullptr;
  LabelSource* labels = nullptr;
  const std::vector<ShardSpec>* shards = nullptr;
  const nlohmann::json* params = nullptr;
  H5Rank0Files* files = nullptr;
};

// Every rank: the split files of this run open for writing.
class H5Output {
 public:
  // Collective (protocol step 2). `rank0` on rank 0, nullptr elsewhere. Input problems
  // throw CollectiveError on every rank; HDF5 failures throw bend::Error (the caller aborts).
  static std::unique_ptr<H5Output> open(Comm& comm, const EmbedParams& p, const Embedder& model,
                                        const H5Rank0Inputs* rank0);
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
  H5ShardWriter(H5Output& out, const ShardWork& work, int64_t dim, DType dtype);
  // Row `pos` of the shard (0-based, BED order) as the model returned it ([length, dim]).
  // Throws bend::Error when its length differs from the planned one.
  void add_row(int32_t pos, const std::vector<float>& emb);
  bool complete() const { return next_ == pending_.size(); }
  // Makes the rows durable and describes them (bytes and CRC32C of the embedding bytes).
  ShardDone finish(const std::vector<int64_t>& len_bp);

 private:
  void flush_ready();

  int64_t first_row_ = 0;             // the shard's first row in the file (set by file_'s init)
  H5EmbeddingWriter& file_;
  int32_t shard_id_;
  std::vector<int64_t> bed_rows_;     // [n_rows] for messages
  int64_t dim_;
  DType dtype_;
  std::vector<std::string> pending_;  // converted rows waiting for earlier ones
  std::vector<char> ready_;
  std::string staging_;               // one contiguous run of rows
  size_t next_ = 0;
  uint32_t crc_ = 0;
  uint64_t n_bytes_ = 0;
};

}  // namespace bend
