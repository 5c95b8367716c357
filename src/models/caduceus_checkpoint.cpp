// Caduceus checkpoints without torch: config.json (CaduceusConfig with Mamba's ssm_cfg), the
// expected weights with Hugging Face's names, their validation, and seeded checkpoints.
#include <cmath>
#include <cstdlib>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/caduceus.hpp"
#include "bend/models/safetensors.hpp"
#include "seeded_normal.hpp"
#include "zoo_util.hpp"

namespace bend {

namespace {

using zoo::json_bool;
using zoo::json_int;
using zoo::json_number;

// ssm_cfg keys of mamba_ssm 1.x's Mamba; the dt_* keys and use_fast_path only affect training
// initialisation or kernel choice, not the forward pass.
const char* const kSsmKeys[] = {"d_state",       "d_conv",    "expand",  "dt_rank",
                                "dt_min",        "dt_max",    "dt_init", "dt_scale",
                                "dt_init_floor", "conv_bias", "bias",    "use_fast_path"};

void parse_ssm_cfg(const nlohmann::json& j, const std::string& where, CaduceusConfig& c) {
  c.dt_rank = (c.d_model + 15) / 16;
  if (!j.contains("ssm_cfg") || j["ssm_cfg"].is_null()) return;
  const nlohmann::json& s = j["ssm_cfg"];
  if (!s.is_object()) fail("%s: \"ssm_cfg\" must be an object", where.c_str());
  for (auto it = s.begin(); it != s.end(); ++it) {
    bool known = false;
    for (const char* k : kSsmKeys) known = known || it.key() == k;
    if (!known) {
      fail(
          "%s: ssm_cfg.%s is not supported (only mamba_ssm 1.x's Mamba block: d_state, "
          "d_conv, expand, dt_rank, conv_bias, bias and its dt_* initialisation keys)",
          where.c_str(), it.key().c_str());
    }
  }
  const std::string w = where + " (ssm_cfg)";
  c.d_state = json_int(s, "d_state", w, 16);
  c.d_conv = json_int(s, "d_conv", w, 4);
  c.expand = json_int(s, "expand", w, 2);
  if (s.contains("dt_rank") && !(s["dt_rank"].is_string() && s["dt_rank"] == "auto"))
    c.dt_rank = json_int(s, "dt_rank", w, c.dt_rank);
  c.conv_bias = json_bool(s, "conv_bias", w, true);
  c.bias = json_bool(s, "bias", w, false);
}

// complement_map {"0": 0, ..., "7": 10, ...}: keys the ids 0 .. n-1, extended with identity up to
// the padded vocabulary (as Caduceus.__init__ does).
void parse_complement_map(const nlohmann::json& j, const std::string& where, CaduceusConfig& c) {
  const int64_t v = c.padded_vocab_size();
  c.complement_map.clear();
  if (!j.contains("complement_map") || j["complement_map"].is_null()) {
    if (c.rcps) fail("%s: \"rcps\": true needs a \"complement_map\"", where.c_str());
    return;
  }
  const nlohmann::json& m = j["complement_map"];
  if (!m.is_object() || int64_t(m.size()) > v)
    fail("%s: complement_map must be an object of at most %lld ids", where.c_str(), (long long)v);
  c.complement_map.assign(size_t(v), -1);
  for (auto it = m.begin(); it != m.end(); ++it) {
    char* end = nullptr;
    const long long key = std::strtoll(it.key().c_str(), &end, 10);
    const bool ok_key = !it.key().empty() && *end == '\0' && key >= 0 && key < int64_t(m.size());
    if (!ok_key || !it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() >= v) {
      fail(
          "%s: complement_map entry \"%s\": %s: keys must be the ids 0 .. %zu and values ids "
          "below %lld",
          where.c_str(), it.key().c_str(), it.value().dump().c_str(), m.size() - 1, (long long)v);
    }
    c.complement_map[size_t(key)] = it.value().get<int64_t>();
  }
  for (int64_t i = int64_t(m.size()); i < v; i++) c.complement_map[size_t(i)] = i;
}

void validate(const CaduceusConfig& c, const std::string& where) {
  const std::pair<const char*, int64_t> positive[] = {
      {"d_model", c.d_model},       {"n_layer", c.n_layer},
      {"vocab_size", c.vocab_size}, {"d_state", c.d_state},
      {"d_conv", c.d_conv},         {"expand", c.expand},
      {"dt_rank", c.dt_rank},       {"pad_vocab_size_multiple", c.pad_vocab_size_multiple}};
  for (const auto& kv : positive) {
    if (kv.second < 1)
      fail("%s: \"%s\" must be >= 1, got %lld", where.c_str(), kv.first, (long long)kv.second);
  }
  if (c.bidirectional && c.bidirectional_strategy != "add" &&
      c.bidirectional_strategy != "ew_multiply") {
    fail("%s: bidirectional_strategy \"%s\" is not implemented (add or ew_multiply)", where.c_str(),
         c.bidirectional_strategy.c_str());
  }
  if (!(c.norm_epsilon > 0) || !(c.initializer_range >= 0))
    fail("%s: norm_epsilon must be > 0 and initializer_range >= 0", where.c_str());
}

bool is_ignored_tensor(const std::string& name) {
  return zoo::starts_with(name, "lm_head.") || zoo::ends_with(name, "complement_map");
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> draw(NormalGen& gen, size_t n, double mean, double sd) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<float>(mean + sd * gen.next());
  return v;
}

// Seeded values of one weight (see write_seeded_caduceus_checkpoint).
std::vector<float> seeded_values(const CaduceusConfig& c, const CaduceusTensorSpec& s,
                                 NormalGen& gen) {
  const size_t n = size_t(numel(s.shape));
  const std::string& name = s.name;
  if (zoo::ends_with(name, ".A_log")) {
    std::vector<float> v = draw(gen, n, 0.0, 0.1);
    for (size_t i = 0; i < n; i++) v[i] += float(std::log(double(i % size_t(c.d_state) + 1)));
    return v;
  }
  if (zoo::ends_with(name, ".D")) return draw(gen, n, 1.0, 0.1);
  if (zoo::ends_with(name, "dt_proj.bias")) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) {
      const double lo = std::log(1e-3), hi = std::log(1e-1);
      const double dt = std::exp(lo + (hi - lo) * gen.rng.uniform_open0());
      v[i] = float(dt + std::log(-std::expm1(-dt)));  // softplus^-1
    }
    return v;
  }
  if (name.find("norm") != std::string::npos)
    return zoo::ends_with(name, ".bias") ? draw(gen, n, 0.0, 0.05) : draw(gen, n, 1.0, 0.1);
  if (zoo::ends_with(name, ".bias")) return draw(gen, n, 0.0, 0.05);
  return draw(gen, n, 0.0, c.initializer_range);
}

}  // namespace

