// `bend model init` for the transformer models: a seeded checkpoint from a real config.json
// with the model's tokenizer files. Torch-free.
#include <unistd.h>

#include <memory>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"
#include "bend/models/lm_embedders.hpp"
#include "bend/models/transformer.hpp"
#include "bend/tokenize/tokenizer.hpp"

namespace bend {

namespace {

struct LmKind {
  const char* model;
  TransformerArch arch;
};

const LmKind kLmKinds[] = {{"dnabert", TransformerArch::kBert},
                           {"nt", TransformerArch::kEsm},
                           {"dnabert2", TransformerArch::kMosaicBert},
                           {"gena-lm", TransformerArch::kBert},
                           {"grover", TransformerArch::kBert}};

// The tokenizer files of checkpoint directory `dir` to copy (name -> content).
std::map<std::string, std::string> tokenizer_files(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const char* name :
       {"vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
    const std::string p = path_join(dir, name);
    if (path_exists(p)) out[name] = read_file(p);
  }
  if (!out.count("vocab.txt") && !out.count("tokenizer.json"))
    fail("%s: has neither vocab.txt nor tokenizer.json", dir.c_str());
  return out;
}

// DNABERT-k's vocab.txt for a vocab_size of 4^k + 5.
std::string generated_dnabert_vocab(const TransformerConfig& cfg, const std::string& where) {
  for (int k = 3; k <= 6; k++) {
    if ((int64_t(1) << (2 * k)) + 5 == cfg.vocab_size) {
      std::string text;
      for (const std::string& t : dnabert_vocab(k)) text += t + "\n";
      return text;
    }
  }
  fail("%s: vocab_size %lld is not 4^k + 5 for k = 3..6; give the tokenizer directory",
       where.c_str(), (long long)cfg.vocab_size);
}

// Removes what a failed init wrote into the (previously empty or absent) directory `dir`.
void remove_written(const std::string& dir) {
  for (const std::string& name : list_dir(dir)) remove_if_exists(path_join(dir, name));
  ::rmdir(dir.c_str());
}

}  // namespace

std::string init_lm_checkpoint(const LmInitRequest& r) {
  const LmKind* kind = nullptr;
  for (const LmKind& k : kLmKinds) {
    if (r.model == k.model) kind = &k;
  }
  if (kind == nullptr) fail("bend model init: '%s' is not a transformer model", r.model.c_str());
  if (r.config_path.empty())
    fail("bend model init --arch %s: needs --config (the model's config.json)", r.model.c_str());
  const std::string text = override_config_json(read_file(r.config_path), r.set, r.config_path);
  const TransformerConfig cfg = parse_transformer_config(text, kind->arch, r.config_path);
  std::map<std::string, std::string> files;
  if (!r.tokenizer_dir.empty()) {
    files = tokenizer_files(r.tokenizer_dir);
  } else if (r.model == "dnabert") {
    files["vocab.txt"] = generated_dnabert_vocab(cfg, r.config_path);
  } else if (r.model != "nt") {
    fail("bend model init --arch %s: needs --tokenizer DIR holding the model's %s", r.model.c_str(),
         r.model == "grover" ? "vocab.txt" : "tokenizer.json");
  }
  write_seeded_transformer_checkpoint(r.out_dir, kind->arch, text, r.seed, files);
  try {  // the tokenizer must fit the embedding table, as `bend embed` will check
    std::string tok = r.model == "nt"
                          ? (cfg.position_embedding_type == "rotary" ? "nt-v2" : "nt-v1")
                          : (r.model == "dnabert" || r.model == "grover" ? r.model : "bpe");
    make_tokenizer(tok, r.out_dir);
  } catch (const Error& e) {
    remove_written(r.out_dir);
    throw;
  }
  int64_t n_params = 0;
  for (const TensorSpec& t : transformer_tensor_specs(cfg)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    n_params += n;
  }
  return strfmt(
      "%s: %s, hidden_size %lld, num_hidden_layers %lld, num_attention_heads %lld, "
      "intermediate_size %lld, vocab_size %lld, %s parameters, seed %llu",
      r.model.c_str(), transformer_arch_name(kind->arch), (long long)cfg.hidden_size,
      (long long)cfg.num_hidden_layers, (long long)cfg.num_attention_heads,
      (long long)cfg.intermediate_size, (long long)cfg.vocab_size,
      human_count(double(n_params)).c_str(), (unsigned long long)r.seed);
}

}  // namespace bend
