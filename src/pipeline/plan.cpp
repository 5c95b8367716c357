#include "bend/pipeline/plan.hpp"

#include <algorithm>

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
  // Rows of each split in BED order.
  std::vector<std::vector<int64_t>> rows_of(bed.split_names.size());
  for (const Region& r : bed.rows) rows_of[r.split_id].push_back(r.row);

  std::vector<ShardSpec> shards;
  for (int32_t split : splits) {
    const std::vector<int64_t>& rows = rows_of[split];
    for (size_t first = 0; first < rows.size(); first += params.shard_rows) {
      ShardSpec s;
      s.shard_id = static_cast<int32_t>(shards.size());
      s.split_id = split;
      s.index_in_split = static_cast<int32_t>(first / params.shard_rows);
      size_t last = std::min(rows.size(), first + static_cast<size_t>(params.shard_rows));
      s.rows.assign(rows.begin() + first, rows.begin() + last);
      for (int64_t r : s.rows) {
        const Region& reg = bed.rows[r];
        s.n_bp += reg.end_bp - reg.start_bp + 2 * params.flank_bp;
      }
      s.file_name = strfmt("%s-%05d.tfrecord%s", bed.split_names[split].c_str(), s.index_in_split, suffix);
      if (params.format == "hdf5") s.file_name = bed.split_names[split] + ".h5";  // rows of one file
      shards.push_back(std::move(s));
    }
  }
  return shards;
}

}  // namespace bend
