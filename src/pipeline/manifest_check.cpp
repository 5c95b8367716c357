#include "bend/pipeline/manifest_check.hpp"

#include <set>

#include "bend/core/error.hpp"
#include "bend/task/bed.hpp"

namespace bend {
namespace {

using nlohmann::json;

long long ll(int64_t v) { return static_cast<long long>(v); }

const json& field(const json& j, const char* key, const std::string& where) {
  if (!j.is_object()) fail("%s: expected an object, found %s", where.c_str(), j.type_name());
  auto it = j.find(key);
  if (it == j.end()) fail("%s: field \"%s\" is missing", where.c_str(), key);
  return *it;
}

// A non-negative integer field no larger than `max`.
int64_t count_field(const json& j, const char* key, const std::string& where,
                    int64_t max = INT64_MAX) {
  const json& v = field(j, key, where);
  if (!v.is_number_integer()) {
    fail("%s: field \"%s\" is %s, expected a non-negative integer", where.c_str(), key,
         v.dump().c_str());
  }
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) fail("%s: field \"%s\" = %s is too large", where.c_str(), key, v.dump().c_str());
    return static_cast<int64_t>(u);
  }
  const int64_t x = v.get<int64_t>();
  if (x < 0 || x > max) {
    fail("%s: field \"%s\" = %lld is outside 0..%lld", where.c_str(), key, ll(x), ll(max));
  }
  return x;
}

std::string string_field(const json& j, const char* key, const std::string& where) {
  const json& v = field(j, key, where);
  if (!v.is_string()) fail("%s: field \"%s\" is %s, expected a string", where.c_str(), key, v.dump().c_str());
  return v.get<std::string>();
}

uint32_t crc_field(const json& j, const std::string& where) {
  const std::string s = string_field(j, "crc32c", where);
  uint32_t v = 0;
  bool ok = s.size() == 8;
  for (size_t i = 0; ok && i < s.size(); ++i) {
    const char c = s[i];
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    ok = d >= 0;
    v = (v << 4) | static_cast<uint32_t>(d < 0 ? 0 : d);
  }
  if (!ok) fail("%s: field \"crc32c\" is \"%s\", expected 8 hex digits", where.c_str(), s.c_str());
  return v;
}

}  // namespace

ShardEntry parse_shard_entry(const json& j, const std::string& where, bool task_names) {
  ShardEntry e;
  e.shard_id = static_cast<int32_t>(count_field(j, "shard", where, INT32_MAX));
  const std::string at = where + " (shard " + std::to_string(e.shard_id) + ")";
  e.file_name = string_field(j, "file", at);
  e.split = string_field(j, "split", at);
  const std::string why = task_names ? split_name_problem(e.split) : "";
  if (!why.empty()) fail("%s: split name \"%s\" %s", at.c_str(), e.split.c_str(), why.c_str());
  if (e.file_name.empty() || e.file_name[0] == '.' || e.file_name.find('/') != std::string::npos ||
      (task_names && e.file_name.compare(0, e.split.size(), e.split) != 0)) {
    fail("%s: file \"%s\" is not a file name of split \"%s\" in the output directory", at.c_str(),
         e.file_name.c_str(), e.split.c_str());
  }
  e.n_rows = count_field(j, "rows", at);
  e.n_records = count_field(j, "records", at);
  e.n_bp = count_field(j, "nt", at);
  e.file_bytes = static_cast<uint64_t>(count_field(j, "bytes", at));
  e.file_crc32c = crc_field(j, at);
  return e;
}

