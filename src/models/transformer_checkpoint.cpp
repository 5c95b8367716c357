// Transformer checkpoints without torch: which tensors a checkpoint must hold (with the names
// Hugging Face gives them), and seeded checkpoints for tests and demos.
#include <unistd.h>

#include <set>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/safetensors.hpp"
#include "bend/models/transformer.hpp"
#include "seeded_normal.hpp"

namespace bend {

namespace {

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
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

// Tensors a checkpoint may carry that the encoder does not read: task heads and buffers.
bool is_ignored_tensor(const std::string& name, const std::string& prefix) {
  const std::string n = starts_with(name, prefix) ? name.substr(prefix.size()) : name;
  const char* heads[] = {"cls.", "lm_head.", "classifier.", "contact_head.", "pooler."};
  for (const char* h : heads) {
    if (starts_with(n, h)) return true;
  }
  const char* buffers[] = {".position_ids", ".inv_freq", "encoder.alibi", ".token_type_ids"};
  for (const char* b : buffers) {
    if (ends_with(n, b) || n == b) return true;
  }
  return false;
}

// The file's name for expected tensor `name`: itself, or the TensorFlow-era gamma/beta names.
std::string find_tensor(const SafetensorsFile& w, const std::string& name) {
  if (w.has(name)) return name;
  if (ends_with(name, ".weight")) {
    const std::string alt = name.substr(0, name.size() - 7) + ".gamma";
    if (w.has(alt)) return alt;
  } else if (ends_with(name, ".bias")) {
    const std::string alt = name.substr(0, name.size() - 5) + ".beta";
    if (w.has(alt)) return alt;
  }
  return "";
}

bool is_norm(const std::string& name) {
  return name.find("LayerNorm") != std::string::npos ||
         name.find("layer_norm") != std::string::npos ||
         name.find("layernorm") != std::string::npos || name.find("_ln.") != std::string::npos;
}

// Removes a stale "<dir>.tmp" left by an interrupted write (files only; we never nest).
// Appends "FILE_NAME (expected F32 [..], got DT [..])" to `misshaped` when the tensor's shape is
// not spec's or its dtype is not a float type the loader converts.
void note_misshaped(const SafetensorsFile& weights, const std::string& file_name, const TensorSpec& spec,
                    std::string& misshaped) {
  const TensorInfo& t = weights.info(file_name);
  const bool is_float = t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16" || t.dtype == "F64";
  if (t.shape != spec.shape || !is_float) {
    misshaped += (misshaped.empty() ? "" : ", ") + file_name + " (expected F32 " + shape_str(spec.shape) +
                 ", got " + t.dtype + " " + shape_str(t.shape) + ")";
  }
}

void remove_stale_dir(const std::string& dir) {
  if (!path_exists(dir)) return;
  for (const std::string& name : list_dir(dir)) remove_if_exists(path_join(dir, name));
  if (::rmdir(dir.c_str()) != 0) fail("%s: cannot remove stale directory", dir.c_str());
}

}  // namespace

std::map<std::string, std::string> check_transformer_weights(const SafetensorsFile& weights,
                                                             const TransformerConfig& cfg) {
  const std::string model_prefix = transformer_weight_prefix(cfg.arch);
  std::string prefix = model_prefix;  // masked-LM checkpoints; base models have no prefix
  if (!weights.has(model_prefix + "embeddings.word_embeddings.weight") &&
      weights.has("embeddings.word_embeddings.weight")) {
    prefix = "";
  }
  std::map<std::string, std::string> found;
  std::set<std::string> used;
  std::string missing, misshaped, unexpected;
  for (const TensorSpec& spec : transformer_tensor_specs(cfg)) {
    const std::string file_name = find_tensor(weights, prefix + spec.name);
    if (file_name.empty()) {
      missing += (missing.empty() ? "" : ", ") + prefix + spec.name;
      continue;
    }
    used.insert(file_name);
    note_misshaped(weights, file_name, spec, misshaped);
    found[spec.name] = file_name;
  }
  for (const auto& kv : weights.tensors()) {
    if (used.count(kv.first) || is_ignored_tensor(kv.first, prefix)) continue;
    unexpected += (unexpected.empty() ? "" : ", ") + kv.first;
  }
  if (missing.empty() && misshaped.empty() && unexpected.empty()) return found;
  std::string msg = strfmt(
      "%s: weights do not match the %s config (hidden_size %lld, num_hidden_layers %lld, "
      "intermediate_size %lld, vocab_size %lld)",
      weights.path().c_str(), transformer_arch_name(cfg.arch), (long long)cfg.hidden_size,
      (long long)cfg.num_hidden_layers, (long long)cfg.intermediate_size,
      (long long)cfg.vocab_size);
  if (!missing.empty()) msg += "; missing tensors: " + missing;
  if (!misshaped.empty()) msg += "; mis-shaped tensors: " + misshaped;
  if (!unexpected.empty()) msg += "; unexpected tensors: " + unexpected;
  throw Error(msg);
}

MlmHeadTensors check_mlm_head_weights(const SafetensorsFile& weights,
                                      const TransformerConfig& cfg) {
  MlmHeadTensors head;
  std::string missing, misshaped;
  auto take = [&](const TensorSpec& spec, const std::vector<std::string>& names, bool optional) {
    std::string file_name;
    for (const std::string& n : names) {
      if (file_name.empty()) file_name = find_tensor(weights, n);
    }
    if (file_name.empty()) {
      if (!optional) missing += (missing.empty() ? "" : ", ") + names[0];
      return file_name;
    }
    note_misshaped(weights, file_name, spec, misshaped);
    return file_name;
  };
  const int64_t h = cfg.hidden_size, v = cfg.vocab_size;
  const std::string p = cfg.arch == TransformerArch::kEsm ? "lm_head." : "cls.predictions.";
  const std::string t = cfg.arch == TransformerArch::kEsm ? p : p + "transform.";
  const std::string ln = t + (cfg.arch == TransformerArch::kEsm ? "layer_norm." : "LayerNorm.");
  head.dense_weight = take({"", {h, h}}, {t + "dense.weight"}, false);
  head.dense_bias = take({"", {h}}, {t + "dense.bias"}, false);
  head.norm_weight = take({"", {h}}, {ln + "weight"}, false);
  head.norm_bias = take({"", {h}}, {ln + "bias"}, false);
  head.decoder_weight = take({"", {v, h}}, {p + "decoder.weight"}, cfg.tie_word_embeddings);
  // BERT / ESM add a separate bias parameter (tied to decoder.bias in Hugging Face's BERT);
  // DNABERT-2's decoder is an nn.Linear with its own bias.
  head.bias = take({"", {v}}, {p + "bias", p + "decoder.bias"}, false);
  if (missing.empty() && misshaped.empty()) return head;
  std::string msg = strfmt(
      "%s: no usable masked-LM head for output logits / loss (%s: %s*; a base-model checkpoint "
      "has none, use the *ForMaskedLM one)",
      weights.path().c_str(), transformer_arch_name(cfg.arch), p.c_str());
  if (!missing.empty()) msg += "; missing tensors: " + missing;
  if (!misshaped.empty()) msg += "; mis-shaped tensors: " + misshaped;
  if (!cfg.tie_word_embeddings && head.decoder_weight.empty())
    msg += " (config.json has \"tie_word_embeddings\": false: the decoder is not the embeddings)";
  throw Error(msg);
}

void write_seeded_transformer_checkpoint(const std::string& dir_arg, TransformerArch arch,
                                         const std::string& config_json_text, uint64_t seed,
                                         const std::map<std::string, std::string>& files) {
  std::string dir = dir_arg;  // "ckpt/" -> "ckpt", so that the temporary is a sibling
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const TransformerConfig cfg =
      parse_transformer_config(config_json_text, arch, path_join(dir, "config.json"));
  if (path_exists(dir) && !list_dir(dir).empty()) {
    fail("%s: already exists and is not empty; refusing to overwrite a checkpoint", dir.c_str());
  }
  for (const auto& kv : files) {
    if (kv.first.empty() || kv.first.find('/') != std::string::npos || kv.first == "config.json" ||
        kv.first == "model.safetensors") {
      fail("%s: cannot add a file named \"%s\" to the checkpoint", dir.c_str(), kv.first.c_str());
    }
  }
  make_dirs(dir_name(dir));
  const std::string tmp = dir + ".tmp";
  remove_stale_dir(tmp);
  make_dirs(tmp);

  NormalGen gen{SplitMix64{seed}};
  const std::string prefix = transformer_weight_prefix(arch);
  std::vector<F32Tensor> tensors;
  std::vector<TensorSpec> specs = transformer_tensor_specs(cfg);
  const size_t n_encoder = specs.size();
  for (const TensorSpec& spec : mlm_head_tensor_specs(cfg)) specs.push_back(spec);
  for (size_t i = 0; i < specs.size(); i++) {
    const TensorSpec& spec = specs[i];
    F32Tensor t{(i < n_encoder ? prefix : std::string()) + spec.name, spec.shape, {}};
    size_t n = 1;
    for (int64_t d : spec.shape) n *= static_cast<size_t>(d);
    const bool bias = ends_with(spec.name, ".bias"), norm = is_norm(spec.name);
    const double mean = (norm && !bias) ? 1.0 : 0.0;
    const double sd = bias ? 0.05 : (norm ? 0.1 : cfg.initializer_range);
    t.values.resize(n);
    for (size_t k = 0; k < n; k++) t.values[k] = static_cast<float>(mean + sd * gen.next());
    tensors.push_back(std::move(t));
  }
  const std::map<std::string, std::string> meta = {{"format", "pt"},
                                                   {"bend_arch", transformer_arch_name(arch)},
                                                   {"bend_seed", std::to_string(seed)}};
  write_safetensors(path_join(tmp, "model.safetensors"), tensors, meta);
  write_file_atomic(path_join(tmp, "config.json"), config_json_text);
  for (const auto& kv : files) write_file_atomic(path_join(tmp, kv.first), kv.second);
  fsync_dir(tmp);
  rename_durable(tmp, dir);
}

std::vector<std::string> dnabert_vocab(int k) {
  if (k < 1 || k > 8) fail("DNABERT vocabulary: k = %d is outside 1..8", k);
  std::vector<std::string> out = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  const char bases[4] = {'A', 'T', 'C', 'G'};
  const int64_t n = int64_t(1) << (2 * k);
  for (int64_t i = 0; i < n; i++) {
    std::string kmer(static_cast<size_t>(k), 'A');
    for (int j = 0; j < k; j++) kmer[static_cast<size_t>(k - 1 - j)] = bases[(i >> (2 * j)) & 3];
    out.push_back(kmer);
  }
  return out;
}

}  // namespace bend
