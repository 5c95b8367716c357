// Private to src/models: torch-free helpers shared by the HyenaDNA, AWD-LSTM and TorchScript
// models (config.json fields, weight checks, atomic checkpoint directories, fingerprints).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bend {

class SafetensorsFile;

namespace zoo {

bool starts_with(const std::string& s, const std::string& prefix);
bool ends_with(const std::string& s, const std::string& suffix);
// "[2, 3]"
std::string shape_str(const std::vector<int64_t>& shape);

// Parses `text` as a JSON object; throws bend::Error naming `where` otherwise.
nlohmann::json parse_json_object(const std::string& text, const std::string& where);
// Integer / number / boolean field `key` of `j`, or `fallback` when absent or null (required:
// bend::Error when absent). Throws bend::Error naming `where` and the key for a wrong type.
int64_t json_int(const nlohmann::json& j, const char* key, const std::string& where,
                 int64_t fallback, bool required = false);
double json_number(const nlohmann::json& j, const char* key, const std::string& where,
                   double fallback);
bool json_bool(const nlohmann::json& j, const char* key, const std::string& where, bool fallback);

// Returns `json_text` with keys set to JSON values given as text; "a.b" sets key b of object a
// (created when absent). Throws bend::Error naming `where` for bad JSON in the file or a value.
std::string set_config_keys(const std::string& json_text,
                            const std::map<std::string, std::string>& json_values,
                            const std::string& where);

// One expected tensor of a checkpoint.
struct ExpectedTensor {
  std::string name;  // full name in the file
  std::vector<int64_t> shape;
  bool optional = false;
};
// Checks `weights` against `expected`: every non-optional tensor present with its shape and a
// float dtype, and no other tensor except those for which `ignored(name)` is true. Throws one
// bend::Error "<file>: <what>; missing tensors: ...; mis-shaped tensors: ... (expected F32 [..],
// got ..); unexpected tensors: ..." listing every problem.
void check_tensors(const SafetensorsFile& weights, const std::vector<ExpectedTensor>& expected,
                   bool (*ignored)(const std::string& name), const std::string& what);

// Prepares an atomic checkpoint write: refuses a non-empty `dir`, creates its parent, removes a
// stale "<dir>.tmp" and creates it empty. Returns the temporary directory. Throws bend::Error.
std::string begin_checkpoint_dir(const std::string& dir);
// Makes the temporary directory durable and renames it to `dir`.
void finish_checkpoint_dir(const std::string& tmp, const std::string& dir);
// `dir` without trailing slashes ("ckpt/" -> "ckpt").
std::string strip_slashes(const std::string& dir);

// CRC-32C over the CRC-32C of each existing file of `paths` (little-endian), in order; absent
// files are skipped; a shard index counts as its weights_crc32c (safetensors.hpp). Streams the
// files.
uint32_t files_crc32c(const std::vector<std::string>& paths);

}  // namespace zoo
}  // namespace bend
