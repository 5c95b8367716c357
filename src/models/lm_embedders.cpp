// The transformer Embedders ("dnabert", "nt", "dnabert2", "gena-lm", "grover"): a ChunkedEmbedder (BEND's
// chunking and upsampling) whose model inputs run through the TransformerEncoder.
#include "bend/models/lm_embedders.hpp"

#include <algorithm>
#include <cstdlib>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/chunked_embedder.hpp"
#include "bend/models/safetensors.hpp"
#include "bend/models/transformer.hpp"
#include "bend/tokenize/chunks.hpp"
#include "bend/tokenize/special.hpp"
#include "bend/tokenize/tokenizer.hpp"

namespace bend {

namespace {

// Which checkpoint files and rules a model uses.
struct LmSpec {
  const char* name;
  TransformerArch arch;
  const char* tokenizer_kind;  // make_tokenizer kind; "nt" picks nt-v1 / nt-v2 by the config
};

// BEND's chunking of each model (docs/models.md), capped at what the checkpoint's position
// table allows. `bend_rules` (--rules bend): BEND's cuts
// (DNABERT and NT: the id list cut bare; GENA-LM and GROVER: consecutive runs); else balanced.
ChunkRule bend_chunk_rule(const LmSpec& spec, const TransformerConfig& cfg, int64_t model_max,
                          bool bend_rules) {
  ChunkRule r;
  const std::string name = spec.name;
  ChunkCut cut = ChunkCut::kBalanced;
  if (bend_rules && (name == "dnabert" || name == "nt")) cut = ChunkCut::kBareIds;
  if (bend_rules && (name == "gena-lm" || name == "grover")) cut = ChunkCut::kRuns;
  if (name == "dnabert") r = {0, kDnabertMaxTokens};
  if (name == "nt") {
    r = cfg.position_embedding_type == "rotary" ? ChunkRule{kNtV2ChunkBp, kNtV2MaxTokens}
                                                : ChunkRule{kNtV1ChunkBp, kNtV1MaxTokens};
  }
  if (name == "dnabert2") r = {kDnabert2ChunkBp, 0};
  if (name == "gena-lm") {
    r = {0, cfg.model_type == "big_bird" ? kGenaLmBigBirdMaxTokens : kGenaLmBertMaxTokens};
  }
  if (name == "grover") r = {0, kGroverMaxTokens};
  if (model_max > 0 && (r.max_tokens == 0 || r.max_tokens > model_max)) r.max_tokens = model_max;
  r.cut = cut;
  return r;
}

// BEND's loss (--rules bend): the softmax over the vocabulary without special tokens, as BEND's
// code slices the logits: NT v1 drops ids 0-3 (<unk> <pad> <mask> <cls>), v2 ids 0-5 (also
// <eos> <bos>); DNABERT-2 drops ids 1-4 ([CLS] [SEP] [PAD] [MASK], keeps [UNK]). DNABERT,
// GENA-LM and GROVER, which BEND gives no loss, follow DNABERT-2: every bracketed special token
// except [UNK] is dropped.
std::vector<int32_t> bend_loss_vocab(const LmSpec& spec, const TransformerConfig& cfg,
                                     const Tokenizer& tok) {
  std::vector<int32_t> keep;
  const std::string name = spec.name;
  const int32_t v = int32_t(cfg.vocab_size);
  if (name == "nt") {
    const int32_t first = cfg.position_embedding_type == "rotary" ? 6 : 4;
    for (int32_t id = first; id < v; id++) keep.push_back(id);
    return keep;
  }
  for (int32_t id = 0; id < v; id++) {
    const bool special = name == "dnabert2"
                             ? (id >= 1 && id <= 4)
                             : id != tok.unk_id() && is_bracketed_special(tok.token(id));
    if (!special) keep.push_back(id);
  }
  return keep;
}

// k of a "dnabert-k" tokenizer kind, else 0.
int dnabert_k(const std::string& kind) {
  return kind.compare(0, 8, "dnabert-") == 0 ? std::atoi(kind.c_str() + 8) : 0;
}

class TransformerLmEmbedder : public ChunkedEmbedder {
 public:
  TransformerLmEmbedder(const LmSpec& spec, const EmbedderOptions& opts);
  // GENA-LM: a run of >= 10 N (one '-' token, which BEND's upsampling repeats once).
  bool bend_drops_row(const std::string& seq) const override {
    return n_run_token_ && seq.find("NNNNNNNNNN") != std::string::npos;
  }

 protected:
  void forward_inputs(const std::vector<const std::vector<int32_t>*>& inputs,
                      std::vector<std::vector<float>>& hidden) override;

