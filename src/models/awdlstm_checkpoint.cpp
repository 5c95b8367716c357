// AWD-LSTM checkpoints without torch: config.json, BEND's tensor names, their validation, and
// seeded checkpoints.
#include <algorithm>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/awdlstm.hpp"
#include "bend/models/char_tokenizer.hpp"
#include "bend/models/safetensors.hpp"
#include "seeded_normal.hpp"
#include "zoo_util.hpp"

namespace bend {

namespace {

bool is_lm_head_tensor(const std::string& name) {
  return zoo::starts_with(name, "decoder.") || name.find("last_hidden_state_") == 0 ||
         name.find("last_cell_state_") == 0;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

AwdLstmConfig parse_awdlstm_config(const std::string& text, const std::string& where) {
  const nlohmann::json j = zoo::parse_json_object(text, where);
  AwdLstmConfig c;
  c.vocab_size = zoo::json_int(j, "vocab_size", where, c.vocab_size);
  c.input_size = zoo::json_int(j, "input_size", where, c.input_size);
  c.hidden_size = zoo::json_int(j, "hidden_size", where, c.hidden_size);
  c.num_hidden_layers = zoo::json_int(j, "num_hidden_layers", where, c.num_hidden_layers);
  c.reset_token_id = zoo::json_int(j, "reset_token_id", where, -1);
  c.bidirectional = zoo::json_bool(j, "bidirectional", where, false);
  c.weight_dropout_prob = zoo::json_number(j, "weight_dropout_prob", where, 0.5);
  c.initializer_range = zoo::json_number(j, "initializer_range", where, 0.02);
  const std::pair<const char*, int64_t> positive[] = {{"vocab_size", c.vocab_size},
                                                      {"input_size", c.input_size},
                                                      {"hidden_size", c.hidden_size},
                                                      {"num_hidden_layers", c.num_hidden_layers}};
  for (const auto& kv : positive) {
    if (kv.second < 1)
      fail("%s: \"%s\" must be >= 1, got %lld", where.c_str(), kv.first, (long long)kv.second);
  }
  if (c.bidirectional) {
    fail(
        "%s: \"bidirectional\": true is not supported (BEND's AWD-LSTM embedder is causal; its "
        "backward stack reads the inputs forwards)",
        where.c_str());
  }
  if (!zoo::json_bool(j, "batch_first", where, true)) {
    fail(
        "%s: \"batch_first\": false is not supported (BEND's embedder would run a [1, len] "
        "input as len one-step sequences)",
        where.c_str());
  }
  if (!(c.initializer_range >= 0)) fail("%s: \"initializer_range\" must be >= 0", where.c_str());
  return c;
}

AwdLstmConfig read_awdlstm_config(const std::string& path) {
  return parse_awdlstm_config(read_file(path), path);
}

std::string awdlstm_config_json(const AwdLstmConfig& c) {
  nlohmann::ordered_json j;
  j["model_type"] = "AWDLSTM";
  j["architectures"] = {"AWDLSTMModelForInference"};
  j["vocab_size"] = c.vocab_size;
  j["input_size"] = c.input_size;
  j["hidden_size"] = c.hidden_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["reset_token_id"] =
      c.reset_token_id < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(c.reset_token_id);
  j["bidirectional"] = false;
  j["batch_first"] = true;
  j["weight_dropout_prob"] = c.weight_dropout_prob;
  j["initializer_range"] = c.initializer_range;
  return j.dump(2) + "\n";
}

std::vector<AwdLstmTensorSpec> awdlstm_tensor_specs(const AwdLstmConfig& c, bool weight_drop) {
  std::vector<AwdLstmTensorSpec> out;
  out.push_back({"embedding.weight", {c.vocab_size, c.input_size}, false});
  for (int64_t l = 0; l < c.num_hidden_layers; l++) {
    const int64_t n_in = c.layer_in(l), n_out = c.layer_out(l), gates = 4 * n_out;
    const std::string base = "encoder.lstm." + std::to_string(l) + ".";
    const std::string cell = weight_drop ? base + "module." : base;
    if (weight_drop) out.push_back({base + "weight_raw", {gates, n_out}, false});
    out.push_back({cell + "i2h.weight", {gates, n_in}, false});
    out.push_back({cell + "i2h.bias", {gates}, false});
    out.push_back({cell + "h2h.weight", {gates, n_out}, weight_drop});
    out.push_back({cell + "h2h.bias", {gates}, false});
  }
  return out;
}

int64_t awdlstm_parameter_count(const AwdLstmConfig& c) {
  int64_t n = 0;
  for (const AwdLstmTensorSpec& s : awdlstm_tensor_specs(c, false)) n += numel(s.shape);
  return n;
}

AwdLstmLayout check_awdlstm_weights(const SafetensorsFile& weights, const AwdLstmConfig& c) {
  AwdLstmLayout layout;
  if (weights.has("encoder.embedding.weight")) {
    layout.prefix = "encoder.";
  } else if (!weights.has("embedding.weight")) {
    fail("%s: no AWD-LSTM: neither encoder.embedding.weight nor embedding.weight is present",
         weights.path().c_str());
  }
  layout.weight_drop = weights.has(layout.prefix + "encoder.lstm.0.weight_raw");
  std::vector<zoo::ExpectedTensor> expected;
  for (const AwdLstmTensorSpec& s : awdlstm_tensor_specs(c, layout.weight_drop))
    expected.push_back({layout.prefix + s.name, s.shape, s.optional});
  zoo::check_tensors(
      weights, expected, is_lm_head_tensor,
      strfmt("weights do not match the config (vocab_size %lld, input_size %lld, hidden_size "
             "%lld, num_hidden_layers %lld)",
             (long long)c.vocab_size, (long long)c.input_size, (long long)c.hidden_size,
             (long long)c.num_hidden_layers));
  return layout;
}

void write_seeded_awdlstm_checkpoint(const std::string& dir_arg, const AwdLstmConfig& c,
                                     uint64_t seed) {
  const std::string dir = zoo::strip_slashes(dir_arg);
  parse_awdlstm_config(awdlstm_config_json(c), dir + "/config.json");  // validates
  if (c.vocab_size < 7) {
    fail("%s: vocab_size %lld < 7: the seeded tokenizer has 7 tokens", dir.c_str(),
         (long long)c.vocab_size);
  }
  const bool weight_drop = c.weight_dropout_prob > 0;
  NormalGen gen{SplitMix64{seed}};
  SplitMix64 drop_rng{seed ^ 0x5eedd20bull};
  std::vector<F32Tensor> tensors;
  std::vector<float> raw;  // the layer's weight_raw, for its dropped-out module.h2h.weight
  for (const AwdLstmTensorSpec& s : awdlstm_tensor_specs(c, weight_drop)) {
    F32Tensor t{"encoder." + s.name, s.shape, std::vector<float>(size_t(numel(s.shape)))};
    const bool bias = zoo::ends_with(s.name, ".bias");
    if (weight_drop && zoo::ends_with(s.name, "module.h2h.weight")) {
      const double keep = 1.0 - std::min(c.weight_dropout_prob, 0.99);
      for (size_t i = 0; i < raw.size(); i++)
        t.values[i] = drop_rng.uniform_open0() <= keep ? float(raw[i] / keep) : 0.0f;
    } else {
      for (float& v : t.values) v = float((bias ? 0.05 : c.initializer_range) * gen.next());
    }
    if (zoo::ends_with(s.name, "weight_raw")) raw = t.values;
    tensors.push_back(std::move(t));
  }
  const std::string tmp = zoo::begin_checkpoint_dir(dir);
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"bend_arch", "awdlstm"}, {"bend_seed", std::to_string(seed)}};
  write_safetensors(path_join(tmp, "model.safetensors"), tensors, meta);
  write_file_atomic(path_join(tmp, "config.json"), awdlstm_config_json(c));
  write_char_tokenizer(path_join(tmp, "tokenizer.json"),
                       {"[PAD]", "[MASK]", "[UNK]", "a", "c", "g", "t"}, "[UNK]", true);
  zoo::finish_checkpoint_dir(tmp, dir);
}

}  // namespace bend
