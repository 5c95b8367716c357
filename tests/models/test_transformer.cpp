// Transformer checkpoints without running them: the real config.json files parse with the
// Hugging Face defaults, bad configs are refused by name, the expected tensors match the Hugging
// Face layout, weight checks name every bad tensor, DNABERT's vocabulary is generated exactly,
// and the packed token vector / upsampling helpers. The forward pass itself is checked against
// python3-torch in test_transformer_reference.py and test_lm_embedders.py.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../common/temp_dir.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/safetensors.hpp"
#include "bend/models/token_chunks.hpp"
#include "bend/models/transformer.hpp"

using bend::TransformerArch;
using bend::TransformerConfig;
using bend_test::TempDir;

namespace {

// A file of tests/data (real test data, see its SOURCES.md).
std::string test_data(const std::string& rel) { return std::string(BEND_TEST_DATA_DIR) + "/" + rel; }

// A file next to this test (tests/models/...). Not found from __FILE__: ccache with a base_dir
// makes that path relative to the build directory.
std::string here(const std::string& rel) { return std::string(BEND_TEST_DATA_DIR) + "/../models/" + rel; }

TransformerConfig parse(const std::string& json, TransformerArch arch = TransformerArch::kBert) {
  return bend::parse_transformer_config(json, arch, "cfg.json");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const bend::Error& e) {
    return e.what();
  }
  return "(no error)";
}

const std::map<std::string, std::string> kSmall = {
    {"num_hidden_layers", "2"},  {"hidden_size", "16"}, {"num_attention_heads", "2"},
    {"intermediate_size", "24"}, {"vocab_size", "30"},  {"max_position_embeddings", "40"}};

// A seeded small checkpoint of `config_path` (tests/data) in `dir`.
std::string seeded(const TempDir& tmp, const std::string& name, const std::string& config_path,
                   TransformerArch arch) {
  const std::string text =
      bend::override_config_json(bend::read_file(config_path), kSmall, config_path);
  const std::string dir = tmp.file(name);
  bend::write_seeded_transformer_checkpoint(dir, arch, text, 5, {});
  return dir;
}

// Rewrites dir/model.safetensors through `edit` (name -> tensor, all as F32).
void rewrite(const std::string& dir,
             const std::function<void(std::map<std::string, bend::F32Tensor>&)>& edit) {
  const std::string path = dir + "/model.safetensors";
  std::map<std::string, bend::F32Tensor> all;
  {
    bend::SafetensorsFile f(path);
    for (const auto& kv : f.tensors())
      all[kv.first] = {kv.first, kv.second.shape, f.read_f32(kv.first)};
  }
  edit(all);
  std::vector<bend::F32Tensor> list;
  for (auto& kv : all) list.push_back(kv.second);
  bend::write_safetensors(path, list, {});
}

}  // namespace