int64_t CaduceusConfig::padded_vocab_size() const {
  const int64_t m = pad_vocab_size_multiple;
  return m > 1 && vocab_size % m != 0 ? vocab_size + m - vocab_size % m : vocab_size;
}

CaduceusConfig parse_caduceus_config(const std::string& text, const std::string& where) {
  const nlohmann::json j = zoo::parse_json_object(text, where);
  if (j.contains("model_type") && j["model_type"] != "caduceus") {
    fail("%s: model_type is %s, not \"caduceus\"", where.c_str(), j["model_type"].dump().c_str());
  }
  CaduceusConfig c;
  c.d_model = json_int(j, "d_model", where, 0, true);
  c.n_layer = json_int(j, "n_layer", where, 0, true);
  c.vocab_size = json_int(j, "vocab_size", where, 0, true);
  c.pad_vocab_size_multiple = json_int(j, "pad_vocab_size_multiple", where, 8);
  parse_ssm_cfg(j, where, c);
  c.rms_norm = json_bool(j, "rms_norm", where, true);
  c.fused_add_norm = json_bool(j, "fused_add_norm", where, true);
  c.norm_epsilon = json_number(j, "norm_epsilon", where, 1e-5);
  c.bidirectional = json_bool(j, "bidirectional", where, true);
  if (j.contains("bidirectional_strategy") && !j["bidirectional_strategy"].is_null()) {
    if (!j["bidirectional_strategy"].is_string())
      fail("%s: bidirectional_strategy must be a string", where.c_str());
    c.bidirectional_strategy = j["bidirectional_strategy"].get<std::string>();
  }
  c.bidirectional_weight_tie = json_bool(j, "bidirectional_weight_tie", where, true);
  c.rcps = json_bool(j, "rcps", where, false);
  if (j.contains("initializer_cfg") && j["initializer_cfg"].is_object())
    c.initializer_range = json_number(j["initializer_cfg"], "initializer_range", where, 0.02);
  c.initializer_range = json_number(j, "initializer_range", where, c.initializer_range);  // bend's
  validate(c, where);
  parse_complement_map(j, where, c);
  return c;
}

CaduceusConfig read_caduceus_config(const std::string& path) {
  return parse_caduceus_config(read_file(path), path);
}