ManifestFacts check_manifest(const json& doc, const std::string& path) {
  ManifestFacts f;
  if (!doc.is_object() || !doc.contains("format") || doc["format"] != "bend-embed-manifest") {
    fail("%s: not a bend embed manifest (\"format\" is not \"bend-embed-manifest\")", path.c_str());
  }
  f.status = string_field(doc, "status", path);
  if (f.status != "running" && f.status != "stopped" && f.status != "complete") {
    fail("%s: field \"status\" is \"%s\", expected running, stopped or complete", path.c_str(),
         f.status.c_str());
  }
  f.planned_shards = count_field(doc, "planned_shards", path, INT32_MAX);
  const json& model = field(doc, "model", path);
  string_field(model, "name", path + ": model");
  if (count_field(model, "dim", path + ": model") < 1) fail("%s: model dim must be at least 1", path.c_str());

  // bend genome's "splits" are chromosomes (any name; its file names are sanitised copies).
  const bool task_names = doc.value("command", "") != "genome";
  const json& shards = field(doc, "shards", path);
  if (!shards.is_array()) fail("%s: field \"shards\" is not an array", path.c_str());
  int64_t rows = 0, nt = 0, bytes = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> by_split;  // split -> (rows, shards)
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string where = path + strfmt(": shards[%zu]", i);
    ShardEntry e = parse_shard_entry(shards[i], where, task_names);
    if (e.shard_id >= f.planned_shards) {
      fail("%s: shard %d, but planned_shards is %lld", where.c_str(), e.shard_id, ll(f.planned_shards));
    }
    if (!f.shards.emplace(e.shard_id, e).second) fail("%s: shard %d is listed twice", where.c_str(), e.shard_id);
    rows += e.n_rows;
    nt += e.n_bp;
    bytes += static_cast<int64_t>(e.file_bytes);
    by_split[e.split].first += e.n_rows;
    by_split[e.split].second += 1;
  }
  const json& totals = field(doc, "totals", path);
  const std::string tw = path + ": totals";
  const int64_t t_rows = count_field(totals, "rows", tw), t_nt = count_field(totals, "nt", tw);
  const int64_t t_bytes = count_field(totals, "bytes", tw), t_shards = count_field(totals, "shards", tw);
  if (t_rows != rows || t_nt != nt || t_bytes != bytes || t_shards != static_cast<int64_t>(shards.size())) {
    fail("%s: totals say %lld shards, %lld rows, %lld nt, %lld bytes; the shards listed add up to "
         "%zu, %lld, %lld, %lld (manifest edited or damaged)",
         path.c_str(), ll(t_shards), ll(t_rows), ll(t_nt), ll(t_bytes), shards.size(), ll(rows),
         ll(nt), ll(bytes));
  }
  const json& splits = field(doc, "splits", path);
  if (!splits.is_object()) fail("%s: field \"splits\" is not an object", path.c_str());
  int64_t planned_sum = 0;
  for (auto it = splits.begin(); it != splits.end(); ++it) {
    const std::string sw = path + ": splits." + it.key();
    const std::string why = task_names ? split_name_problem(it.key()) : "";
    if (!why.empty()) fail("%s: split name %s", sw.c_str(), why.c_str());
    const int64_t s_rows = count_field(it.value(), "rows", sw);
    const int64_t s_shards = count_field(it.value(), "shards", sw);
    planned_sum += s_shards;
    if (f.status != "complete") continue;
    auto have = by_split.find(it.key());
    const int64_t h_rows = have == by_split.end() ? 0 : have->second.first;
    const int64_t h_shards = have == by_split.end() ? 0 : have->second.second;
    if (h_rows != s_rows || h_shards != s_shards) {
      fail("%s: %lld rows in %lld shards planned, but the shards listed hold %lld rows in %lld "
           "(manifest edited or damaged; rerun bend embed)",
           sw.c_str(), ll(s_rows), ll(s_shards), ll(h_rows), ll(h_shards));
    }
  }
  if (planned_sum != f.planned_shards) {
    fail("%s: planned_shards is %lld but the splits plan %lld shards", path.c_str(),
         ll(f.planned_shards), ll(planned_sum));
  }
  for (const auto& kv : by_split) {
    if (!splits.contains(kv.first)) {
      fail("%s: shards of split \"%s\" are listed, but \"splits\" has no such split", path.c_str(),
           kv.first.c_str());
    }
  }
  if (f.status == "complete" && static_cast<int64_t>(f.shards.size()) != f.planned_shards) {
    fail("%s: status complete but %zu of %lld planned shards are listed (manifest edited or "
         "damaged; rerun bend embed)",
         path.c_str(), f.shards.size(), ll(f.planned_shards));
  }
  return f;
}

}  // namespace bend
