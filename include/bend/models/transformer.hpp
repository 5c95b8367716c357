// Transformer encoders of the DNA language models BEND evaluates, loaded from Hugging Face
// checkpoints (config.json + model.safetensors with Hugging Face tensor names) and run with
// LibTorch. Output = the last hidden state, one vector per input token.
//   kBert   BERT (DNABERT): emb = LN(word + position + type); per layer, post-LN:
//             x = LN(x + Attn(x)); x = LN(x + W2 act(W1 x))
//           GENA-LM BERT with "pre_layer_norm": x = x + Attn(LN1(x)); x = x + W2 act(W1 LN2(x));
//             LN after the last layer when "last_layer_norm" (default: = pre_layer_norm);
//             "position_embedding_type": "rotary" rotates the first rotary_dim dims of each head.
//           BigBird ("model_type": "big_bird", GENA-LM bigbird): BERT with gelu_new; with
//             "attention_type": "block_sparse", inputs longer than (5 + 2 num_random_blocks)
//             block_size tokens run Hugging Face's block-sparse attention (eval mode: the random
//             blocks are block 0; src/models/bigbird_attention.hpp), shorter ones full attention.
//   kEsm    ESM (Nucleotide Transformer): emb = word (+ learned position, ids from pad_token_id+1)
//           per layer, pre-LN: x = x + Attn(LN1(x)) with q scaled by d^-0.5 (then rotary, NT v2);
//           x = x + FFN(LN2(x)); LN after the last layer. FFN: W2 gelu(W1 x) (v1) or, when the
//           config has "add_bias_fnn" (v2's own modeling code), W2 (silu(x W1a) * x W1b) with
//           biases only if add_bias_fnn.
//   kMosaicBert  DNABERT-2: emb = LN(word + type); per layer, post-LN, fused Wqkv, ALiBi bias
//           -slope_h |i - j|; x = LN(x + Attn(x)); x = LN(x + Wo (gelu(x Wg_a) * x Wg_b)).
// Masked-LM head (Hugging Face *ForMaskedLM), run for output logits / loss (lm_output.hpp):
//   logits = decoder(LN_head(act(dense(hidden)))) + bias, decoder = the word embeddings unless
//   the checkpoint has its own (tie_word_embeddings false); act = GELU (BERT: hidden_act).
// Torch-free header: the forward pass lives in src/models/transformer.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bend/models/lm_output.hpp"

