// HyenaDNA checkpoints without torch: config.json (both published layouts), the expected
// weights with the checkpoints' names, their validation, and seeded checkpoints.
#include <cmath>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/hyenadna.hpp"
#include "bend/models/safetensors.hpp"
#include "seeded_normal.hpp"
#include "zoo_util.hpp"

namespace bend {

namespace {

using zoo::json_bool;
using zoo::json_int;
using zoo::json_number;

// The operator's keys of hyena-dna's own layout: config "layer": {...}.
void parse_layer_object(const nlohmann::json& l, const std::string& where, HyenaDNAConfig& c) {
  if (!l.is_object()) fail("%s: \"layer\" must be an object", where.c_str());
  if (l.contains("_name_") && l["_name_"] != "hyena") {
    fail("%s: layer._name_ is %s; only \"hyena\" layers are HyenaDNA", where.c_str(),
         l["_name_"].dump().c_str());
  }
  const std::string w = where + " (layer)";
  c.l_max = json_int(l, "l_max", w, 0, true);
  c.emb_dim = json_int(l, "emb_dim", w, 3);
  c.filter_order = json_int(l, "filter_order", w, 64);
  c.order = json_int(l, "order", w, 2);
  c.num_inner_mlps = json_int(l, "num_inner_mlps", w, 2);
  c.activation_freq = json_number(l, "w", w, 1.0);
  c.modulate = json_bool(l, "modulate", w, true);
  c.modulation_shift = json_number(l, "shift", w, 0.05);
  c.short_filter_order = 3;  // hyena-dna's HyenaOperator hard-codes it (local_order is unused)
}

// Hugging Face HyenaConfig's flat keys.
void parse_flat_keys(const nlohmann::json& j, const std::string& where, HyenaDNAConfig& c) {
  c.l_max = json_int(j, "max_seq_len", where, 0, true);
  c.emb_dim = json_int(j, "emb_dim", where, 3);
  c.filter_order = json_int(j, "filter_order", where, 16);
  c.order = json_int(j, "hyena_order", where, 2);
  c.num_inner_mlps = json_int(j, "num_inner_mlps", where, 2);
  c.short_filter_order = json_int(j, "short_filter_order", where, 3);
  c.activation_freq = json_number(j, "activation_freq", where, 1.0);
  c.modulate = true;
  c.modulation_shift = 0.05;
}

// Draws `n` values of mean + sd * N(0, 1).
std::vector<float> draw(NormalGen& gen, size_t n, double mean, double sd) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<float>(mean + sd * gen.next());
  return v;
}

// torch.linspace(start, end, n) in double precision.
double linspace_at(double start, double end, int64_t n, int64_t i) {
  return n == 1 ? start : start + (end - start) * double(i) / double(n - 1);
}

// hyena-dna's PositionalEmbedding: z = [t, Re exp(-i f w), Im exp(-i f w)], t = linspace(0, 1).
void positional_embedding(const HyenaDNAConfig& c, std::vector<float>& z, std::vector<float>& t) {
  const int64_t bands = (c.emb_dim - 1) / 2;
  const double pi = 3.14159265358979323846;
  z.assign(size_t(c.l_max * c.emb_dim), 0.0f);
  t.assign(size_t(c.l_max), 0.0f);
  for (int64_t i = 0; i < c.l_max; i++) {
    t[i] = static_cast<float>(linspace_at(0.0, 1.0, c.l_max, i));
    const double w = 2 * pi * double(i) / double(c.l_max);
    float* row = &z[size_t(i * c.emb_dim)];
    row[0] = t[i];
    for (int64_t b = 0; b < bands; b++) {
      const double f = linspace_at(1e-4, double(bands - 1), bands, b);
      row[1 + b] = static_cast<float>(std::cos(f * w));
      row[1 + bands + b] = static_cast<float>(-std::sin(f * w));
    }
  }
}

bool is_head_tensor(const std::string& name) {
  for (const char* h : {"lm_head.", "head.", "model.head.", "model.lm_head.", "hyena.head."}) {
    if (zoo::starts_with(name, h)) return true;
  }
  return false;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

int64_t HyenaDNAConfig::padded_vocab_size() const {
  const int64_t m = pad_vocab_size_multiple;
  return m > 1 && vocab_size % m != 0 ? vocab_size + m - vocab_size % m : vocab_size;
}

void validate_hyenadna_config(const HyenaDNAConfig& c, const std::string& where) {
  const std::pair<const char*, int64_t> positive[] = {
      {"d_model", c.d_model},
      {"n_layer", c.n_layer},
      {"d_inner", c.d_inner},
      {"vocab_size", c.vocab_size},
      {"filter_order", c.filter_order},
      {"pad_vocab_size_multiple", c.pad_vocab_size_multiple},
      {"short_filter_order", c.short_filter_order}};
  for (const auto& kv : positive) {
    if (kv.second < 1)
      fail("%s: \"%s\" must be >= 1, got %lld", where.c_str(), kv.first, (long long)kv.second);
  }
  if (c.emb_dim < 3 || c.emb_dim % 2 == 0)
    fail("%s: emb_dim must be odd and >= 3 (time, cosine, sine), got %lld", where.c_str(),
         (long long)c.emb_dim);
  if (c.l_max < 3)
    fail("%s: l_max must be >= 3 ([CLS], one nucleotide, [SEP]), got %lld", where.c_str(),
         (long long)c.l_max);
  if (c.order < 2)
    fail("%s: the Hyena order must be >= 2, got %lld", where.c_str(), (long long)c.order);
  if (c.num_inner_mlps < 0)
    fail("%s: num_inner_mlps must be >= 0, got %lld", where.c_str(), (long long)c.num_inner_mlps);
  if (c.short_filter_order > 5) {
    fail(
        "%s: short_filter_order %lld > 5: with the published padding of 2 the short filter "
        "would give fewer outputs than inputs",
        where.c_str(), (long long)c.short_filter_order);
  }
  if (!(c.layer_norm_epsilon > 0) || !(c.initializer_range >= 0))
    fail("%s: layer_norm_epsilon must be > 0 and initializer_range >= 0", where.c_str());
}

HyenaDNAConfig parse_hyenadna_config(const std::string& text, const std::string& where) {
  const nlohmann::json j = zoo::parse_json_object(text, where);
  if (j.contains("attn_layer_idx") && !j["attn_layer_idx"].is_null() &&
      !j["attn_layer_idx"].empty()) {
    fail("%s: attn_layer_idx %s: hybrid attention layers are not supported (HyenaDNA has none)",
         where.c_str(), j["attn_layer_idx"].dump().c_str());
  }
  HyenaDNAConfig c;
  c.d_model = json_int(j, "d_model", where, 0, true);
  c.n_layer = json_int(j, "n_layer", where, 0, true);
  c.vocab_size = json_int(j, "vocab_size", where, 0, true);
  c.d_inner = json_int(j, "d_inner", where, 4 * c.d_model);
  c.layer_norm_epsilon = json_number(j, "layer_norm_epsilon", where, 1e-5);
  if (j.contains("layer")) {
    c.pad_vocab_size_multiple = json_int(j, "pad_vocab_size_multiple", where, 1);
    parse_layer_object(j["layer"], where, c);
  } else {
    c.pad_vocab_size_multiple = json_int(j, "pad_vocab_size_multiple", where, 8);
    parse_flat_keys(j, where, c);
  }
  c.initializer_range = json_number(j, "initializer_range", where, 0.02);
  if (j.contains("initializer_cfg") && j["initializer_cfg"].is_object())
    c.initializer_range = json_number(j["initializer_cfg"], "initializer_range", where, 0.02);
  validate_hyenadna_config(c, where);
  return c;
}

HyenaDNAConfig read_hyenadna_config(const std::string& path) {
  return parse_hyenadna_config(read_file(path), path);
}

std::vector<HyenaTensorSpec> hyenadna_tensor_specs(const HyenaDNAConfig& c) {
  const int64_t d = c.d_model, fo = c.filter_order;
  const int64_t wide = (c.order + 1) * d, wf = (c.order - 1) * d;
  std::vector<HyenaTensorSpec> out;
  auto linear = [&](const std::string& name, int64_t n_out, int64_t n_in, bool bias) {
    out.push_back({name + ".weight", {n_out, n_in}, false});
    if (bias) out.push_back({name + ".bias", {n_out}, false});
  };
  auto norm = [&](const std::string& name) {
    out.push_back({name + ".weight", {d}, false});
    out.push_back({name + ".bias", {d}, false});
  };
  out.push_back({"embeddings.word_embeddings.weight", {c.padded_vocab_size(), d}, false});
  for (int64_t i = 0; i < c.n_layer; i++) {
    const std::string p = "layers." + std::to_string(i) + ".";
    const std::string m = p + "mixer.";
    linear(m + "in_proj", wide, d, true);
    linear(m + "out_proj", d, d, true);
    out.push_back({m + "short_filter.weight", {wide, 1, c.short_filter_order}, false});
    out.push_back({m + "short_filter.bias", {wide}, false});
    const std::string f = m + "filter_fn.";
    out.push_back({f + "bias", {wf}, false});
    out.push_back({f + "pos_emb.z", {1, c.l_max, c.emb_dim}, false});
    out.push_back({f + "pos_emb.t", {1, c.l_max, 1}, false});
    const std::string mlp = f + "implicit_filter.";
    for (int64_t j = 0; j <= c.num_inner_mlps; j++) {
      linear(mlp + std::to_string(2 * j), fo, j == 0 ? c.emb_dim : fo, true);
      out.push_back({mlp + std::to_string(2 * j + 1) + ".freq", {1, fo}, true});
    }
    linear(mlp + std::to_string(2 * c.num_inner_mlps + 2), wf, fo, false);
    out.push_back({f + "modulation.deltas", {1, 1, wf}, false});
    norm(p + "norm1");
    linear(p + "mlp.fc1", c.d_inner, d, true);
    linear(p + "mlp.fc2", d, c.d_inner, true);
    norm(p + "norm2");
  }
  norm("ln_f");
  return out;
}

int64_t hyenadna_parameter_count(const HyenaDNAConfig& c) {
  int64_t n = c.n_layer * c.filter_order;  // one shared Sin freq per filter
  for (const HyenaTensorSpec& s : hyenadna_tensor_specs(c)) {
    if (!s.optional) n += numel(s.shape);
  }
  return n;
}

std::string check_hyenadna_weights(const SafetensorsFile& weights, const HyenaDNAConfig& c) {
  const char* prefixes[] = {"hyena.backbone.", "backbone.", "model.backbone.", ""};
  std::string prefix;
  bool found = false;
  for (const char* p : prefixes) {
    if (!found && weights.has(std::string(p) + "embeddings.word_embeddings.weight")) {
      prefix = p;
      found = true;
    }
  }
  if (!found) {
    fail(
        "%s: no HyenaDNA backbone: none of hyena.backbone., backbone., model.backbone. or no "
        "prefix holds embeddings.word_embeddings.weight",
        weights.path().c_str());
  }
  std::vector<zoo::ExpectedTensor> expected;
  for (const HyenaTensorSpec& s : hyenadna_tensor_specs(c))
    expected.push_back({prefix + s.name, s.shape, s.optional});
  zoo::check_tensors(
      weights, expected, is_head_tensor,
      strfmt("weights do not match the config (d_model %lld, n_layer %lld, l_max %lld, "
             "filter_order %lld, emb_dim %lld, order %lld)",
             (long long)c.d_model, (long long)c.n_layer, (long long)c.l_max,
             (long long)c.filter_order, (long long)c.emb_dim, (long long)c.order));
  return prefix;
}

void write_seeded_hyenadna_checkpoint(const std::string& dir_arg, const std::string& config_text,
                                      uint64_t seed) {
  const std::string dir = zoo::strip_slashes(dir_arg);
  const HyenaDNAConfig c = parse_hyenadna_config(config_text, dir + "/config.json");
  NormalGen gen{SplitMix64{seed}};
  std::vector<float> z, t, deltas(size_t((c.order - 1) * c.d_model));
  positional_embedding(c, z, t);
  const double max_decay = std::log(1e-2) / 0.3, min_decay = std::log(1e-2) / 1.5;
  for (size_t i = 0; i < deltas.size(); i++)
    deltas[i] = float(linspace_at(min_decay, max_decay, int64_t(deltas.size()), int64_t(i)));
  std::vector<F32Tensor> tensors;
  std::vector<float> freq;  // shared by the Sin layers of one filter, as in the model
  for (const HyenaTensorSpec& s : hyenadna_tensor_specs(c)) {
    const size_t n = size_t(numel(s.shape));
    std::vector<float> v;
    const std::string& name = s.name;
    if (zoo::ends_with(name, "pos_emb.z")) {
      v = z;
    } else if (zoo::ends_with(name, "pos_emb.t")) {
      v = t;
    } else if (zoo::ends_with(name, "modulation.deltas")) {
      v = deltas;
    } else if (zoo::ends_with(name, ".freq")) {
      if (zoo::ends_with(name, "implicit_filter.1.freq"))
        freq = draw(gen, n, c.activation_freq, 0.1 * c.activation_freq);
      v = freq;
    } else if (zoo::ends_with(name, "filter_fn.bias")) {
      v = draw(gen, n, 0.0, 1.0);
    } else if (name.find("norm") != std::string::npos || zoo::starts_with(name, "ln_f.")) {
      v = zoo::ends_with(name, ".bias") ? draw(gen, n, 0.0, 0.05) : draw(gen, n, 1.0, 0.1);
    } else if (zoo::ends_with(name, ".bias")) {
      v = draw(gen, n, 0.0, 0.05);
    } else {
      v = draw(gen, n, 0.0, c.initializer_range);
    }
    tensors.push_back({"hyena.backbone." + name, s.shape, std::move(v)});
  }
  const std::string tmp = zoo::begin_checkpoint_dir(dir);
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"bend_arch", "hyenadna"}, {"bend_seed", std::to_string(seed)}};
  write_safetensors(path_join(tmp, "model.safetensors"), tensors, meta);
  write_file_atomic(path_join(tmp, "config.json"), config_text);
  zoo::finish_checkpoint_dir(tmp, dir);
}

}  // namespace bend
