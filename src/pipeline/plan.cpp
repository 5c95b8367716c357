#include "bend/pipeline/plan.hpp"

#include <algorithm>
#include <climits>

#include "bend/core/error.hpp"
#include "bend/store/tfrecord.hpp"
#include "bend/task/bed.hpp"

namespace bend {

static std::vector<int32_t> selected_splits(const BedTable& bed, const EmbedParams& params) {
  std::vector<int32_t> ids;
  if (params.splits.empty()) {
    for (size_t i = 0; i < bed.split_names.size(); ++i) ids.push_back(static_cast<int32_t>(i));
    return ids;
  }
  for (const std::string& s : params.splits) {
    auto it = std::find(bed.split_names.begin(), bed.split_names.end(), s);
    if (it == bed.split_names.end()) {
      std::string known;
      for (const auto& n : bed.split_names) known += (known.empty() ? "" : ", ") + n;
      fail("%s: no rows of split '%s' (splits in the file: %s)", bed.path.c_str(), s.c_str(),
           known.c_str());
    }
    ids.push_back(static_cast<int32_t>(it - bed.split_names.begin()));
  }
  return ids;
}

std::vector<ShardSpec> plan_shards(const BedTable& bed, const EmbedParams& params) {
  if (params.shard_rows < 1) fail("--shard-rows must be at least 1 (got %lld)", (long long)params.shard_rows);
  const char* suffix = compression_suffix(parse_compression(params.compression));
  std::vector<int32_t> splits = selected_splits(bed, params);
  if (bed.rows.size() > static_cast<size_t>(INT32_MAX)) {
    fail("%s: %zu data rows; one run embeds at most %d (split the BED file)", bed.path.c_str(), bed.rows.size(),
         INT32_MAX);
  }
  // Each split's rows in BED order, a shard at a time (one scan per split: no list of all rows
  // beside the shards' own).
  std::vector<ShardSpec> shards;
  for (int32_t split : splits) {
    ShardSpec s;
    auto close_shard = [&] {
      s.shard_id = static_cast<int32_t>(shards.size());
      s.split_id = split;
      s.file_name = strfmt("%s-%05d.tfrecord%s", bed.split_names[split].c_str(), s.index_in_split, suffix);
      if (params.format == "hdf5") s.file_name = bed.split_names[split] + ".h5";  // rows of one file
      const int32_t next_index = s.index_in_split + 1;
      shards.push_back(std::move(s));
      s = ShardSpec();
      s.index_in_split = next_index;
    };
    for (size_t i = 0; i < bed.rows.size(); ++i) {
      const Region& reg = bed.rows[i];
      if (reg.split_id != split) continue;
      s.rows.push_back(static_cast<int32_t>(i));
      s.n_bp += reg.end_bp - reg.start_bp + 2 * params.flank_bp;
      if (static_cast<int64_t>(s.rows.size()) == params.shard_rows) close_shard();
    }
    if (!s.rows.empty()) close_shard();
  }
  return shards;
}

ShardSpec queue_entry(const ShardSpec& spec) {
  ShardSpec q;
  q.shard_id = spec.shard_id;
  q.split_id = spec.split_id;
  q.index_in_split = spec.index_in_split;
  q.n_bp = spec.n_bp;
  q.file_name = spec.file_name;
  return q;
}

}  // namespace bend