namespace bend {

class SafetensorsFile;

// Architecture family; each reads the config.json keys of its Hugging Face model class.
enum class TransformerArch { kBert, kEsm, kMosaicBert };

// "bert", "esm" or "mosaic-bert".
const char* transformer_arch_name(TransformerArch arch);

// A parsed config.json (Hugging Face field names in comments where they differ).
struct TransformerConfig {
  TransformerArch arch = TransformerArch::kBert;
  std::string model_type;  // "bert", "big_bird", "esm" ("" when the file has none)
  int64_t vocab_size = 0;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;  // rows of token_type_embeddings (kEsm: 0, none)
  double layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";                   // kBert: "gelu" (erf) or "gelu_new" (tanh)
  std::string position_embedding_type = "absolute";  // "absolute", "rotary"; kMosaicBert: "alibi"
  int64_t pad_token_id = 0;
  int64_t mask_token_id = -1;             // kEsm: the token zeroed by token_dropout
  bool pre_layer_norm = false;            // kBert (GENA-LM)
  bool last_layer_norm = false;           // kBert (GENA-LM) with pre_layer_norm
  int64_t rotary_dim = 0;                 // rotary dims per head; 0 = the whole head
  double rotary_base = 10000;             // rotary frequency base
  bool emb_layer_norm_before = false;     // kEsm: LayerNorm on the embeddings
  bool token_dropout = false;             // kEsm: embeddings * 0.88 / (1 - masked fraction)
  bool gated_ffn = false;                 // kEsm v2 (SwiGLU); always true for kMosaicBert (GeGLU)
  bool ffn_bias = true;                   // kEsm: add_bias_fnn (v2: false)
  bool rescale_embeddings = false;        // big_bird: word embeddings * sqrt(hidden_size)
  int64_t block_size = 0;                 // big_bird block_sparse: tokens per block (0: none)
  int64_t num_random_blocks = 0;          // big_bird block_sparse: random key blocks per query
  int64_t full_attention_max_tokens = 0;  // big_bird block_sparse: inputs up to this long run
                                          // full attention ((5 + 2 r) block_size), longer ones
                                          // block-sparse; 0 = always full attention
  std::string sparse_attention;           // non-empty: unsupported sparse attention (why refused)
  double initializer_range = 0.02;        // std of the seeded weights
  bool tie_word_embeddings = true;        // MLM decoder = word embeddings when none is stored
  std::string head_act = "gelu";          // MLM head activation: "gelu" (erf), "gelu_new" (tanh)
  double head_layer_norm_eps = 1e-12;     // MLM head LayerNorm (MosaicBERT: always 1e-12)
};

// Parses config.json text of family `arch`; `where` names the file in errors. Absent keys take
// the defaults of the Hugging Face class. Throws bend::Error naming `where` and the key for bad
// JSON, wrong types and invalid values (see validate_transformer_config).
TransformerConfig parse_transformer_config(const std::string& json_text, TransformerArch arch,
                                           const std::string& where);
// Reads and parses `path` (see parse_transformer_config).
TransformerConfig read_transformer_config(const std::string& path, TransformerArch arch);
// Throws bend::Error (prefixed with `where`) when sizes are < 1, hidden_size is not a multiple
// of num_attention_heads, an odd rotary dimension, or an unknown activation / position type.
void validate_transformer_config(const TransformerConfig& cfg, const std::string& where);
// Returns `json_text` with keys set to JSON values given as text (e.g. {"num_hidden_layers",
// "2"}, {"initializer_range", "0.1"}); other keys keep their value and order. Throws
// bend::Error naming `where` for bad JSON in the file or in a value.
std::string override_config_json(const std::string& json_text,
                                 const std::map<std::string, std::string>& json_values,
                                 const std::string& where);

// One expected weight: name without the model prefix ("bert." / "esm.") and its shape.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};
// Every weight the encoder reads, in layer order, named as in the Hugging Face checkpoints:
// embeddings.word_embeddings.weight [vocab, hidden], encoder.layer.{i}.attention.self.query...
std::vector<TensorSpec> transformer_tensor_specs(const TransformerConfig& cfg);
// Prefix the Hugging Face masked-LM checkpoints of this family use: "bert." or "esm.".
std::string transformer_weight_prefix(TransformerArch arch);
// Checks that `weights` holds exactly the tensors of `cfg`, either unprefixed (base model) or
// prefixed as transformer_weight_prefix() (masked-LM checkpoint); heads (cls.*, lm_head.*,
// pooler, contact_head) and buffers (position_ids, inv_freq, alibi) are ignored; LayerNorm
// gamma/beta are accepted for weight/bias. Returns, per expected name, the file's tensor name.
// Throws one bend::Error naming the file and listing every missing, unexpected and mis-shaped
// (expected vs got) tensor.
std::map<std::string, std::string> check_transformer_weights(const SafetensorsFile& weights,
                                                             const TransformerConfig& cfg);

// The masked-LM head tensors a seeded checkpoint holds, full names (no model prefix):
//   kBert / kMosaicBert: cls.predictions.transform.dense.{weight [h, h], bias [h]},
//     cls.predictions.transform.LayerNorm.{weight, bias} [h], cls.predictions.decoder.weight
//     [vocab, h] (only when !tie_word_embeddings), then the output bias [vocab]:
//     cls.predictions.bias (BERT) or cls.predictions.decoder.bias (DNABERT-2's bert_layers.py)
//   kEsm: lm_head.dense.*, lm_head.layer_norm.*, lm_head.decoder.weight (when untied), lm_head.bias
std::vector<TensorSpec> mlm_head_tensor_specs(const TransformerConfig& cfg);
// Where a checkpoint keeps its masked-LM head: the file's tensor names.
struct MlmHeadTensors {
  std::string dense_weight, dense_bias;  // [h, h], [h]
  std::string norm_weight, norm_bias;    // [h] (gamma / beta accepted)
  std::string decoder_weight;            // [vocab, h]; "" = tied to the word embeddings
  std::string bias;                      // [vocab]: <head>.bias or <head>.decoder.bias
};
// Finds the masked-LM head in `weights` (names above; either bias name). Throws one bend::Error
// naming the file that lists every missing or mis-shaped head tensor (a base-model checkpoint
// has no head), and a missing decoder.weight when the config has tie_word_embeddings false.
MlmHeadTensors check_mlm_head_weights(const SafetensorsFile& weights, const TransformerConfig& cfg);

// Writes checkpoint directory `dir`: config.json = `config_json_text` as given, each of
// `files` (file name -> content, e.g. the tokenizer's vocab.txt), and model.safetensors (F32,
// the prefixed names of a masked-LM checkpoint, then the head of mlm_head_tensor_specs) whose
// values depend only on `seed`: matrices and embeddings ~ N(0, initializer_range), LayerNorm
// weights 1 + N(0, 0.1), biases N(0, 0.05). The head is drawn after the encoder, so encoder
// weights are those of a checkpoint without head. Atomic ("<dir>.tmp" then rename). Throws
// bend::Error naming the path when `dir` exists and is not empty, the config is invalid or I/O
// fails.
void write_seeded_transformer_checkpoint(const std::string& dir, TransformerArch arch,
                                         const std::string& config_json_text, uint64_t seed,
                                         const std::map<std::string, std::string>& files);

// vocab.txt lines of DNABERT-k: [PAD] [UNK] [CLS] [SEP] [MASK], then every k-mer with bases in
// the order A, T, C, G (the last base varying fastest). k in 1..8, else bend::Error.
std::vector<std::string> dnabert_vocab(int k);

// Where and how a TransformerEncoder runs.
struct TransformerRunOptions {
  int n_threads = 1;      // torch intra-op threads (process-wide); <= 0 leaves torch's default
  bool use_cuda = false;  // run on cuda:<local_rank> (builds with BEND_WITH_CUDA only)
  int local_rank = 0;
  LmOutput output = LmOutput::kHidden;  // logits / loss: loads and runs the masked-LM head
  // loss: the softmax runs over these vocabulary ids only (BEND's rule: the non-special
  // vocabulary); a row whose id is not among them gets 0. Empty: the whole vocabulary.
  std::vector<int32_t> loss_vocab;
};

// A loaded encoder, weights on the compute device. forward() must be called from one thread at
// a time; the object is immutable otherwise.
class TransformerEncoder {
 public:
  // Loads dir/config.json and dir/model.safetensors (with the masked-LM head unless
  // opts.output is kHidden). Throws bend::Error naming the file that is wrong (config,
  // missing/unexpected/mis-shaped tensors, no head, unsupported sparse attention).
  TransformerEncoder(const std::string& checkpoint_dir, TransformerArch arch,
                     const TransformerRunOptions& opts);
  ~TransformerEncoder();
  TransformerEncoder(const TransformerEncoder&) = delete;
  TransformerEncoder& operator=(const TransformerEncoder&) = delete;

  const TransformerConfig& config() const;
  // Most tokens (special tokens included) one input may have: the position table's rows
  // (kEsm: minus pad_token_id + 1; big_bird block_sparse: whole blocks of them, as Hugging Face
  // pads a block-sparse input to a multiple of block_size); 0 when unlimited.
  int64_t max_tokens() const;
  // Width of each output row: hidden_size, vocab_size (logits) or 1 (loss).
  int64_t output_dim() const;
  // Last hidden states (or logits / loss, per TransformerRunOptions::output) of one batch:
  // inputs[b] holds token ids, special tokens included; out[b] is resized to
  // [inputs[b]->size(), output_dim()] floats, row-major. The batch runs
  // unpadded (attention per input), so out[b] matches a batch of one up to float rounding.
  // Throws bend::Error for ids outside [0, vocab_size) or inputs longer than max_tokens().
  void forward(const std::vector<const std::vector<int32_t>*>& inputs,
               std::vector<std::vector<float>>& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bend
