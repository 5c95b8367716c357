// The training data layer: the shards of `bend embed` read back by record id, the seeded order
// records are visited in each epoch (the same on every rank and machine), BEND's cross-validation
// folds, batch assembly with BEND's padding, and checks of the data against the training config.
// No torch here: batches are plain float vectors with their shapes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bend {

class ShardCache;  // raw record access, private to the library (src/train/shard_reader.hpp)
class H5EmbeddingReader;  // rows of an HDF5 output file (store/h5_embeddings.hpp)

// A record of an uncompressed shard whose data CRC has not been checked yet (SplitReader::read
// with `defer_crc`): its bytes where they lie in the mapped shard, which `keep` keeps mapped.
// Whoever takes it over must check it (check(), or check(copy_and_crc(...))) before anything
// read from the record is used. Safe to check from any thread while the reader goes on reading.
struct UncheckedRecord {
  const char* data = nullptr;          // the record's data bytes (the serialized Example)
  size_t n_bytes = 0;
  uint32_t stored_crc = 0;             // the CRC32C the shard stores for them (unmasked)
  std::shared_ptr<const void> keep;    // the shard's mapping
  const std::string* path = nullptr;   // the shard file, for errors (owned by the reader)
  int64_t record = 0;                  // record number in the shard
  uint64_t offset = 0;                 // byte offset of its header in the shard
  bool pending() const { return data != nullptr; }
  // Throws bend::Error "PATH: record N at byte offset X: data crc32c mismatch (...)", the
  // message of an immediate check, unless the data bytes match their stored CRC.
  void check() const { check(crc()); }
  // The same, for `computed`, a CRC of the data bytes computed before.
  void check(uint32_t computed) const;
  // The CRC32C of the data bytes.
  uint32_t crc() const;
  // One pass over the data bytes: returns their CRC32C and copies values[0, n_values_bytes) (a
  // range inside them) to dst on the way (the bytes are copied whether they match or not).
  uint32_t copy_and_crc(const char* values, size_t n_values_bytes, void* dst) const;
};

// One record of an embed output directory, decoded to float32.
struct Sample {
  int64_t index = 0;                  // BED data row (0-based, over the whole BED file)
  int64_t length = 0, dim = 0;        // embedding shape
  std::vector<float> inputs;          // [length, dim] row-major, decoded from the stored dtype
  // Set instead of `inputs` (then empty) by SplitReader::read(r, out, /*borrow=*/true) for a
  // float32 record: its [length, dim] little-endian values where the reader holds them
  // (unaligned: copy with memcpy), valid until the reader's next read. nullptr otherwise.
  const char* borrowed_f32 = nullptr;
  // With borrowed_f32 when read with `defer_crc`: the record whose CRC is still to be checked
  // (every field here came from it). Not pending otherwise.
  UncheckedRecord unchecked;
  std::vector<float> labels;          // flattened row-major; int64 labels converted to float
  std::vector<int64_t> label_shape;   // e.g. [label_depth], [n_bins], [length]; [0] without labels
};

// A record address: shard number within one SplitReader (its shards() order) and record number
// within that shard (BED order).
struct RecordRef {
  int32_t shard = 0;
  int32_t record = 0;
};

// One shard of a SplitReader, as manifest.json lists it.
struct ShardInfo {
  std::string path;         // embed_dir/<file>
  std::string split;        // split the shard belongs to
  int32_t shard_id = -1;    // id in the manifest (global over all splits)
  int64_t n_records = 0;    // records in the file
  int64_t file_bytes = 0;   // file size (compressed size for .zlib/.gz); HDF5: embedding bytes
  int64_t first_row = 0;    // HDF5 (`<split>.h5`): the shard's first row in its file
  uint32_t crc32c = 0;      // the manifest's CRC32C of the shard (HDF5: its embeddings + spans)
};