TEST_CASE("real config files parse with the Hugging Face defaults", "[transformer]") {
  const TransformerConfig dnabert = bend::read_transformer_config(
      test_data("tokenizers/dnabert-6/config.json"), TransformerArch::kBert);
  CHECK(dnabert.vocab_size == 4101);
  CHECK(dnabert.layer_norm_eps == 1e-12);
  CHECK(dnabert.pad_token_id == 0);
  CHECK(!dnabert.pre_layer_norm);
  CHECK(dnabert.hidden_act == "gelu");

  const std::string gena = "configs/gena-lm/";
  const TransformerConfig lastln = bend::read_transformer_config(
      test_data(gena + "L12-H768-A12-V32k-preln-lastln.json"), TransformerArch::kBert);
  CHECK(lastln.pre_layer_norm);
  CHECK(lastln.last_layer_norm);  // absent: defaults to pre_layer_norm, as GENA-LM's code does
  CHECK(lastln.pad_token_id == 3);
  const TransformerConfig preln = bend::read_transformer_config(
      test_data(gena + "L12-H768-A12-V32k-preln.json"), TransformerArch::kBert);
  CHECK(preln.pre_layer_norm);
  CHECK(!preln.last_layer_norm);
  CHECK(bend::read_transformer_config(test_data(gena + "L24-H1024-A16-V32k-preln-lastln.json"),
                                      TransformerArch::kBert)
            .layer_norm_eps == 1e-5);
  const TransformerConfig rope = bend::read_transformer_config(
      test_data(gena + "L12-H768-A12-V32k-L4096-preln-sparse-rope.json"), TransformerArch::kBert);
  CHECK(rope.position_embedding_type == "rotary");
  CHECK(rope.rotary_dim == 32);
  CHECK(rope.sparse_attention.find("DeepSpeed") != std::string::npos);
  const TransformerConfig bigbird = bend::read_transformer_config(
      test_data(gena + "hf_bigbird_L12-H768-A12-V32k-L4096.json"), TransformerArch::kBert);
  CHECK(bigbird.model_type == "big_bird");
  CHECK(bigbird.hidden_act == "gelu_new");
  CHECK(bigbird.full_attention_max_tokens == (5 + 2 * 3) * 64);
  CHECK(bigbird.block_size == 64);
  CHECK(bigbird.num_random_blocks == 3);
  const TransformerConfig bigbird_full = parse(
      "{\"vocab_size\": 9, \"model_type\": \"big_bird\", \"attention_type\": \"original_full\"}");
  CHECK(bigbird_full.full_attention_max_tokens == 0);  // full attention at every length

  const TransformerConfig dnabert2 = bend::read_transformer_config(
      test_data("tokenizers/dnabert2/config.json"), TransformerArch::kMosaicBert);
  CHECK(dnabert2.position_embedding_type == "alibi");  // whatever the config says: ALiBi
  CHECK(dnabert2.gated_ffn);

  const TransformerConfig v1 = bend::read_transformer_config(
      here("configs/nt-v1-small.json"), TransformerArch::kEsm);
  CHECK(v1.token_dropout);
  CHECK(!v1.gated_ffn);
  CHECK(v1.ffn_bias);
  const TransformerConfig v2 = bend::read_transformer_config(
      here("configs/nt-v2-small.json"), TransformerArch::kEsm);
  CHECK(v2.gated_ffn);
  CHECK(!v2.ffn_bias);
  CHECK(v2.rotary_dim == 16);  // the whole head
}

TEST_CASE("bad configs are refused naming the file and the key", "[transformer]") {
  CHECK_THAT(error_of([] { parse("{"); }), Catch::Contains("cfg.json: not valid JSON"));
  CHECK_THAT(error_of([] { parse("{\"hidden_size\": 8}"); }),
             Catch::Contains("cfg.json: missing key \"vocab_size\""));
  CHECK_THAT(error_of([] { parse("{\"vocab_size\": 9, \"hidden_size\": 10}"); }),
             Catch::Contains("hidden_size 10 is not a multiple of num_attention_heads 12"));
  CHECK_THAT(error_of([] { parse("{\"vocab_size\": 9, \"num_hidden_layers\": \"2\"}"); }),
             Catch::Contains("\"num_hidden_layers\" must be an integer"));
  CHECK_THAT(error_of([] { parse("{\"vocab_size\": 9, \"last_layer_norm\": true}"); }),
             Catch::Contains("\"last_layer_norm\" needs \"pre_layer_norm\""));
  CHECK_THAT(
      error_of([] { parse("{\"vocab_size\": 9, \"position_embedding_type\": \"relative_key\"}"); }),
      Catch::Contains("\"relative_key\" is not supported"));
  CHECK_THAT(error_of([] { parse("{\"vocab_size\": 9, \"hidden_act\": \"relu\"}"); }),
             Catch::Contains("\"relu\" is not supported"));
  CHECK_THAT(error_of([] {
               parse("{\"vocab_size\": 9, \"model_type\": \"big_bird\", \"block_size\": 0}");
             }),
             Catch::Contains("cfg.json: \"block_size\" must be >= 1"));
  CHECK_THAT(error_of([] { parse("{\"vocab_size\": 9, \"model_type\": \"esm\"}"); }),
             Catch::Contains("\"model_type\": \"esm\" is not a bert configuration"));
  CHECK_THAT(error_of([] { parse("{\"vocab_size\": 9}", TransformerArch::kEsm); }),
             Catch::Contains("learned positions need \"pad_token_id\""));
}

