// Torch-free helpers of the model-zoo models (src/models/zoo_util.hpp).
#include "zoo_util.hpp"

#include <unistd.h>

#include <set>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/safetensors.hpp"

namespace bend {
namespace zoo {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

nlohmann::json parse_json_object(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("%s: not valid JSON (%s)", where.c_str(), e.what());
  }
  if (!j.is_object()) fail("%s: not a JSON object", where.c_str());
  return j;
}

int64_t json_int(const nlohmann::json& j, const char* key, const std::string& where,
                 int64_t fallback, bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) fail("%s: missing key \"%s\"", where.c_str(), key);
    return fallback;
  }
  const nlohmann::json& v = j[key];
  if (!v.is_number_integer())
    fail("%s: \"%s\" must be an integer, got %s", where.c_str(), key, v.dump().c_str());
  return v.get<int64_t>();
}

double json_number(const nlohmann::json& j, const char* key, const std::string& where,
                   double fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const nlohmann::json& v = j[key];
  if (!v.is_number())
    fail("%s: \"%s\" must be a number, got %s", where.c_str(), key, v.dump().c_str());
  return v.get<double>();
}

bool json_bool(const nlohmann::json& j, const char* key, const std::string& where, bool fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  const nlohmann::json& v = j[key];
  if (!v.is_boolean())
    fail("%s: \"%s\" must be true or false, got %s", where.c_str(), key, v.dump().c_str());
  return v.get<bool>();
}

std::string set_config_keys(const std::string& json_text,
                            const std::map<std::string, std::string>& json_values,
                            const std::string& where) {
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail("%s: not valid JSON (%s)", where.c_str(), e.what());
  }
  if (!j.is_object()) fail("%s: not a JSON object", where.c_str());
  for (const auto& kv : json_values) {
    nlohmann::ordered_json value;
    try {
      value = nlohmann::ordered_json::parse(kv.second);
    } catch (const nlohmann::json::exception& e) {
      fail("%s: value of \"%s\" is not JSON: %s", where.c_str(), kv.first.c_str(),
           kv.second.c_str());
    }
    const size_t dot = kv.first.find('.');
    if (dot == std::string::npos) {
      j[kv.first] = value;
      continue;
    }
    nlohmann::ordered_json& parent = j[kv.first.substr(0, dot)];
    if (!parent.is_null() && !parent.is_object())
      fail("%s: \"%s\" is not an object", where.c_str(), kv.first.substr(0, dot).c_str());
    parent[kv.first.substr(dot + 1)] = value;
  }
  return j.dump(2) + "\n";
}

void check_tensors(const SafetensorsFile& weights, const std::vector<ExpectedTensor>& expected,
                   bool (*ignored)(const std::string& name), const std::string& what) {
  std::set<std::string> known;
  std::string missing, misshaped, unexpected;
  for (const ExpectedTensor& e : expected) {
    known.insert(e.name);
    if (!weights.has(e.name)) {
      if (!e.optional) missing += (missing.empty() ? "" : ", ") + e.name;
      continue;
    }
    const TensorInfo& t = weights.info(e.name);
    const bool is_float =
        t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16" || t.dtype == "F64";
    if (t.shape != e.shape || !is_float) {
      misshaped += (misshaped.empty() ? "" : ", ") + e.name + " (expected F32 " +
                   shape_str(e.shape) + ", got " + t.dtype + " " + shape_str(t.shape) + ")";
    }
  }
  for (const auto& kv : weights.tensors()) {
    if (known.count(kv.first) || ignored(kv.first)) continue;
    unexpected += (unexpected.empty() ? "" : ", ") + kv.first;
  }
  if (missing.empty() && misshaped.empty() && unexpected.empty()) return;
  std::string msg = weights.path() + ": " + what;
  if (!missing.empty()) msg += "; missing tensors: " + missing;
  if (!misshaped.empty()) msg += "; mis-shaped tensors: " + misshaped;
  if (!unexpected.empty()) msg += "; unexpected tensors: " + unexpected;
  throw Error(msg);
}

std::string strip_slashes(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d;
}

std::string begin_checkpoint_dir(const std::string& dir) {
  if (path_exists(dir) && !list_dir(dir).empty())
    fail("%s: already exists and is not empty; refusing to overwrite a checkpoint", dir.c_str());
  make_dirs(dir_name(dir));
  const std::string tmp = dir + ".tmp";
  if (path_exists(tmp)) {  // left by an interrupted write (files only; we never nest)
    for (const std::string& name : list_dir(tmp)) remove_if_exists(path_join(tmp, name));
    if (::rmdir(tmp.c_str()) != 0) fail("%s: cannot remove stale directory", tmp.c_str());
  }
  make_dirs(tmp);
  return tmp;
}

void finish_checkpoint_dir(const std::string& tmp, const std::string& dir) {
  fsync_dir(tmp);
  if (path_exists(dir) && ::rmdir(dir.c_str()) != 0)  // an empty directory given as --out
    fail("%s: cannot replace the empty directory", dir.c_str());
  rename_durable(tmp, dir);
}

uint32_t files_crc32c(const std::vector<std::string>& paths) {
  uint32_t crc = 0;
  for (const std::string& p : paths) {
    if (!path_exists(p)) continue;
    const uint32_t file_crc = weights_crc32c(p);  // streamed; a shard index: all its shards
    unsigned char le[4] = {uint8_t(file_crc), uint8_t(file_crc >> 8), uint8_t(file_crc >> 16),
                           uint8_t(file_crc >> 24)};
    crc = crc32c_extend(crc, le, sizeof le);
  }
  return crc;
}

}  // namespace zoo
}  // namespace bend
