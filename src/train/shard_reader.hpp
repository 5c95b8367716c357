// Raw record access to the TFRecord shards of one SplitReader, by (shard, record) number.
// Uncompressed shards are memory-mapped (MappedFile: a shard truncated while mapped stops the
// process with an error naming it): an offset index built on a shard's first use by hopping
// record headers (length CRCs checked), then each record read where it lies, both CRCs checked
// (or the data CRC left to the caller: UncheckedRecord), without copying it out of the page cache (pread's copy was a quarter of the loader's time,
// docs/benchmarks.md). Compressed
// shards (.zlib/.gz): decompressed whole with TFRecordReader. Records declared with plan() are
// kept until read once, then freed (each shard decompressed once per plan); other reads go
// through an LRU of `capacity` whole decompressed shards. Not thread-safe: one per SplitReader.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bend/core/mapped_file.hpp"
#include "bend/train/dataset.hpp"

namespace bend {

class ShardCache {
 public:
  // `shards` as the SplitReader lists them; `capacity` >= 1 decompressed shards are kept.
  ShardCache(std::vector<ShardInfo> shards, int capacity);
  ~ShardCache();
  ShardCache(const ShardCache&) = delete;
  ShardCache& operator=(const ShardCache&) = delete;

  // Bytes of record `record` of shard `shard` (both in range), CRCs checked. The pointer stays
  // valid until the next call. Throws bend::Error "PATH: record N at byte offset X: <what>".
  // With `defer` and an uncompressed shard, the data CRC is not checked: *defer gets what is
  // needed to check it later (and keeps the mapping, so the pointer stays valid as long as
  // *defer lives); otherwise defer->pending() is false on return.
  const char* get(int32_t shard, int64_t record, size_t& n_bytes, UncheckedRecord* defer = nullptr);
  // Declares the reads to come (see SplitReader::plan); replaces any earlier plan.
  void plan(const std::vector<RecordRef>& reads);
  // Shards indexed or decompressed so far (re-loads after eviction included).
  int64_t n_loads() const { return n_loads_; }
  // Decompressed records held in memory now (planned and LRU).
  int64_t n_held_records() const;

 private:
  struct Plain {                   // an uncompressed shard
    std::shared_ptr<MappedFile> map;  // while mapped (UncheckedRecords may keep it longer)
    std::vector<uint64_t> offsets; // [n_records + 1] record starts, then the file size
    uint64_t last_use = 0;
  };
  struct Unpacked {                // a decompressed shard held in memory
    int32_t shard = -1;
    std::vector<std::string> records;
    uint64_t last_use = 0;
  };
  struct Planned {                 // planned reads of a compressed shard
    std::vector<char> wanted;      // [n_records] 1 while planned and not yet read
    int64_t n_wanted = 0;
    bool loaded = false;           // records of wanted entries are filled
    std::vector<std::string> records;  // [n_records] when loaded, wanted ones only
  };

  const char* get_plain(int32_t shard, int64_t record, size_t& n_bytes, UncheckedRecord* defer);
  const char* get_packed(int32_t shard, int64_t record, size_t& n_bytes);
  bool take_planned(int32_t shard, int64_t record);
  void unpack(int32_t shard, std::vector<std::string>& out, const std::vector<char>* keep);
  const MappedFile& mapped(int32_t shard);
  void build_index(int32_t shard);

  std::vector<ShardInfo> shards_;
  std::vector<bool> compressed_;     // [n_shards]
  std::vector<Plain> plain_;         // [n_shards], used for uncompressed shards
  std::vector<Unpacked> unpacked_;   // [<= capacity_]
  std::vector<Planned> planned_;     // [n_shards] when a plan was given, else empty
  int capacity_ = 2;
  int n_mapped_ = 0;
  uint64_t clock_ = 0;               // use counter for LRU decisions
  int64_t n_loads_ = 0;
  std::string buf_;                  // the last planned record of a compressed shard
};

}  // namespace bend
