// Resume bookkeeping of a sharded output directory before a run starts (bend genome; the same
// rules as bend embed's, docs/architecture.md): which planned shards are already complete.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bend/pipeline/manifest.hpp"
#include "bend/pipeline/plan.hpp"

namespace bend {

class H5Rank0Files;

// 1. Removes temporaries of killed writers (*.tmp-r<rank>, manifest.json.tmp).
// 2. A manifest.json whose "params" differ from `params` is refused with the list of
//    differences, or with `overwrite` that run's shards, journal and manifest are removed.
// 3. Shards recorded in the manifest or journal whose file name, rows, size and CRC32C match
//    the plan are complete; others are logged and redone.
// With `h5` (--format hdf5) the shards are checked in their HDF5 file instead
// (H5Rank0Files::shard_matches), and the locked files are not removed in step 2.
// Returns the complete shards by id. Rank 0 only. Throws bend::Error naming the manifest.
std::map<int32_t, ShardEntry> find_done_shards(const std::string& out_dir, const nlohmann::json& params,
                                               const std::vector<ShardSpec>& shards, bool overwrite,
                                               RunManifest& manifest, H5Rank0Files* h5 = nullptr);

}  // namespace bend