TEST_CASE("expected tensors follow the Hugging Face layout of each family", "[transformer]") {
  TransformerConfig bert = parse("{\"vocab_size\": 9, \"num_hidden_layers\": 3}");
  std::vector<bend::TensorSpec> s = bend::transformer_tensor_specs(bert);
  CHECK(s.size() == 5 + 16 * 3);  // BertModel without pooler
  CHECK(s[0].name == "embeddings.word_embeddings.weight");
  CHECK(s[0].shape == std::vector<int64_t>{9, 768});
  CHECK(s[5].name == "encoder.layer.0.attention.self.query.weight");

  TransformerConfig v2 = bend::read_transformer_config(
      here("configs/nt-v2-small.json"), TransformerArch::kEsm);
  s = bend::transformer_tensor_specs(v2);
  CHECK(s.size() == 1 + 14 * 2 + 2);  // no position table, FFN without biases, final LN
  bool found = false;
  for (const auto& t : s) {
    if (t.name == "encoder.layer.1.intermediate.dense.weight") {
      found = true;
      CHECK(t.shape == std::vector<int64_t>{2 * 128, 64});  // SwiGLU: both halves in one matrix
    }
  }
  CHECK(found);
  CHECK(s.back().name == "encoder.emb_layer_norm_after.bias");

  TransformerConfig mosaic =
      parse("{\"vocab_size\": 9, \"num_hidden_layers\": 1}", TransformerArch::kMosaicBert);
  s = bend::transformer_tensor_specs(mosaic);
  CHECK(s.size() == 4 + 11);
  CHECK(s[4].name == "encoder.layer.0.attention.self.Wqkv.weight");
  CHECK(s[4].shape == std::vector<int64_t>{3 * 768, 768});
}

TEST_CASE("weight checks list every missing, unexpected and mis-shaped tensor", "[transformer]") {
  TempDir tmp;
  const std::string dir = seeded(
      tmp, "gena", test_data("configs/gena-lm/L12-H768-A12-V32k-preln.json"), TransformerArch::kBert);
  const std::string config = dir + "/config.json";
  const TransformerConfig cfg = bend::read_transformer_config(config, TransformerArch::kBert);
  {  // heads and buffers are ignored, TensorFlow-era gamma/beta accepted
    rewrite(dir, [](std::map<std::string, bend::F32Tensor>& t) {
      t["cls.predictions.bias"] = {"cls.predictions.bias", {30}, std::vector<float>(30, 1)};
      t["bert.pooler.dense.bias"] = {"bert.pooler.dense.bias", {16}, std::vector<float>(16, 1)};
      t["bert.embeddings.position_ids"] = {
          "bert.embeddings.position_ids", {1, 40}, std::vector<float>(40)};
      auto n = t.extract("bert.embeddings.LayerNorm.weight");
      n.key() = "bert.embeddings.LayerNorm.gamma";
      n.mapped().name = n.key();
      t.insert(std::move(n));
    });
    bend::SafetensorsFile f(dir + "/model.safetensors");
    const auto names = bend::check_transformer_weights(f, cfg);
    CHECK(names.at("embeddings.LayerNorm.weight") == "bert.embeddings.LayerNorm.gamma");
    CHECK(names.at("encoder.layer.1.output.dense.bias") ==
          "bert.encoder.layer.1.output.dense.bias");
  }
  rewrite(dir, [](std::map<std::string, bend::F32Tensor>& t) {
    t.erase("bert.encoder.layer.1.pre_attention_ln.bias");
    t["bert.encoder.layer.0.attention.output.LayerNorm.weight"] = {
        "bert.encoder.layer.0.attention.output.LayerNorm.weight", {16}, std::vector<float>(16)};
    t["bert.encoder.layer.0.intermediate.dense.weight"].shape = {12, 32};
  });
  bend::SafetensorsFile f(dir + "/model.safetensors");
  const std::string msg = error_of([&] { bend::check_transformer_weights(f, cfg); });
  CHECK_THAT(msg, Catch::Contains(dir + "/model.safetensors: weights do not match"));
  CHECK_THAT(msg, Catch::Contains("missing tensors: bert.encoder.layer.1.pre_attention_ln.bias"));
  CHECK_THAT(msg,
             Catch::Contains("mis-shaped tensors: bert.encoder.layer.0.intermediate.dense.weight "
                             "(expected F32 [24, 16], got F32 [12, 32])"));
  CHECK_THAT(msg,
             Catch::Contains(
                 "unexpected tensors: bert.encoder.layer.0.attention.output.LayerNorm.weight"));
}

