#include "bend/pipeline/resume.hpp"

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"
#include "bend/pipeline/h5_output.hpp"

namespace bend {

using nlohmann::json;

std::map<int32_t, ShardEntry> find_done_shards(const std::string& out_dir, const json& params,
                                               const std::vector<ShardSpec>& shards, bool overwrite,
                                               RunManifest& manifest, H5Rank0Files* h5) {
  std::map<int32_t, ShardEntry> done;
  make_dirs(out_dir);
  for (const std::string& name : list_dir(out_dir)) {  // 1. leftovers of killed writers
    if (name.find(".tmp-r") != std::string::npos || name == "manifest.json.tmp") {
      remove_if_exists(path_join(out_dir, name));
    }
  }
  json old;
  if (!manifest.load(old)) {
    manifest.remove_journal();  // a journal without manifest belongs to nothing
    return done;
  }
  std::map<int32_t, ShardEntry> rec = manifest.recorded_shards(&old);
  std::vector<std::string> diff = RunManifest::diff_params(old.value("params", json::object()), params);
  if (!diff.empty()) {  // 2.
    std::string what;
    for (const std::string& d : diff) what += "\n  " + d;
    if (!overwrite) {
      fail("%s was written with different parameters:%s\nuse --overwrite to replace that output, "
           "or choose another --out", manifest.manifest_path().c_str(), what.c_str());
    }
    log_warn("--overwrite: replacing the output in %s (parameters differ:%s)", out_dir.c_str(), what.c_str());
    for (const auto& kv : rec) {
      if (!h5 || !h5->holds(kv.second.file_name)) remove_if_exists(path_join(out_dir, kv.second.file_name));
    }
    for (const ShardSpec& sh : shards) {
      if (!h5) remove_if_exists(path_join(out_dir, sh.file_name));  // a locked .h5 is recreated
    }
    manifest.remove_journal();
    remove_if_exists(manifest.manifest_path());
    return done;
  }
  int64_t n_bad = 0;
  for (const auto& kv : rec) {  // 3.
    const ShardEntry& e = kv.second;
    if (e.shard_id < 0 || e.shard_id >= static_cast<int32_t>(shards.size())) continue;
    const ShardSpec& spec = shards[e.shard_id];
    std::string path = path_join(out_dir, e.file_name);
    bool ok = spec.file_name == e.file_name && e.n_rows == static_cast<int64_t>(spec.rows.size()) &&
              (h5 ? h5->shard_matches(e, params)
                  : file_size_or_neg(path) == static_cast<int64_t>(e.file_bytes) && file_crc32c(path) == e.file_crc32c);
    if (ok) {
      done[e.shard_id] = e;
    } else {
      ++n_bad;
      log_warn("shard %s does not match its manifest entry; it will be written again", path.c_str());
    }
  }
  log_info("resuming: %zu of %zu shards already complete and verified%s", done.size(), shards.size(),
           n_bad ? " (some failed verification)" : "");
  return done;
}

}  // namespace bend
