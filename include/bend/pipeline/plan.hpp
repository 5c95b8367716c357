// Shard planning for `bend embed`: which BED rows go into which shard file. Done once by rank 0;
// shard ids and file names depend only on the BED and the settings, never on the rank count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "bend/embed/embedder.hpp"

namespace bend {

struct BedTable;

// Every setting of an embedding run (CLI / config file). Fields that change output bytes are
// listed by params_json() and compared on resume.
struct EmbedParams {
  std::string bed_path;
  std::string genome_path;
  std::string labels_path;               // HDF5 labels; empty: label column, or <bed stem>.hdf5
  std::string labels_dataset = "labels";
  std::string out_dir;
  int32_t label_depth = 0;               // >0: multi-hot width of the label column
  bool read_strand = false;              // reverse-complement '-' rows
  int64_t flank_bp = 0;                  // extend both ends by this many bp
  std::vector<std::string> splits;       // empty: every split in the BED
  int64_t shard_rows = 256;              // BED rows per shard file
  int64_t batch_nt = 32768;              // token budget of one forward batch (rows x longest)
  std::string dtype = "float32";         // float32 | float16 | bfloat16
  std::string compression = "none";      // none | zlib | gzip
  std::string format = "tfrecord";       // tfrecord (shard files) | hdf5 (one file per split)
  int compression_level = 6;
  bool overwrite = false;                // replace an output dir written with other parameters
  double progress_interval_s = 10.0;     // log-line period when stderr is not a terminal
  std::string progress = "auto";         // auto | bar | lines | none (progress.hpp)
  bool token_level = false;              // one vector per token + its span (--token-level)
  EmbedderOptions model;
};

// The row numbers of one shard, in order. Consecutive numbers (a split's rows in one block of
// the BED, every bend genome shard) are kept as (first, count): no memory per row; any other list
// as a vector of int32 (4 bytes per row). Rank 0 holds every shard's list for the whole run.
class RowList {
 public:
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = int32_t;
    using difference_type = std::ptrdiff_t;
    using pointer = const int32_t*;
    using reference = int32_t;
    const_iterator(const RowList* l, size_t i) : l_(l), i_(i) {}
    int32_t operator*() const { return (*l_)[i_]; }
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++i_;
      return old;
    }
    bool operator==(const const_iterator& o) const { return i_ == o.i_ && l_ == o.l_; }
    bool operator!=(const const_iterator& o) const { return !(*this == o); }

   private:
    const RowList* l_;
    size_t i_;
  };

  // Appends `row`: extends the run when it follows the last row, else the list becomes a vector.
  void push_back(int32_t row) {
    if (list_.empty()) {
      if (n_ == 0) first_ = row;
      if (static_cast<int64_t>(row) == first_ + static_cast<int64_t>(n_)) {
        ++n_;
        return;
      }
      list_.reserve(n_ + 1);
      for (size_t i = 0; i < n_; ++i) list_.push_back(first_ + static_cast<int32_t>(i));
    }
    list_.push_back(row);
    ++n_;
  }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int32_t operator[](size_t i) const { return list_.empty() ? first_ + static_cast<int32_t>(i) : list_[i]; }
  int32_t front() const { return (*this)[0]; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, n_}; }
  // True while the rows are consecutive (kept as first and count).
  bool is_run() const { return list_.empty(); }

 private:
  int32_t first_ = 0;
  size_t n_ = 0;
  std::vector<int32_t> list_;  // every row, once they are not consecutive
};

// One shard: a run of consecutive rows (in BED order) of one split.
struct ShardSpec {
  int32_t shard_id = 0;        // global, in split order then row order
  int32_t split_id = 0;        // index into BedTable::split_names
  int32_t index_in_split = 0;  // 0, 1, ... within its split
  RowList rows;                // BED row numbers (bend genome: window numbers); < 2^31 per run
  int64_t n_bp = 0;            // nucleotides to embed (flank included)
  std::string file_name;       // "<split>-<index:05d>.tfrecord[.zlib|.gz]", or "<split>.h5"
};

// Splits the selected rows into shards of at most `shard_rows` rows each. Throws bend::Error
// when a requested split does not exist in the BED.
std::vector<ShardSpec> plan_shards(const BedTable& bed, const EmbedParams& params);

// `spec` without its row list: what the shard queue holds. The queue's work builder reads the
// rows from the plan by shard id, so rank 0 keeps one copy of every row list, not two.
ShardSpec queue_entry(const ShardSpec& spec);

}  // namespace bend
