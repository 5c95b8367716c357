// Sharded safetensors checkpoints: model.safetensors.index.json and its shards, presented by
// SafetensorsFile as one file (bend/models/safetensors.hpp). No torch here.
#include <nlohmann/json.hpp>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/safetensors.hpp"

namespace bend {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The index's weight_map as (tensor, shard file name) pairs, and its shards in order of first
// mention. Throws naming the index for bad JSON, a missing weight_map, non-string file names or
// names that leave the index's folder.
void read_weight_map(const std::string& index_path,
                     std::vector<std::pair<std::string, std::string>>& entries,
                     std::vector<std::string>& shards) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(index_path));
  } catch (const nlohmann::json::exception& e) {
    fail("%s: shard index is not valid JSON (%s)", index_path.c_str(), e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    fail("%s: shard index has no \"weight_map\" object (tensor name -> shard file)",
         index_path.c_str());
  }
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) {
      fail("%s: weight_map entry '%s' is not a file name", index_path.c_str(), it.key().c_str());
    }
    const std::string file = it.value().get<std::string>();
    if (file.empty() || file[0] == '/' || file.find("..") != std::string::npos) {
      fail("%s: weight_map entry '%s' names shard '%s' outside the index's folder",
           index_path.c_str(), it.key().c_str(), file.c_str());
    }
    entries.push_back({it.key(), file});
    bool seen = false;
    for (const std::string& s : shards) seen = seen || s == file;
    if (!seen) shards.push_back(file);
  }
  if (entries.empty()) fail("%s: shard index lists no tensors", index_path.c_str());
}

}  // namespace

bool is_safetensors_index(const std::string& path) {
  return ends_with(path, ".index.json");
}

// 1. Read the weight map. 2. Map each shard (a missing one is named with a tensor it should
// hold), refusing a tensor held by two shards. 3. Check every listed tensor is in its shard and
// every shard tensor is listed.
void SafetensorsFile::open_index() {
  const char* ip = path_.c_str();
  std::vector<std::pair<std::string, std::string>> entries;
  std::vector<std::string> shards;
  read_weight_map(path_, entries, shards);
  const std::string dir = dir_name(path_);
  for (size_t i = 0; i < shards.size(); i++) {
    const std::string shard_path = path_join(dir, shards[i]);
    if (!path_exists(shard_path)) {
      size_t n = 0;
      std::string example;
      for (const auto& e : entries) {
        if (e.second != shards[i]) continue;
        if (n++ == 0) example = e.first;
      }
      fail("%s: shard %s is missing (the index lists %zu tensors in it, e.g. '%s')", ip,
           shard_path.c_str(), n, example.c_str());
    }
    std::map<std::string, TensorInfo> shard_tensors;
    open_file(shard_path, static_cast<uint32_t>(i), shard_tensors);
    for (const auto& kv : shard_tensors) {
      auto prev = tensors_.find(kv.first);
      if (prev != tensors_.end()) {
        fail("%s: tensor '%s' is in two shards: %s and %s", ip, kv.first.c_str(),
             files_[prev->second.file].path.c_str(), shard_path.c_str());
      }
      tensors_[kv.first] = kv.second;
    }
  }
  std::map<std::string, std::string> listed;
  for (const auto& e : entries) {
    listed[e.first] = e.second;
    auto it = tensors_.find(e.first);
    const std::string want = path_join(dir, e.second);
    if (it == tensors_.end()) {
      fail("%s: tensor '%s' is listed in shard %s, which does not hold it", ip, e.first.c_str(),
           want.c_str());
    }
    if (files_[it->second.file].path != want) {
      fail("%s: tensor '%s' is listed in shard %s but is in %s", ip, e.first.c_str(), want.c_str(),
           files_[it->second.file].path.c_str());
    }
  }
  for (const auto& kv : tensors_) {
    if (!listed.count(kv.first)) {
      fail("%s: shard %s holds tensor '%s', which the index does not list", ip,
           files_[kv.second.file].path.c_str(), kv.first.c_str());
    }
  }
}

std::string checkpoint_weights_path(const std::string& dir) {
  const std::string single = path_join(dir, "model.safetensors");
  if (path_exists(single)) return single;
  const std::string index = path_join(dir, "model.safetensors.index.json");
  if (path_exists(index)) return index;
  fail("%s: no model.safetensors (nor a sharded model.safetensors.index.json) in the checkpoint",
       dir.c_str());
}

uint32_t weights_crc32c(const std::string& path) {
  if (!is_safetensors_index(path)) return file_crc32c(path);
  const std::string text = read_file(path);
  uint32_t crc = crc32c_extend(0, text.data(), text.size());
  std::vector<std::pair<std::string, std::string>> entries;
  std::vector<std::string> shards;
  read_weight_map(path, entries, shards);
  for (const std::string& s : shards) {
    const uint32_t c = file_crc32c(path_join(dir_name(path), s));
    const unsigned char le[4] = {uint8_t(c), uint8_t(c >> 8), uint8_t(c >> 16), uint8_t(c >> 24)};
    crc = crc32c_extend(crc, le, sizeof le);
  }
  return crc;
}

}  // namespace bend