// The shards of some splits of an embed output directory, readable record by record in any
// order. Shards are numbered split by split (in the order given), by manifest shard id within a
// split. Uncompressed shards are memory-mapped and read through an offset index built on a
// shard's first use (src/train/shard_reader.hpp). Compressed (.zlib/.gz) shards can only be
// decompressed whole: give the coming reads to plan() and each shard is decompressed once,
// keeping just the planned records until read (memory ~ shuffle buffer + one shard); unplanned
// reads go through an LRU of `cache_shards` whole shards, which thrashes under a shuffle buffer
// larger than a shard.
// HDF5 output (`bend embed --format hdf5`): the manifest's shards are row ranges of
// `<split>.h5`; records are read by row (hyperslabs), with the same record ids, so the same
// epoch order and batches as the TFRecord output of the same run.
// Not thread-safe: use one SplitReader per thread (they share nothing).
class SplitReader {
 public:
  // Reads embed_dir/manifest.json and checks every shard of `splits` exists with its recorded
  // size. Throws bend::Error when there is no manifest, the embedding is not complete, a split
  // has no shards (naming the splits that exist) or a shard file is missing or unreadable.
  SplitReader(const std::string& embed_dir, const std::vector<std::string>& splits,
              int cache_shards = 2);
  ~SplitReader();
  SplitReader(const SplitReader&) = delete;
  SplitReader& operator=(const SplitReader&) = delete;

  // Records over all shards.
  int64_t n_records() const { return n_records_; }
  // Records of each shard, in shard order: the input of epoch_order/sequential_order.
  const std::vector<int64_t>& records_per_shard() const { return records_per_shard_; }
  // The shards, in shard order.
  const std::vector<ShardInfo>& shards() const { return shards_; }
  // Embedding model name and dimension, from the manifest ("model": {"name", "dim"}).
  const std::string& model() const { return model_; }
  int64_t dim() const { return dim_; }
  // The directory and splits given to the constructor.
  const std::string& dir() const { return dir_; }
  const std::vector<std::string>& splits() const { return splits_; }

  // Reads and decodes record `r` into `out` (buffers reused). Checks both CRCs, the Example and
  // that its dim equals the manifest's. Errors name the shard file, record number and problem.
  // With `borrow`, a float32 record's inputs are not copied: out.borrowed_f32 points at them.
  // With `defer_crc` too, a borrowed record of an uncompressed TFRecord shard is parsed without
  // its data CRC checked: out.unchecked holds what is needed to check it, and nothing in `out`
  // may be used before that (BatchLoader checks it while copying the values into the batch, on
  // the compute threads). Records that are decoded here are always checked first, and an
  // Example that does not parse is reported as the CRC mismatch when that is what it is.
  void read(RecordRef r, Sample& out, bool borrow = false, bool defer_crc = false);
  // What every label read() returns must be (kLabelPad always passes; NaN and infinities never
  // do): in [lo, hi], and an integer when `integral`. Until set, labels are not checked. A value
  // outside is a bend::Error naming the shard, record and BED row (corrupt bytes such as -1
  // would otherwise be trained on).
  void set_label_range(float lo, float hi, bool integral);
  // Declares the reads to come, each record once (e.g. this rank's share of an epoch order);
  // replaces the previous plan. Only changes memory use and speed for compressed shards: a
  // planned record is freed once read, a second read of it goes through the LRU. Throws
  // bend::Error for a record that does not exist.
  void plan(const std::vector<RecordRef>& reads);
  // Decompressed records held in memory now (planned, not yet read, plus the LRU's shards).
  int64_t n_held_records() const;
  // "DIR/train-00001.tfrecord: record 5": how errors and logs name a record.
  std::string where(RecordRef r) const;
  // Shards indexed (uncompressed) or decompressed (compressed) so far, re-loads included: a
  // count that grows much faster than shards().size() means the cache is thrashing.
  int64_t n_shard_loads() const;

 private:
  bool has(RecordRef r) const;  // r names an existing record
  void open_h5_files();         // HDF5 shards: open their files, check rows and dim
  void read_h5(RecordRef r, Sample& out);
  void check_labels(RecordRef r, const Sample& s) const;
  bool check_labels_ = false;
  float label_lo_ = 0, label_hi_ = 0;
  bool label_integral_ = false;
  std::string dir_;
  std::vector<std::string> splits_;
  std::string model_;
  int64_t dim_ = 0;
  int64_t n_records_ = 0;
  std::vector<ShardInfo> shards_;
  std::vector<int64_t> records_per_shard_;
  std::unique_ptr<ShardCache> cache_;  // open files, offset indexes, decompressed shards
  std::vector<std::unique_ptr<H5EmbeddingReader>> h5_files_;  // HDF5 output files, if any
  std::vector<int32_t> h5_of_shard_;   // [n_shards] index into h5_files_, -1 for TFRecord
};

