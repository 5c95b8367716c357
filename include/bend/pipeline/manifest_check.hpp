// Validation of a bend embed manifest (manifest.json) before anyone trusts it: every field of
// the expected type and range, and the tables agreeing with each other (planned shards =
// recorded shards, per-split rows and shard counts, totals). Used by `bend train` and
// `bend inspect`, so a hand-edited or damaged manifest is an error in both, never fewer records.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "bend/pipeline/manifest.hpp"

namespace bend {

// What a checked manifest says.
struct ManifestFacts {
  std::string status;                     // "running", "stopped" or "complete"
  int64_t planned_shards = 0;
  std::map<int32_t, ShardEntry> shards;   // the "shards" array, by shard id
};

// One shard entry of a manifest (or journal line) with every field checked: shard id >= 0,
// file a plain file name (no '/', not starting with '.') beginning with the split's name,
// split a safe split name, counts >= 0, crc32c exactly 8 hex digits. `task_names` false (bend
// genome, whose splits are chromosomes): split names are not checked, file names only for '/'
// and a leading '.'. Throws bend::Error "<where> (shard N): field \"<f>\" <problem>".
ShardEntry parse_shard_entry(const nlohmann::json& j, const std::string& where, bool task_names = true);

// Checks the manifest document `doc` read from `path`. Always: it is an object of format
// "bend-embed-manifest", status is one of running/stopped/complete, planned_shards, splits,
// shards, totals and model have their types, shard ids are unique and < planned_shards, and
// totals equal the sums over "shards". When status is "complete", also: every planned shard is
// recorded and each split's rows and shard count equal those of its recorded shards. Throws
// bend::Error "<path>: <what is wrong>" (field named) on the first problem.
ManifestFacts check_manifest(const nlohmann::json& doc, const std::string& path);

}  // namespace bend