 private:
  std::unique_ptr<TransformerEncoder> encoder_;
  LmOutput output_ = LmOutput::kHidden;
  bool n_run_token_ = false;  // 10 N become one token whose text is shorter (GENA-LM's '-')
};

TransformerLmEmbedder::TransformerLmEmbedder(const LmSpec& spec, const EmbedderOptions& opts) {
  name_ = spec.name;
  const std::string& dir = opts.checkpoint_dir;
  if (dir.empty()) fail("%s: needs a checkpoint directory", spec.name);
  const std::string config_path = path_join(dir, "config.json");
  const TransformerConfig cfg = read_transformer_config(config_path, spec.arch);
  std::string kind = spec.tokenizer_kind;
  if (kind == "nt") kind = cfg.position_embedding_type == "rotary" ? "nt-v2" : "nt-v1";
  tokenizer_ = make_tokenizer(kind, dir);  // checks the vocabulary against vocab_size
  TransformerRunOptions run;
  run.n_threads = opts.n_threads;
  run.use_cuda = opts.use_cuda;
  run.local_rank = opts.local_rank;
  output_ = parse_lm_output(opts.output, spec.name);
  run.output = output_;
  const bool bend_rules = opts.rules != "corrected";
  if (bend_rules && output_ == LmOutput::kLoss)
    run.loss_vocab = bend_loss_vocab(spec, cfg, *tokenizer_);
  encoder_.reset(new TransformerEncoder(dir, spec.arch, run));
  rule_ = bend_chunk_rule(spec, cfg, encoder_->max_tokens(), bend_rules);
  const int k = dnabert_k(tokenizer_->kind());
  if (bend_rules && !opts.kmer_centre && k >= 3 && k <= 6) {  // BEND's _repeat_embedding_vectors (chunked_embedder.hpp)
    kmer_left_ = true;
    echo_from_end_ = k >= 5 ? k - 2 : 0;
  }
  dim_ = encoder_->output_dim();  // hidden_size, vocab_size (logits) or 1 (loss)
  // The fingerprint covers everything that changes the vectors: weights, config, tokenizer.
  uint32_t crc = weights_crc32c(checkpoint_weights_path(dir));
  for (const char* f : {"config.json", "vocab.txt", "tokenizer.json"}) {
    const std::string p = path_join(dir, f);
    if (!path_exists(p)) continue;
    const std::string text = read_file(p);
    crc = crc32c_extend(crc, text.data(), text.size());
  }
  fingerprint_ = strfmt("%s:crc32c=%08x", spec.name, crc);
  std::vector<int32_t> ids;
  std::vector<TokenSpan> spans;
  tokenizer_->encode_content("NNNNNNNNNN", ids, spans);
  n_run_token_ = ids.size() == 1 && ids[0] != tokenizer_->unk_id() &&
                 tokenizer_->token(ids[0]).size() != size_t(spans[0].len_bp);
}

// Runs `inputs` through the encoder in groups whose activations ([rows, 2 * intermediate +
// 3 * hidden] floats, the widest of a layer, plus 2 * vocab with the masked-LM head) stay
// under ~512 MiB; hidden[i] = [inputs[i]->size(), dim_]. The encoder runs a group unpadded,
// so grouping does not change results.
void TransformerLmEmbedder::forward_inputs(const std::vector<const std::vector<int32_t>*>& inputs,
                                           std::vector<std::vector<float>>& hidden) {
  const TransformerConfig& c = encoder_->config();
  const int64_t head_floats = output_ == LmOutput::kHidden ? 0 : 2 * c.vocab_size;
  const int64_t row_bytes = 4 * (2 * c.intermediate_size + 3 * c.hidden_size + head_floats);
  const int64_t max_rows = std::max<int64_t>(1, (int64_t(512) << 20) / row_bytes);
  hidden.assign(inputs.size(), {});
  size_t begin = 0;
  while (begin < inputs.size()) {
    size_t end = begin;
    int64_t rows = 0;
    while (end < inputs.size() && (end == begin || rows + int64_t(inputs[end]->size()) <= max_rows))
      rows += int64_t(inputs[end++]->size());
    std::vector<std::vector<float>> group_out;
    encoder_->forward({inputs.begin() + long(begin), inputs.begin() + long(end)}, group_out);
    for (size_t i = begin; i < end; i++) hidden[i] = std::move(group_out[i - begin]);
    begin = end;
  }
}

}  // namespace

std::unique_ptr<Embedder> make_dnabert_embedder(const EmbedderOptions& opts) {
  return std::unique_ptr<Embedder>(
      new TransformerLmEmbedder({"dnabert", TransformerArch::kBert, "dnabert"}, opts));
}

std::unique_ptr<Embedder> make_nt_embedder(const EmbedderOptions& opts) {
  return std::unique_ptr<Embedder>(
      new TransformerLmEmbedder({"nt", TransformerArch::kEsm, "nt"}, opts));
}

std::unique_ptr<Embedder> make_dnabert2_embedder(const EmbedderOptions& opts) {
  return std::unique_ptr<Embedder>(
      new TransformerLmEmbedder({"dnabert2", TransformerArch::kMosaicBert, "bpe"}, opts));
}

std::unique_ptr<Embedder> make_gena_lm_embedder(const EmbedderOptions& opts) {
  return std::unique_ptr<Embedder>(
      new TransformerLmEmbedder({"gena-lm", TransformerArch::kBert, "bpe"}, opts));
}

std::unique_ptr<Embedder> make_grover_embedder(const EmbedderOptions& opts) {
  return std::unique_ptr<Embedder>(
      new TransformerLmEmbedder({"grover", TransformerArch::kBert, "grover"}, opts));
}

}  // namespace bend
