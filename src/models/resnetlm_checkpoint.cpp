// ResNet LM checkpoints without torch: config.json, the expected weights, their validation,
// and seeded checkpoints for tests and demos.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/char_tokenizer.hpp"
#include "bend/models/resnetlm.hpp"
#include "bend/models/safetensors.hpp"
#include "seeded_normal.hpp"

namespace bend {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

int64_t config_int(const nlohmann::json& j, const char* key, const std::string& path) {
  if (!j.contains(key)) fail("%s: missing key \"%s\"", path.c_str(), key);
  const nlohmann::json& v = j[key];
  if (!v.is_number_integer()) {
    fail("%s: \"%s\" must be an integer, got %s", path.c_str(), key, v.dump().c_str());
  }
  return v.get<int64_t>();
}

// Removes a stale "<dir>.tmp" left by an interrupted write (files only; we never nest).
void remove_stale_dir(const std::string& dir) {
  if (!path_exists(dir)) return;
  for (const std::string& name : list_dir(dir)) remove_if_exists(path_join(dir, name));
  if (::rmdir(dir.c_str()) != 0) fail("%s: cannot remove stale directory", dir.c_str());
}

}  // namespace

void validate_resnetlm_config(const ResNetLMConfig& cfg, const std::string& where) {
  const std::pair<const char*, int64_t> positive[] = {
      {"vocab_size", cfg.vocab_size},
      {"hidden_size", cfg.hidden_size},
      {"n_layers", cfg.n_layers},
      {"kernel_size", cfg.kernel_size},
      {"dilation_double_every", cfg.dilation_double_every},
      {"dilation_max", cfg.dilation_max},
      {"dilation_cycle", cfg.dilation_cycle}};
  for (const auto& kv : positive) {
    if (kv.second < 1)
      fail("%s: \"%s\" must be >= 1, got %lld", where.c_str(), kv.first, (long long)kv.second);
  }
  if (cfg.vocab_size > cfg.hidden_size) {
    fail(
        "%s: vocab_size %lld > hidden_size %lld: the one-hot input needs hidden_size >= "
        "vocab_size",
        where.c_str(), (long long)cfg.vocab_size, (long long)cfg.hidden_size);
  }
  if (!(cfg.initializer_range >= 0)) {
    fail("%s: \"initializer_range\" must be >= 0, got %g", where.c_str(), cfg.initializer_range);
  }
}

ResNetLMConfig read_resnetlm_config(const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail("%s: not valid JSON (%s)", path.c_str(), e.what());
  }
  if (!j.is_object()) fail("%s: not a JSON object", path.c_str());
  ResNetLMConfig cfg;
  cfg.vocab_size = config_int(j, "vocab_size", path);
  cfg.hidden_size = config_int(j, "hidden_size", path);
  cfg.n_layers = config_int(j, "n_layers", path);
  cfg.kernel_size = config_int(j, "kernel_size", path);
  cfg.dilation_double_every = config_int(j, "dilation_double_every", path);
  cfg.dilation_max = config_int(j, "dilation_max", path);
  cfg.dilation_cycle = config_int(j, "dilation_cycle", path);
  if (j.contains("initializer_range")) {
    if (!j["initializer_range"].is_number())
      fail("%s: \"initializer_range\" must be a number", path.c_str());
    cfg.initializer_range = j["initializer_range"].get<double>();
  }
  validate_resnetlm_config(cfg, path);
  return cfg;
}

std::string resnetlm_config_json(const ResNetLMConfig& cfg) {
  nlohmann::ordered_json j;
  j["model_type"] = "ConvNet";
  j["architectures"] = {"ConvNetModel"};
  j["vocab_size"] = cfg.vocab_size;
  j["hidden_size"] = cfg.hidden_size;
  j["n_layers"] = cfg.n_layers;
  j["kernel_size"] = cfg.kernel_size;
  j["dilation_double_every"] = cfg.dilation_double_every;
  j["dilation_max"] = cfg.dilation_max;
  j["dilation_cycle"] = cfg.dilation_cycle;
  j["initializer_range"] = cfg.initializer_range;
  return j.dump(2) + "\n";
}

int64_t resnetlm_dilation(const ResNetLMConfig& cfg, int64_t layer) {
  const int64_t exponent = (layer % cfg.dilation_cycle) / cfg.dilation_double_every;
  if (exponent >= 62) return cfg.dilation_max;
  return std::min<int64_t>(cfg.dilation_max, int64_t(1) << exponent);
}

