// GPN checkpoints without torch: config.json, the expected weights with their Hugging Face
// names, their validation, and seeded checkpoints for tests and demos.
#include <algorithm>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/char_tokenizer.hpp"
#include "bend/models/gpn.hpp"
#include "bend/models/safetensors.hpp"
#include "seeded_normal.hpp"
#include "zoo_util.hpp"

namespace bend {

namespace {

std::string json_string(const nlohmann::json& j, const char* key, const std::string& where,
                        const std::string& fallback) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_string())
    fail("%s: \"%s\" must be a string, got %s", where.c_str(), key, j[key].dump().c_str());
  return j[key].get<std::string>();
}

void validate(const GpnConfig& c, const std::string& where) {
  const std::pair<const char*, int64_t> positive[] = {
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {c.legacy ? "n_layers" : "num_hidden_layers", c.num_hidden_layers},
      {"intermediate_size", c.intermediate_size},
      {c.legacy ? "kernel_size" : "first_kernel_size", c.first_kernel_size},
      {"rest_kernel_size", c.rest_kernel_size},
      {"dilation_double_every", c.dilation_double_every},
      {"dilation_max", c.dilation_max},
      {"dilation_cycle", c.dilation_cycle},
      {"dilation_base", c.dilation_base}};
  for (const auto& kv : positive) {
    if (kv.second < 1)
      fail("%s: \"%s\" must be >= 1, got %lld", where.c_str(), kv.first, (long long)kv.second);
  }
  if (!c.embedding_table && c.vocab_size > c.hidden_size) {
    fail(
        "%s: vocab_size %lld > hidden_size %lld: the one-hot input needs hidden_size >= vocab_size",
        where.c_str(), (long long)c.vocab_size, (long long)c.hidden_size);
  }
  if (!(c.initializer_range >= 0)) fail("%s: \"initializer_range\" must be >= 0", where.c_str());
}

// GPN-family tensors a checkpoint may carry that the model does not read: other heads.
bool is_ignored(const std::string& name) {
  return zoo::starts_with(name, "classifier.") || zoo::ends_with(name, ".position_ids");
}

}  // namespace

GpnConfig parse_gpn_config(const std::string& json_text, const std::string& where) {
  const nlohmann::json j = zoo::parse_json_object(json_text, where);
  const std::string type = json_string(j, "model_type", where, "");
  GpnConfig c;
  if (type == "ConvNet") {  // gpn/legacy.py ConvNetConfig
    c.legacy = true;
    c.bias = true;
    c.mlm_head_transform = true;
    c.num_hidden_layers = zoo::json_int(j, "n_layers", where, 25);
    c.first_kernel_size = c.rest_kernel_size = zoo::json_int(j, "kernel_size", where, 9);
    c.dilation_max = zoo::json_int(j, "dilation_max", where, 32);
    c.dilation_cycle = zoo::json_int(j, "dilation_cycle", where, 6);
  } else if (type == "GPN") {  // gpn/model.py GPNConfig
    const std::string encoder = json_string(j, "encoder", where, "convnet");
    if (encoder != "convnet") {
      fail("%s: \"encoder\": \"%s\" is not supported (bend runs GPN's \"convnet\" encoder)",
           where.c_str(), encoder.c_str());
    }
    const std::string embedding = json_string(j, "embedding", where, "one_hot");
    if (embedding != "one_hot" && embedding != "embedding")
      fail("%s: unknown \"embedding\": \"%s\" (one_hot, embedding)", where.c_str(),
           embedding.c_str());
    c.embedding_table = embedding == "embedding";
    c.num_hidden_layers = zoo::json_int(j, "num_hidden_layers", where, 25);
    c.intermediate_size = zoo::json_int(j, "intermediate_size", where, 2048);
    c.bias = zoo::json_bool(j, "bias", where, false);
    c.mlm_head_transform = zoo::json_bool(j, "mlm_head_transform", where, true);
    c.depthwise = zoo::json_bool(j, "depthwise", where, false);
    c.first_kernel_size = zoo::json_int(j, "first_kernel_size", where, 9);
    c.rest_kernel_size = zoo::json_int(j, "rest_kernel_size", where, 5);
    c.dilation_max = zoo::json_int(j, "dilation_max", where, 9999);
    c.dilation_cycle = zoo::json_int(j, "dilation_cycle", where, 8);
  } else {
    fail(
        "%s: \"model_type\" \"%s\" is not a GPN model (ConvNet: gpn-brassicales; GPN: "
        "gpn/model.py)",
        where.c_str(), type.c_str());
  }
  if (zoo::json_int(j, "n_aux_features", where, 0) != 0)
    fail("%s: \"n_aux_features\" > 0 is not supported (auxiliary input features)", where.c_str());
  c.vocab_size = zoo::json_int(j, "vocab_size", where, 7);
  c.hidden_size = zoo::json_int(j, "hidden_size", where, 512);
  c.dilation_double_every = zoo::json_int(j, "dilation_double_every", where, 1);
  c.dilation_base = zoo::json_int(j, "dilation_base", where, 2);
  c.initializer_range = zoo::json_number(j, "initializer_range", where, 0.02);
  validate(c, where);
  return c;
}

GpnConfig read_gpn_config(const std::string& path) {
  return parse_gpn_config(read_file(path), path);
}

int64_t gpn_dilation(const GpnConfig& c, int64_t layer) {
  const int64_t e = (layer % c.dilation_cycle) / c.dilation_double_every;
  int64_t d = 1;
  for (int64_t i = 0; i < e && d < c.dilation_max; i++) d *= c.dilation_base;
  return std::min(d, c.dilation_max);
}

