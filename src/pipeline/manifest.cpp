#include "bend/pipeline/manifest.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/pipeline/plan.hpp"
#include "bend/pipeline/work.hpp"

namespace bend {

static std::mutex g_journal_mutex;

ShardEntry shard_entry_from_done(const ShardDone& d, const ShardSpec& spec, const std::string& split) {
  ShardEntry e;
  e.shard_id = d.shard_id;
  e.file_name = spec.file_name;
  e.split = split;
  e.n_rows = static_cast<int64_t>(spec.rows.size());
  e.n_records = d.n_records;
  e.n_bp = d.n_bp;
  e.file_bytes = d.file_bytes;
  e.file_crc32c = d.file_crc32c;
  return e;
}

nlohmann::json shard_entry_json(const ShardEntry& e) {
  return nlohmann::json{{"shard", e.shard_id},       {"file", e.file_name},
                        {"split", e.split},          {"rows", e.n_rows},
                        {"records", e.n_records},    {"nt", e.n_bp},
                        {"bytes", e.file_bytes},     {"crc32c", strfmt("%08x", e.file_crc32c)}};
}

ShardEntry shard_entry_from_json(const nlohmann::json& j) {
  ShardEntry e;
  e.shard_id = j.at("shard").get<int32_t>();
  e.file_name = j.at("file").get<std::string>();
  e.split = j.at("split").get<std::string>();
  e.n_rows = j.at("rows").get<int64_t>();
  e.n_records = j.at("records").get<int64_t>();
  e.n_bp = j.at("nt").get<int64_t>();
  e.file_bytes = j.at("bytes").get<uint64_t>();
  // Strictly 8 hex digits (std::stoul took "12zz" as 0x12 and threw a bare "stoul" on "zz").
  const std::string crc = j.at("crc32c").get<std::string>();
  e.file_crc32c = 0;
  for (size_t i = 0; i < crc.size() || i < 8; ++i) {
    const char c = i < crc.size() ? crc[i] : '?';
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0 || crc.size() != 8) fail("manifest shard %d: crc32c \"%s\" is not 8 hex digits", e.shard_id, crc.c_str());
    e.file_crc32c = (e.file_crc32c << 4) | static_cast<uint32_t>(d);
  }
  return e;
}

RunManifest::RunManifest(std::string out_dir, std::string format)
    : out_dir_(std::move(out_dir)),
      manifest_path_(path_join(out_dir_, "manifest.json")),
      journal_path_(path_join(out_dir_, "manifest.journal")),
      format_(std::move(format)) {}

RunManifest::~RunManifest() {
  if (journal_fd_ >= 0) close(journal_fd_);
}

bool RunManifest::load(nlohmann::json& doc) const {
  if (!path_exists(manifest_path_)) return false;
  try {
    doc = nlohmann::json::parse(read_file(manifest_path_));
  } catch (const nlohmann::json::exception& e) {
    fail("%s: not a valid manifest (%s); remove the output directory or use --overwrite",
         manifest_path_.c_str(), e.what());
  }
  if (doc.value("format", "") != format_) {
    fail("%s: not a %s (\"format\" is not \"%s\")", manifest_path_.c_str(),
         format_ == "bend-embed-manifest" ? "bend embed manifest" : "bend variants manifest", format_.c_str());
  }
  return true;
}

std::map<int32_t, ShardEntry> RunManifest::recorded_shards(const nlohmann::json* doc) const {
  std::map<int32_t, ShardEntry> out;
  if (doc && doc->contains("shards")) {
    for (const auto& j : doc->at("shards")) {
      ShardEntry e = shard_entry_from_json(j);
      out[e.shard_id] = e;
    }
  }
  if (!path_exists(journal_path_)) return out;
  std::string text = read_file(journal_path_);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // torn last line: the shard is redone
    try {
      ShardEntry e = shard_entry_from_json(nlohmann::json::parse(text.substr(pos, nl - pos)));
      out[e.shard_id] = e;
    } catch (const std::exception&) {
      // a damaged line only costs redoing that shard
    }
    pos = nl + 1;
  }
  return out;
}

void add_shard_tables(nlohmann::json& doc, const std::vector<ShardSpec>& planned,
                      const std::vector<std::string>& split_names,
                      const std::map<int32_t, ShardEntry>& done) {
  nlohmann::json splits = nlohmann::json::object();
  for (const ShardSpec& sh : planned) {
    nlohmann::json& sp = splits[split_names[sh.split_id]];
    if (sp.is_null()) sp = {{"rows", 0}, {"shards", 0}};
    sp["rows"] = sp["rows"].get<int64_t>() + static_cast<int64_t>(sh.rows.size());
    sp["shards"] = sp["shards"].get<int64_t>() + 1;
  }
  doc["splits"] = splits;
  doc["planned_shards"] = planned.size();
  nlohmann::json shards = nlohmann::json::array();
  int64_t rows = 0, bytes = 0, nt = 0;
  for (const auto& kv : done) {
    shards.push_back(shard_entry_json(kv.second));
    rows += kv.second.n_rows;
    bytes += static_cast<int64_t>(kv.second.file_bytes);
    nt += kv.second.n_bp;
  }
  doc["shards"] = shards;
  doc["totals"] = {{"rows", rows}, {"nt", nt}, {"bytes", bytes}, {"shards", done.size()}};
}

void RunManifest::write(const nlohmann::json& doc) const {
  write_file_atomic(manifest_path_, doc.dump(1) + "\n");
}

void RunManifest::append_journal(const ShardEntry& e) {
  std::lock_guard<std::mutex> lock(g_journal_mutex);
  if (journal_fd_ < 0) {
    journal_fd_ = open(journal_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (journal_fd_ < 0) fail("cannot open '%s': %s", journal_path_.c_str(), std::strerror(errno));
  }
  std::string line = shard_entry_json(e).dump() + "\n";
  // No fdatasync per line: a line lost in a crash only means that shard is written again on
  // resume (recorded shards are verified by size and CRC32C before they are trusted anyway).
  ssize_t n = ::write(journal_fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) {
    fail("cannot append to '%s': %s", journal_path_.c_str(), std::strerror(errno));
  }
}

void RunManifest::remove_journal() const { remove_if_exists(journal_path_); }

std::vector<std::string> RunManifest::diff_params(const nlohmann::json& a, const nlohmann::json& b) {
  std::vector<std::string> out;
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (!b.contains(it.key())) {
      out.push_back(it.key() + ": " + it.value().dump() + " -> (none)");
    } else if (b.at(it.key()) != it.value()) {
      out.push_back(it.key() + ": " + it.value().dump() + " -> " + b.at(it.key()).dump());
    }
  }
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!a.contains(it.key())) out.push_back(it.key() + ": (none) -> " + it.value().dump());
  }
  return out;
}

}  // namespace bend