// Deterministic 64-bit generator for data order: xoshiro256** seeded through splitmix64, so the
// same (seed, stream) gives the same numbers on every machine, compiler and rank.
class ShuffleRng {
 public:
  // State = four splitmix64 outputs starting from seed ^ splitmix64-of(stream).
  ShuffleRng(uint64_t seed, uint64_t stream);
  // Next 64 random bits.
  uint64_t next();
  // Uniform integer in [0, n) for n > 0 (Lemire's multiply-shift with rejection: unbiased).
  uint64_t below(uint64_t n);

 private:
  uint64_t s_[4];
};

// splitmix64: advances `state` by the golden gamma and returns the mixed value (Vigna's reference).
uint64_t splitmix64(uint64_t& state);

// The training order of one epoch, as BEND's webdataset loader does it but on record ids: shards
// visited in a seeded permutation, their records streamed in file order through a shuffle buffer
// of `buffer` entries (each step emits a uniformly chosen entry and refills its slot). buffer = 1
// gives the records shard by shard; buffer >= n_records a uniform shuffle. Identical on every
// rank for the same (seed, epoch). Throws bend::Error when buffer < 1.
std::vector<RecordRef> epoch_order(const std::vector<int64_t>& records_per_shard, uint64_t seed,
                                   int64_t epoch, int64_t buffer);
// Every record in shard order, then file order: for validation and test.
std::vector<RecordRef> sequential_order(const std::vector<int64_t>& records_per_shard);

// Split names of one run.
struct SplitNames {
  std::vector<std::string> train, valid, test;
};
// BEND's cross-validation over "part1".."part<n_parts>": fold k (1-based) tests on part k,
// validates on part k+1 (part 1 after the last) and trains on the others in increasing order.
// Throws bend::Error when fold is outside 1..n_parts or n_parts < 3.
SplitNames cv_fold_splits(int fold, int n_parts = 10);

// A padded batch, BEND's collate: inputs zero-padded to the longest sample; labels padded with
// -100 along their first dimension (the sequence or bin axis) to the longest label.
struct Batch {
  int64_t n = 0, max_len = 0, dim = 0;
  std::vector<float> inputs;         // [n, max_len, dim]; [n, dim, max_len] if channels_first
  bool channels_first = false;       // training's BatchLoader for dim < 128 (head_batch.hpp); collate: false
  std::vector<int64_t> lengths;      // [n] unpadded lengths
  std::vector<float> labels;         // [n, label_len_max, ...rest]
  std::vector<int64_t> label_shape;  // [n, label_len_max, ...rest] ([n] for scalar labels)
  std::vector<int64_t> indices;      // [n] BED rows
};
// The value labels are padded with (BEND's padding_value; losses and metrics skip it).
constexpr float kLabelPad = -100.0f;

// Builds `out` from `samples` (buffers reused). Throws bend::Error naming the BED rows when dims,
// label ranks or label dimensions after the first differ.
void collate(const std::vector<Sample>& samples, Batch& out);
// The checks collate() makes of each sample `s` against the batch's first sample `ref`: same dim
// and label dimensions after the first, inputs and labels of the sizes their shapes give. Throws
// bend::Error naming both BED rows.
void check_same_layout(const Sample& ref, const Sample& s);

// What the training config expects of the data; 0 means "not checked".
struct DataExpectation {
  int64_t input_dim = 0;      // embedding dim the head is built for
  int64_t n_outputs = 0;      // head outputs per position: label width, or classes for CE
  bool class_ids = false;     // cross-entropy: labels are class ids in [0, n_outputs) (or -100)
  int64_t output_window = 0;  // head's pooling window along the sequence; 0 = none
};
// Checks the data of `r` (with `first`, one sample read from it) against `want`. The head gives
// n_pos = length / window (or length) positions of n_outputs values; labels must be [n_pos,
// n_outputs], or [n_pos] when n_outputs == 1 or class ids, or [n_outputs] when n_pos == 1.
// Throws bend::Error naming the directory and both values on the first mismatch.
void check_compatible(const SplitReader& r, const Sample& first, const DataExpectation& want);

}  // namespace bend