int64_t gpn_kernel_size(const GpnConfig& c, int64_t layer) {
  return layer == 0 ? c.first_kernel_size : c.rest_kernel_size;
}

std::vector<GpnTensor> gpn_tensor_specs(const GpnConfig& c) {
  const int64_t h = c.hidden_size;
  std::vector<GpnTensor> out;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool bias_dim) {
    out.push_back({name + ".weight", shape});
    if (bias_dim) out.push_back({name + ".bias", {shape[0]}});
  };
  if (c.legacy) {
    for (int64_t i = 0; i < c.num_hidden_layers; i++) {
      const std::string p = "model.encoder." + std::to_string(i) + ".";
      add(p + "conv.1", {h, h, c.first_kernel_size}, true);
      add(p + "conv.4", {h}, true);
      add(p + "ffn.0", {h, h}, true);
      add(p + "ffn.2", {h}, true);
    }
    return out;
  }
  if (c.embedding_table)
    out.push_back({"model.embeddings.word_embeddings.weight", {c.vocab_size, h}});
  for (int64_t i = 0; i < c.num_hidden_layers; i++) {
    const std::string p = "model.encoder.layer." + std::to_string(i) + ".";
    const int64_t groups = (c.depthwise && i > 0) ? h : 1;
    add(p + "conv.0", {h}, c.bias);
    add(p + "conv.2", {h, h / groups, gpn_kernel_size(c, i)}, c.bias);
    add(p + "conv.5", {h, h}, c.bias);
    add(p + "ffn.0", {h}, c.bias);
    add(p + "ffn.1", {c.intermediate_size, h}, c.bias);
    add(p + "ffn.3", {h, c.intermediate_size}, c.bias);
  }
  add("model.ln_f", {h}, c.bias);
  return out;
}

std::vector<GpnTensor> gpn_head_tensor_specs(const GpnConfig& c) {
  const int64_t h = c.hidden_size;
  if (c.legacy) {
    return {{"cls.decoder.0.weight", {h, h}},
            {"cls.decoder.0.bias", {h}},
            {"cls.decoder.2.weight", {h}},
            {"cls.decoder.2.bias", {h}},
            {"cls.decoder.3.weight", {c.vocab_size, h}},
            {"cls.decoder.3.bias", {c.vocab_size}}};
  }
  std::vector<GpnTensor> out;
  if (c.mlm_head_transform) {
    out.push_back({"cls.transform.0.weight", {h, h}});
    if (c.bias) out.push_back({"cls.transform.0.bias", {h}});
    out.push_back({"cls.transform.2.weight", {h}});
    if (c.bias) out.push_back({"cls.transform.2.bias", {h}});
  }
  out.push_back({"cls.decoder.weight", {c.vocab_size, h}});
  if (c.bias) out.push_back({"cls.decoder.bias", {c.vocab_size}});
  return out;
}

void check_gpn_weights(const SafetensorsFile& weights, const GpnConfig& c, bool with_head) {
  std::vector<zoo::ExpectedTensor> expected;
  for (const GpnTensor& t : gpn_tensor_specs(c)) expected.push_back({t.first, t.second, false});
  for (const GpnTensor& t : gpn_head_tensor_specs(c))
    expected.push_back({t.first, t.second, !with_head});
  const std::string what = strfmt(
      "weights do not match the GPN %s config (hidden_size %lld, layers %lld, vocab_size %lld)%s",
      c.legacy ? "ConvNet" : "convnet", (long long)c.hidden_size, (long long)c.num_hidden_layers,
      (long long)c.vocab_size, with_head ? " with its masked-LM head (cls.*)" : "");
  zoo::check_tensors(weights, expected, is_ignored, what);
}

int64_t write_seeded_gpn_checkpoint(const std::string& dir_arg, const std::string& config_json_text,
                                    uint64_t seed) {
  const std::string dir = zoo::strip_slashes(dir_arg);
  const GpnConfig c = parse_gpn_config(config_json_text, path_join(dir, "config.json"));
  const std::string tmp = zoo::begin_checkpoint_dir(dir);
  NormalGen gen{SplitMix64{seed}};
  std::vector<GpnTensor> specs = gpn_tensor_specs(c);
  const size_t n_encoder = specs.size();
  for (const GpnTensor& t : gpn_head_tensor_specs(c)) specs.push_back(t);
  std::vector<F32Tensor> tensors;
  int64_t n_params = 0;
  for (size_t i = 0; i < specs.size(); i++) {
    const std::string& name = specs[i].first;
    size_t n = 1;
    for (int64_t d : specs[i].second) n *= static_cast<size_t>(d);
    if (i < n_encoder) n_params += static_cast<int64_t>(n);
    const bool bias = zoo::ends_with(name, ".bias");
    const bool norm = specs[i].second.size() == 1 && !bias;  // LayerNorm weights are 1-d
    const double mean = norm ? 1.0 : 0.0;
    const double sd = bias ? 0.05 : (norm ? 0.1 : c.initializer_range);
    F32Tensor t{name, specs[i].second, std::vector<float>(n)};
    for (size_t k = 0; k < n; k++) t.values[k] = static_cast<float>(mean + sd * gen.next());
    tensors.push_back(std::move(t));
  }
  write_safetensors(path_join(tmp, "model.safetensors"), tensors,
                    {{"format", "pt"}, {"bend_arch", "gpn"}, {"bend_seed", std::to_string(seed)}});
  write_file_atomic(path_join(tmp, "config.json"), config_json_text);
  write_char_tokenizer(path_join(tmp, "tokenizer.json"),
                       {"[PAD]", "[MASK]", "[UNK]", "a", "c", "g", "t"}, "[UNK]", true);
  zoo::finish_checkpoint_dir(tmp, dir);
  return n_params;
}

}  // namespace bend
