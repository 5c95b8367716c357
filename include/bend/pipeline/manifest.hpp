// The output directory's record of a run: manifest.json (parameters, status, finished shards)
// and manifest.journal (one line appended, fsync'd, per finished shard while the run is going).
// A shard counts as complete only when it is in one of them and its size and CRC32C match.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bend {

// One finished shard as recorded in the manifest.
struct ShardEntry {
  int32_t shard_id = -1;
  std::string file_name;
  std::string split;
  int64_t n_rows = 0;
  int64_t n_records = 0;
  int64_t n_bp = 0;
  uint64_t file_bytes = 0;
  uint32_t file_crc32c = 0;
};

nlohmann::json shard_entry_json(const ShardEntry& e);

struct ShardSpec;
struct ShardDone;

// The manifest entry of a finished shard: its plan (`spec`: file name, rows), the worker's report
// (`d`: records, nucleotides, bytes, CRC32C) and the split it belongs to.
ShardEntry shard_entry_from_done(const ShardDone& d, const ShardSpec& spec, const std::string& split);

// Fills the manifest's "splits" (rows and shards per split; split_names[spec.split_id] names
// them), "planned_shards", "shards" (the finished ones, by id) and "totals" in `doc`.
void add_shard_tables(nlohmann::json& doc, const std::vector<ShardSpec>& planned,
                      const std::vector<std::string>& split_names,
                      const std::map<int32_t, ShardEntry>& done);
ShardEntry shard_entry_from_json(const nlohmann::json& j);

// Reads and writes the manifest and journal of one output directory. Used by rank 0 only;
// append_journal() is thread-safe.
class RunManifest {
 public:
  // `format`: the "format" value load() requires (bend variants: "bend-variants-manifest").
  explicit RunManifest(std::string out_dir, std::string format = "bend-embed-manifest");
  ~RunManifest();
  RunManifest(const RunManifest&) = delete;
  RunManifest& operator=(const RunManifest&) = delete;
  const std::string& manifest_path() const { return manifest_path_; }

  // True when manifest.json exists; then `doc` holds it. Throws bend::Error when unreadable.
  bool load(nlohmann::json& doc) const;
  // Finished shards from manifest.json (when given) plus the journal, keyed by shard id.
  // A torn last journal line (killed mid-write) is ignored.
  std::map<int32_t, ShardEntry> recorded_shards(const nlohmann::json* doc) const;
  // Writes manifest.json atomically.
  void write(const nlohmann::json& doc) const;
  // Appends one shard line to the journal and fsyncs it.
  void append_journal(const ShardEntry& e);
  void remove_journal() const;
  // Names of keys whose values differ between two parameter objects ("dtype: float32 -> float16").
  static std::vector<std::string> diff_params(const nlohmann::json& a, const nlohmann::json& b);

 private:
  std::string out_dir_;
  std::string manifest_path_;
  std::string journal_path_;
  std::string format_;
  int journal_fd_ = -1;
};

}  // namespace bend
