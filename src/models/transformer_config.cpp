// config.json of the transformer encoders (Hugging Face field names and defaults) and the list
// of weights each configuration reads. Torch-free.
#include <nlohmann/json.hpp>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/transformer.hpp"

#include "zoo_util.hpp"

namespace bend {

namespace {

// Typed look-ups with the Hugging Face default when the key is absent (or JSON null).
struct ConfigReader {
  const nlohmann::json& j;
  const std::string& where;

  bool has(const char* key) const { return j.contains(key) && !j[key].is_null(); }
  int64_t integer(const char* key, int64_t dflt) const {
    if (!has(key)) return dflt;
    const nlohmann::json& v = j[key];
    if (!v.is_number_integer())
      fail("%s: \"%s\" must be an integer, got %s", where.c_str(), key, v.dump().c_str());
    return v.get<int64_t>();
  }
  double number(const char* key, double dflt) const {
    if (!has(key)) return dflt;
    const nlohmann::json& v = j[key];
    if (!v.is_number())
      fail("%s: \"%s\" must be a number, got %s", where.c_str(), key, v.dump().c_str());
    return v.get<double>();
  }
  bool boolean(const char* key, bool dflt) const {
    if (!has(key)) return dflt;
    const nlohmann::json& v = j[key];
    if (!v.is_boolean())
      fail("%s: \"%s\" must be true or false, got %s", where.c_str(), key, v.dump().c_str());
    return v.get<bool>();
  }
  std::string string(const char* key, const std::string& dflt) const {
    if (!has(key)) return dflt;
    const nlohmann::json& v = j[key];
    if (!v.is_string())
      fail("%s: \"%s\" must be a string, got %s", where.c_str(), key, v.dump().c_str());
    return v.get<std::string>();
  }
};

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

// BigBird (Hugging Face BigBirdConfig): dense attention ("original_full"), or block_sparse that
// Hugging Face runs as full attention up to (5 + 2 * num_random_blocks) * block_size tokens.
void read_big_bird_fields(const ConfigReader& r, TransformerConfig& cfg) {
  cfg.hidden_act = r.string("hidden_act", "gelu_new");
  cfg.rescale_embeddings = r.boolean("rescale_embeddings", false);
  if (!r.boolean("use_bias", true))
    fail("%s: \"use_bias\": false is not supported (query/key/value without bias)",
         r.where.c_str());
  const std::string attention_type = r.string("attention_type", "block_sparse");
  if (attention_type == "block_sparse") {
    cfg.block_size = r.integer("block_size", 64);
    cfg.num_random_blocks = r.integer("num_random_blocks", 3);
    if (cfg.block_size < 1 || cfg.num_random_blocks < 0) {
      fail("%s: \"block_size\" must be >= 1 and \"num_random_blocks\" >= 0 (got %lld, %lld)",
           r.where.c_str(), (long long)cfg.block_size, (long long)cfg.num_random_blocks);
    }
    cfg.full_attention_max_tokens = (5 + 2 * cfg.num_random_blocks) * cfg.block_size;
  } else if (attention_type != "original_full") {
    fail("%s: unknown \"attention_type\" \"%s\"", r.where.c_str(), attention_type.c_str());
  }
}

void read_bert_fields(const ConfigReader& r, TransformerConfig& cfg) {
  cfg.type_vocab_size = r.integer("type_vocab_size", 2);
  cfg.layer_norm_eps = r.number("layer_norm_eps", 1e-12);
  cfg.pad_token_id = r.integer("pad_token_id", 0);
  cfg.position_embedding_type = r.string("position_embedding_type", "absolute");
  if (cfg.model_type == "big_bird") {
    read_big_bird_fields(r, cfg);
    return;
  }
  cfg.hidden_act = r.string("hidden_act", "gelu");
  cfg.pre_layer_norm = r.boolean("pre_layer_norm", false);
  cfg.last_layer_norm = r.boolean("last_layer_norm", cfg.pre_layer_norm);
  if (cfg.last_layer_norm && !cfg.pre_layer_norm)
    fail("%s: \"last_layer_norm\" needs \"pre_layer_norm\": true", r.where.c_str());
  const int64_t head_dim =
      cfg.num_attention_heads > 0 ? cfg.hidden_size / cfg.num_attention_heads : 0;
  cfg.rotary_dim = r.integer("rotary_dim", head_dim);
  cfg.rotary_base = r.number("rotary_base", 10000);
  if (r.has("sparse_config_cls")) {
    cfg.sparse_attention = "DeepSpeed sparse attention (\"sparse_config_cls\": \"" +
                           r.string("sparse_config_cls", "") +
                           "\"), whose random block layout is drawn when the model is built and "
                           "cannot be reproduced";
  }
}

void read_esm_fields(const ConfigReader& r, TransformerConfig& cfg) {
  cfg.type_vocab_size = 0;
  cfg.layer_norm_eps = r.number("layer_norm_eps", 1e-12);
  cfg.position_embedding_type = r.string("position_embedding_type", "absolute");
  cfg.pad_token_id = r.integer("pad_token_id", -1);
  cfg.mask_token_id = r.integer("mask_token_id", -1);
  cfg.emb_layer_norm_before = r.boolean("emb_layer_norm_before", false);
  cfg.token_dropout = r.boolean("token_dropout", false);
  // Nucleotide Transformer v2 ships its own modeling code whose FFN is always a SwiGLU; its
  // config is the one with "add_bias_fnn" (Hugging Face's EsmConfig has no such key).
  cfg.gated_ffn = r.has("add_bias_fnn");
  cfg.ffn_bias = r.boolean("add_bias_fnn", true);
  cfg.rotary_dim = cfg.num_attention_heads > 0 ? cfg.hidden_size / cfg.num_attention_heads : 0;
  if (cfg.position_embedding_type == "absolute" && cfg.pad_token_id < 0)
    fail("%s: learned positions need \"pad_token_id\" (position ids start after it)",
         r.where.c_str());
  if (cfg.token_dropout && cfg.mask_token_id < 0)
    fail("%s: \"token_dropout\" needs \"mask_token_id\"", r.where.c_str());
}

void read_mosaic_fields(const ConfigReader& r, TransformerConfig& cfg) {
  // DNABERT-2's bert_layers.py: no position embeddings (ALiBi, whatever the config says),
  // exact GELU in the gated MLP whatever hidden_act says.
  cfg.type_vocab_size = r.integer("type_vocab_size", 2);
  cfg.layer_norm_eps = r.number("layer_norm_eps", 1e-12);
  cfg.pad_token_id = r.integer("pad_token_id", 0);
  cfg.position_embedding_type = "alibi";
  cfg.hidden_act = "gelu";
  cfg.gated_ffn = true;
  // Its masked-LM head does read hidden_act, with a LayerNorm of eps 1e-12 whatever the config.
  cfg.head_act = r.string("hidden_act", "gelu");
  cfg.head_layer_norm_eps = 1e-12;
}

}  // namespace

const char* transformer_arch_name(TransformerArch arch) {
  switch (arch) {
    case TransformerArch::kBert:
      return "bert";
    case TransformerArch::kEsm:
      return "esm";
    case TransformerArch::kMosaicBert:
      return "mosaic-bert";
  }
  return "?";
}

TransformerConfig parse_transformer_config(const std::string& json_text, TransformerArch arch,
                                           const std::string& where) {
  const nlohmann::json j = parse_json_object(json_text, where);
  const ConfigReader r{j, where};
  TransformerConfig cfg;
  cfg.arch = arch;
  cfg.model_type = r.string("model_type", "");
  const bool bert_type = cfg.model_type.empty() || cfg.model_type == "bert";
  const bool ok =
      (arch == TransformerArch::kBert && (bert_type || cfg.model_type == "big_bird")) ||
      (arch == TransformerArch::kEsm && (cfg.model_type.empty() || cfg.model_type == "esm")) ||
      (arch == TransformerArch::kMosaicBert && bert_type);
  if (!ok) {
    fail("%s: \"model_type\": \"%s\" is not a %s configuration", where.c_str(),
         cfg.model_type.c_str(), transformer_arch_name(arch));
  }
  if (!r.has("vocab_size")) fail("%s: missing key \"vocab_size\"", where.c_str());
  cfg.vocab_size = r.integer("vocab_size", 0);
  cfg.hidden_size = r.integer("hidden_size", 768);
  cfg.num_hidden_layers = r.integer("num_hidden_layers", 12);
  cfg.num_attention_heads = r.integer("num_attention_heads", 12);
  cfg.intermediate_size = r.integer("intermediate_size", 3072);
  cfg.max_position_embeddings =
      r.integer("max_position_embeddings", arch == TransformerArch::kEsm ? 1026 : 512);
  cfg.initializer_range = r.number("initializer_range", 0.02);
  if (arch == TransformerArch::kBert) read_bert_fields(r, cfg);
  if (arch == TransformerArch::kEsm) read_esm_fields(r, cfg);
  cfg.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
  if (arch == TransformerArch::kBert) cfg.head_act = cfg.hidden_act;  // ACT2FN[hidden_act]
  if (arch != TransformerArch::kMosaicBert) cfg.head_layer_norm_eps = cfg.layer_norm_eps;
  if (arch == TransformerArch::kMosaicBert) read_mosaic_fields(r, cfg);
  validate_transformer_config(cfg, where);
  return cfg;
}

TransformerConfig read_transformer_config(const std::string& path, TransformerArch arch) {
  return parse_transformer_config(read_file(path), arch, path);
}

void validate_transformer_config(const TransformerConfig& cfg, const std::string& where) {
  const std::pair<const char*, int64_t> positive[] = {
      {"vocab_size", cfg.vocab_size},
      {"hidden_size", cfg.hidden_size},
      {"num_hidden_layers", cfg.num_hidden_layers},
      {"num_attention_heads", cfg.num_attention_heads},
      {"intermediate_size", cfg.intermediate_size},
      {"max_position_embeddings", cfg.max_position_embeddings}};
  for (const auto& kv : positive) {
    if (kv.second < 1)
      fail("%s: \"%s\" must be >= 1, got %lld", where.c_str(), kv.first, (long long)kv.second);
  }
  if (cfg.hidden_size % cfg.num_attention_heads != 0) {
    fail("%s: hidden_size %lld is not a multiple of num_attention_heads %lld", where.c_str(),
         (long long)cfg.hidden_size, (long long)cfg.num_attention_heads);
  }
  const int64_t head_dim = cfg.hidden_size / cfg.num_attention_heads;
  if (cfg.position_embedding_type == "rotary") {
    if (cfg.rotary_dim < 2 || cfg.rotary_dim > head_dim || cfg.rotary_dim % 2 != 0) {
      fail("%s: rotary_dim %lld must be even and within [2, head size %lld]", where.c_str(),
           (long long)cfg.rotary_dim, (long long)head_dim);
    }
  } else if (cfg.position_embedding_type != "absolute" && cfg.position_embedding_type != "alibi") {
    fail("%s: \"position_embedding_type\": \"%s\" is not supported (absolute, rotary)",
         where.c_str(), cfg.position_embedding_type.c_str());
  }
  if (cfg.hidden_act != "gelu" && cfg.hidden_act != "gelu_new") {
    fail("%s: \"hidden_act\": \"%s\" is not supported (gelu, gelu_new)", where.c_str(),
         cfg.hidden_act.c_str());
  }
  if (cfg.type_vocab_size < 0 || cfg.layer_norm_eps <= 0 || !(cfg.initializer_range >= 0)) {
    fail("%s: type_vocab_size must be >= 0, layer_norm_eps > 0, initializer_range >= 0",
         where.c_str());
  }
  if (cfg.position_embedding_type == "absolute" && cfg.arch == TransformerArch::kEsm &&
      cfg.pad_token_id + 1 >= cfg.max_position_embeddings) {
    fail("%s: pad_token_id %lld leaves no learned position (max_position_embeddings %lld)",
         where.c_str(), (long long)cfg.pad_token_id, (long long)cfg.max_position_embeddings);
  }
}

std::string override_config_json(const std::string& json_text,
                                 const std::map<std::string, std::string>& json_values,
                                 const std::string& where) {
  return zoo::set_config_keys(json_text, json_values, where);
}

std::string transformer_weight_prefix(TransformerArch arch) {
  return arch == TransformerArch::kEsm ? "esm." : "bert.";
}

std::vector<TensorSpec> transformer_tensor_specs(const TransformerConfig& c) {
  const int64_t h = c.hidden_size, inter = c.intermediate_size;
  const bool esm = c.arch == TransformerArch::kEsm, mosaic = c.arch == TransformerArch::kMosaicBert;
  std::vector<TensorSpec> out;
  auto linear = [&](const std::string& name, int64_t n_out, int64_t n_in, bool bias) {
    out.push_back({name + ".weight", {n_out, n_in}});
    if (bias) out.push_back({name + ".bias", {n_out}});
  };
  auto norm = [&](const std::string& name) {
    out.push_back({name + ".weight", {h}});
    out.push_back({name + ".bias", {h}});
  };
  out.push_back({"embeddings.word_embeddings.weight", {c.vocab_size, h}});
  if (c.position_embedding_type == "absolute")
    out.push_back({"embeddings.position_embeddings.weight", {c.max_position_embeddings, h}});
  if (c.type_vocab_size > 0)
    out.push_back({"embeddings.token_type_embeddings.weight", {c.type_vocab_size, h}});
  if (!esm) norm("embeddings.LayerNorm");
  if (esm && c.emb_layer_norm_before) norm("embeddings.layer_norm");
  for (int64_t i = 0; i < c.num_hidden_layers; i++) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    if (c.pre_layer_norm) norm(p + "pre_attention_ln");
    if (esm) norm(p + "attention.LayerNorm");
    if (mosaic) {
      linear(p + "attention.self.Wqkv", 3 * h, h, true);
    } else {
      for (const char* m : {"query", "key", "value"}) linear(p + "attention.self." + m, h, h, true);
    }
    linear(p + "attention.output.dense", h, h, true);
    if (!esm && !c.pre_layer_norm) norm(p + "attention.output.LayerNorm");
    if (c.pre_layer_norm) norm(p + "post_attention_ln");
    if (esm) norm(p + "LayerNorm");
    if (mosaic) {
      linear(p + "mlp.gated_layers", 2 * inter, h, false);
      linear(p + "mlp.wo", h, inter, true);
      norm(p + "mlp.layernorm");
      continue;
    }
    linear(p + "intermediate.dense", c.gated_ffn ? 2 * inter : inter, h, c.ffn_bias);
    linear(p + "output.dense", h, inter, c.ffn_bias);
    if (!esm && !c.pre_layer_norm) norm(p + "output.LayerNorm");
  }
  if (esm) norm("encoder.emb_layer_norm_after");
  if (c.last_layer_norm) norm("encoder.last_layer_ln");
  return out;
}

std::vector<TensorSpec> mlm_head_tensor_specs(const TransformerConfig& c) {
  const int64_t h = c.hidden_size;
  const bool esm = c.arch == TransformerArch::kEsm;
  const std::string head = esm ? "lm_head." : "cls.predictions.";
  const std::string transform = esm ? head : head + "transform.";
  const std::string norm = transform + (esm ? "layer_norm" : "LayerNorm");
  std::vector<TensorSpec> out = {{transform + "dense.weight", {h, h}},
                                 {transform + "dense.bias", {h}},
                                 {norm + ".weight", {h}},
                                 {norm + ".bias", {h}}};
  if (!c.tie_word_embeddings) out.push_back({head + "decoder.weight", {c.vocab_size, h}});
  const bool decoder_bias = c.arch == TransformerArch::kMosaicBert;  // nn.Linear with bias there
  out.push_back({head + (decoder_bias ? "decoder.bias" : "bias"), {c.vocab_size}});
  return out;
}

}  // namespace bend