TEST_CASE("base-model checkpoints without the bert. prefix load", "[transformer]") {
  TempDir tmp;
  const std::string dir =
      seeded(tmp, "dnabert", test_data("tokenizers/dnabert-6/config.json"), TransformerArch::kBert);
  rewrite(dir, [](std::map<std::string, bend::F32Tensor>& t) {
    std::map<std::string, bend::F32Tensor> bare;
    for (auto& kv : t) {
      bend::F32Tensor x = kv.second;
      if (kv.first.compare(0, 5, "bert.") == 0) x.name = kv.first.substr(5);  // cls.* stays
      bare[x.name] = x;
    }
    t = bare;
  });
  bend::TransformerEncoder enc(dir, TransformerArch::kBert, {});
  CHECK(enc.max_tokens() == 40);
  std::vector<int32_t> ids = {2, 7, 9, 3};
  std::vector<std::vector<float>> out;
  enc.forward({&ids}, out);
  CHECK(out[0].size() == 4 * 16);
  ids[1] = 30;  // outside vocab_size
  CHECK_THAT(error_of([&] { enc.forward({&ids}, out); }),
             Catch::Contains("token id 30 at position 1 is outside [0, 30)"));
}

TEST_CASE("seeded checkpoints depend only on the seed and refuse to overwrite", "[transformer]") {
  TempDir tmp;
  const std::string cfg = test_data("tokenizers/dnabert2/config.json");
  const std::string a = seeded(tmp, "a", cfg, TransformerArch::kMosaicBert);
  const std::string b = seeded(tmp, "b", cfg, TransformerArch::kMosaicBert);
  CHECK(bend_test::slurp(a + "/model.safetensors") == bend_test::slurp(b + "/model.safetensors"));
  CHECK_THAT(error_of([&] { seeded(tmp, "a", cfg, TransformerArch::kMosaicBert); }),
             Catch::Contains("already exists and is not empty"));
  bend::SafetensorsFile f(a + "/model.safetensors");
  CHECK(f.has("bert.encoder.layer.1.mlp.gated_layers.weight"));
  CHECK(f.metadata().at("bend_arch") == "mosaic-bert");
}

TEST_CASE("DNABERT's generated vocabulary equals the published vocab.txt", "[transformer]") {
  for (int k = 3; k <= 6; k++) {
    std::ifstream in(test_data("tokenizers/dnabert-" + std::to_string(k) + "/vocab.txt"));
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
      lines.push_back(l);
    }
    CHECK(bend::dnabert_vocab(k) == lines);
  }
}

TEST_CASE("packed token vectors round-trip and malformed ones are refused", "[transformer]") {
  bend::ChunkedTokens t;
  t.chunks = {{2, 10, 11, 3}, {2, 12, 3}};
  t.repeat = {0, 3, 1, 0, 0, 4, 0};
  std::vector<int32_t> packed;
  bend::pack_chunked_tokens(t, packed);
  CHECK(packed == std::vector<int32_t>{2, 4, 2, 10, 11, 3, 3, 2, 12, 3, 0, 3, 1, 0, 0, 4, 0});
  const bend::ChunkedTokens u = bend::unpack_chunked_tokens(packed, "row 1");
  CHECK(u.chunks == t.chunks);
  CHECK(u.repeat == t.repeat);
  CHECK(bend::output_rows(u) == 8);
  packed.pop_back();
  CHECK_THAT(error_of([&] { bend::unpack_chunked_tokens(packed, "row 1"); }),
             Catch::Contains("row 1: packed tokens: 6 repeat counts for 7 token ids"));
  CHECK_THAT(error_of([&] {
               bend::unpack_chunked_tokens({5, 1}, "row 2");
             }),
             Catch::Contains("row 2: packed tokens"));
}

TEST_CASE("repeat counts come from a monotone nucleotide index", "[transformer]") {
  std::vector<int32_t> repeat;
  bend::repeat_counts_from_index({1, 1, 1, 2, 3, 3}, 5, "s", repeat);
  CHECK(repeat == std::vector<int32_t>{0, 3, 1, 2, 0});
  CHECK_THAT(error_of([&] {
               bend::repeat_counts_from_index({-1, -1}, 2, "seq", repeat);
             }),
             Catch::Contains("seq: no token covers nucleotide 0"));
  CHECK_THAT(error_of([&] {
               bend::repeat_counts_from_index({2, 1}, 3, "seq", repeat);
             }),
             Catch::Contains("maps to token 1 after token 2"));

  const std::vector<float> rows = {1, 2, 3, 4, 5, 6};  // 3 rows of 2
  std::vector<float> out;
  bend::upsample_rows(rows.data(), 3, 2, {2, 0, 1}, out);
  CHECK(out == std::vector<float>{1, 2, 1, 2, 5, 6});
}