std::vector<std::pair<std::string, std::vector<int64_t>>> resnetlm_tensor_shapes(
    const ResNetLMConfig& cfg) {
  const int64_t h = cfg.hidden_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (int64_t i = 0; i < cfg.n_layers; i++) {
    const std::string p = "encoder." + std::to_string(i) + ".";
    out.push_back({p + "conv.1.weight", {h, h, cfg.kernel_size}});
    out.push_back({p + "conv.1.bias", {h}});
    out.push_back({p + "conv.4.weight", {h}});
    out.push_back({p + "conv.4.bias", {h}});
    out.push_back({p + "ffn.0.weight", {h, h}});
    out.push_back({p + "ffn.0.bias", {h}});
    out.push_back({p + "ffn.2.weight", {h}});
    out.push_back({p + "ffn.2.bias", {h}});
  }
  return out;
}

std::string check_resnetlm_weights(const SafetensorsFile& weights, const ResNetLMConfig& cfg) {
  std::string prefix;
  for (const auto& kv : weights.tensors()) {
    if (starts_with(kv.first, "model.encoder.")) prefix = "model.";
  }
  std::set<std::string> expected;
  std::string missing, misshaped, unexpected;
  for (const auto& ns : resnetlm_tensor_shapes(cfg)) {
    const std::string name = prefix + ns.first;
    expected.insert(name);
    if (!weights.has(name)) {
      missing += (missing.empty() ? "" : ", ") + name;
      continue;
    }
    const TensorInfo& t = weights.info(name);
    const bool is_float =
        t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16" || t.dtype == "F64";
    if (t.shape != ns.second || !is_float) {
      misshaped += (misshaped.empty() ? "" : ", ") + name + " (expected F32 " +
                   shape_str(ns.second) + ", got " + t.dtype + " " + shape_str(t.shape) + ")";
    }
  }
  for (const auto& kv : weights.tensors()) {
    if (expected.count(kv.first) || starts_with(kv.first, "cls.") ||
        starts_with(kv.first, "model.cls.")) {
      continue;
    }
    unexpected += (unexpected.empty() ? "" : ", ") + kv.first;
  }
  if (missing.empty() && misshaped.empty() && unexpected.empty()) return prefix;
  std::string msg = strfmt(
      "%s: weights do not match the config (hidden_size %lld, n_layers %lld, "
      "kernel_size %lld)",
      weights.path().c_str(), (long long)cfg.hidden_size, (long long)cfg.n_layers,
      (long long)cfg.kernel_size);
  if (!missing.empty()) msg += "; missing tensors: " + missing;
  if (!misshaped.empty()) msg += "; mis-shaped tensors: " + misshaped;
  if (!unexpected.empty()) msg += "; unexpected tensors: " + unexpected;
  throw Error(msg);
}

void write_seeded_resnetlm_checkpoint(const std::string& dir_arg, const ResNetLMConfig& cfg,
                                      uint64_t seed) {
  std::string dir = dir_arg;  // "ckpt/" -> "ckpt", so that the temporary is a sibling
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  validate_resnetlm_config(cfg, dir);
  if (cfg.vocab_size < 7) {
    fail("%s: vocab_size %lld < 7: the seeded tokenizer has 7 tokens", dir.c_str(),
         (long long)cfg.vocab_size);
  }
  if (path_exists(dir) && !list_dir(dir).empty()) {
    fail("%s: already exists and is not empty; refusing to overwrite a checkpoint", dir.c_str());
  }
  make_dirs(dir_name(dir));
  const std::string tmp = dir + ".tmp";
  remove_stale_dir(tmp);
  make_dirs(tmp);

  NormalGen gen{SplitMix64{seed}};
  std::vector<F32Tensor> tensors;
  for (const auto& ns : resnetlm_tensor_shapes(cfg)) {
    F32Tensor t{ns.first, ns.second, {}};
    size_t n = 1;
    for (int64_t d : ns.second) n *= static_cast<size_t>(d);
    const bool is_norm = ns.first.find(".conv.4.") != std::string::npos ||
                         ns.first.find(".ffn.2.") != std::string::npos;
    const bool is_bias =
        ns.first.size() > 5 && ns.first.compare(ns.first.size() - 5, 5, ".bias") == 0;
    const double mean = (is_norm && !is_bias) ? 1.0 : 0.0;
    const double sd = is_bias ? 0.05 : (is_norm ? 0.1 : cfg.initializer_range);
    t.values.resize(n);
    for (size_t k = 0; k < n; k++) t.values[k] = static_cast<float>(mean + sd * gen.next());
    tensors.push_back(std::move(t));
  }
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"bend_arch", "resnetlm"}, {"bend_seed", std::to_string(seed)}};
  write_safetensors(path_join(tmp, "model.safetensors"), tensors, meta);
  write_file_atomic(path_join(tmp, "config.json"), resnetlm_config_json(cfg));
  write_char_tokenizer(path_join(tmp, "tokenizer.json"),
                       {"[PAD]", "[MASK]", "[UNK]", "a", "c", "g", "t"}, "[UNK]", true);
  fsync_dir(tmp);
  rename_durable(tmp, dir);
}

}  // namespace bend