std::vector<CaduceusTensorSpec> caduceus_tensor_specs(const CaduceusConfig& c) {
  const int64_t d = c.d_model, di = c.d_inner(), n = c.d_state;
  std::vector<CaduceusTensorSpec> out;
  const std::string ps = c.rcps ? ".submodule" : "";  // RCPS wrappers
  const std::string norm_ps = c.rcps && !c.fused_add_norm ? ".submodule" : "";
  auto norm = [&](const std::string& name) {
    out.push_back({name + ".weight", {d}, false});
    if (!c.rms_norm) out.push_back({name + ".bias", {d}, false});
  };
  out.push_back(
      {std::string("embeddings.word_embeddings") + (c.rcps ? ".embedding" : "") + ".weight",
       {c.padded_vocab_size(), d},
       false});
  for (int64_t i = 0; i < c.n_layer; i++) {
    const std::string p = "layers." + std::to_string(i) + ".";
    for (int dir = 0; dir < (c.bidirectional ? 2 : 1); dir++) {
      const std::string m = p + "mixer" + ps + (dir == 0 ? ".mamba_fwd." : ".mamba_rev.");
      const bool tied = dir == 1 && c.bidirectional_weight_tie;  // may be dropped as shared
      out.push_back({m + "in_proj.weight", {2 * di, d}, tied});
      if (c.bias) out.push_back({m + "in_proj.bias", {2 * di}, tied});
      out.push_back({m + "conv1d.weight", {di, 1, c.d_conv}, false});
      if (c.conv_bias) out.push_back({m + "conv1d.bias", {di}, false});
      out.push_back({m + "x_proj.weight", {c.dt_rank + 2 * n, di}, false});
      out.push_back({m + "dt_proj.weight", {di, c.dt_rank}, false});
      out.push_back({m + "dt_proj.bias", {di}, false});
      out.push_back({m + "A_log", {di, n}, false});
      out.push_back({m + "D", {di}, false});
      out.push_back({m + "out_proj.weight", {d, di}, tied});
      if (c.bias) out.push_back({m + "out_proj.bias", {d}, tied});
    }
    norm(p + "norm" + norm_ps);
  }
  norm("norm_f" + norm_ps);
  return out;
}

int64_t caduceus_parameter_count(const CaduceusConfig& c) {
  int64_t n = 0;
  for (const CaduceusTensorSpec& s : caduceus_tensor_specs(c)) {
    if (!s.optional) n += numel(s.shape);
  }
  return n;
}

std::string check_caduceus_weights(const SafetensorsFile& weights, const CaduceusConfig& c) {
  const std::string emb = caduceus_tensor_specs(c)[0].name;
  std::string prefix;
  bool found = false;
  for (const char* p : {"caduceus.backbone.", "backbone.", ""}) {
    if (!found && weights.has(p + emb)) {
      prefix = p;
      found = true;
    }
  }
  if (!found) {
    fail(
        "%s: no Caduceus backbone: none of caduceus.backbone., backbone. or no prefix holds "
        "%s (\"rcps\": %s)",
        weights.path().c_str(), emb.c_str(), c.rcps ? "true" : "false");
  }
  std::vector<zoo::ExpectedTensor> expected;
  for (const CaduceusTensorSpec& s : caduceus_tensor_specs(c))
    expected.push_back({prefix + s.name, s.shape, s.optional});
  zoo::check_tensors(
      weights, expected, is_ignored_tensor,
      strfmt("weights do not match the config (d_model %lld, n_layer %lld, d_state %lld, "
             "d_conv %lld, expand %lld, dt_rank %lld, rcps %s, bidirectional %s, rms_norm %s)",
             (long long)c.d_model, (long long)c.n_layer, (long long)c.d_state, (long long)c.d_conv,
             (long long)c.expand, (long long)c.dt_rank, c.rcps ? "true" : "false",
             c.bidirectional ? "true" : "false", c.rms_norm ? "true" : "false"));
  return prefix;
}

void write_seeded_caduceus_checkpoint(const std::string& dir_arg, const std::string& config_text,
                                      uint64_t seed) {
  const std::string dir = zoo::strip_slashes(dir_arg);
  const CaduceusConfig c = parse_caduceus_config(config_text, dir + "/config.json");
  NormalGen gen{SplitMix64{seed}};
  std::vector<F32Tensor> tensors;
  for (const CaduceusTensorSpec& s : caduceus_tensor_specs(c)) {
    if (s.optional) continue;  // tied: Hugging Face keeps mamba_fwd's copy only
    tensors.push_back({"caduceus.backbone." + s.name, s.shape, seeded_values(c, s, gen)});
  }
  const std::string tmp = zoo::begin_checkpoint_dir(dir);
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"bend_arch", "caduceus"}, {"bend_seed", std::to_string(seed)}};
  write_safetensors(path_join(tmp, "model.safetensors"), tensors, meta);
  write_file_atomic(path_join(tmp, "config.json"), config_text);
  zoo::finish_checkpoint_dir(tmp, dir);
}

}  // namespace bend
