// The transformer language models of BEND as Embedders (registry names in quotes), each a
// Hugging Face checkpoint directory: config.json, model.safetensors and the tokenizer's files
// (bend/tokenize/tokenizer.hpp make_tokenizer). BEND's chunk sizes per model:
//   "dnabert"   DNABERT-k (BERT; vocab.txt, k from its k-mers): inputs of <= 512 ids.
//   "nt"        Nucleotide Transformer v1 / v2 (ESM; v2 = rotary config): pieces of 5994 /
//               12282 bp, inputs of <= 1000 / 2048 ids.
//   "dnabert2"  DNABERT-2 (MosaicBERT; tokenizer.json): pieces of 10000 bp, no token limit.
//   "gena-lm"   GENA-LM (tokenizer.json): BERT pre-LN, inputs of <= 512 ids; BigBird
//               (model_type big_bird) <= 4096 ids, block-sparse attention above 704 as
//               Hugging Face runs it (full attention up to there).
//   "grover"    GROVER (BERT; vocab.txt, greedy longest match as BEND's max_match_tokenize):
//               inputs of <= 512 ids ([CLS] + 510 tokens + [SEP]).
// Every input carries its special tokens (encode_chunks); a smaller position table in the
// checkpoint lowers the cap. They are ChunkedEmbedders (chunked_embedder.hpp): tokenize() packs
// the inputs and BEND's nucleotide -> token map (token_chunks.hpp); embed() runs every input of
// the batch (padded and masked, in groups of similar length), drops the special tokens' vectors
// and repeats each token's vector: out[b] is [len_bp, hidden_size].
// Torch-free header.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "bend/embed/embedder.hpp"

namespace bend {

// BEND's per-model chunk sizes.
constexpr int64_t kDnabertMaxTokens = 512;  // ids per input, [CLS]/[SEP] included
constexpr int64_t kNtV1ChunkBp = 5994;      // bp tokenized together (999 6-mers)
constexpr int64_t kNtV2ChunkBp = 12282;     // (2047 6-mers)
constexpr int64_t kNtV1MaxTokens = 1000;    // ids per input, <cls> included
constexpr int64_t kNtV2MaxTokens = 2048;
constexpr int64_t kDnabert2ChunkBp = 10000;        // bp tokenized together
constexpr int64_t kGenaLmBertMaxTokens = 512;      // ids per input, [CLS]/[SEP] included
constexpr int64_t kGenaLmBigBirdMaxTokens = 4096;  // BEND's max_length 4096 - 2 + [CLS]/[SEP]
constexpr int64_t kGroverMaxTokens = 512;          // ids per input, [CLS]/[SEP] included

// Each factory loads opts.checkpoint_dir and throws bend::Error naming the file that is
// missing or wrong (config, tokenizer files, vocabulary size != config vocab_size, tensors).
// dim() = hidden_size, or with opts.output "logits" / "loss" (bend/models/lm_output.hpp: the
// masked-LM head, which must then be in the checkpoint) vocab_size / 1, upsampled to
// nucleotides as the hidden states are; fingerprint() = "<name>:crc32c=xxxxxxxx" over
// model.safetensors, config.json and the tokenizer file.
std::unique_ptr<Embedder> make_dnabert_embedder(const EmbedderOptions& opts);
std::unique_ptr<Embedder> make_nt_embedder(const EmbedderOptions& opts);
std::unique_ptr<Embedder> make_dnabert2_embedder(const EmbedderOptions& opts);
std::unique_ptr<Embedder> make_gena_lm_embedder(const EmbedderOptions& opts);
std::unique_ptr<Embedder> make_grover_embedder(const EmbedderOptions& opts);

// `bend model init` for the models above: a seeded checkpoint built from a real config.json.
struct LmInitRequest {
  std::string model;                       // "dnabert", "nt", "dnabert2", "gena-lm", "grover"
  std::string out_dir;                     // checkpoint directory to create
  std::string config_path;                 // Hugging Face config.json to start from (required)
  std::map<std::string, std::string> set;  // config keys replaced, values as JSON text
  std::string tokenizer_dir;  // copy vocab.txt / tokenizer.json (+ tokenizer_config.json,
                              // special_tokens_map.json) from here; "" = generated: DNABERT's
                              // k-mer vocab.txt (k from vocab_size), NT's built-in vocabulary
  uint64_t seed = 0;
};

// Writes the checkpoint (write_seeded_transformer_checkpoint) after checking that the config
// parses and the tokenizer fits its vocab_size; returns a one-line summary (architecture,
// sizes, parameter count). Throws bend::Error naming the file that is wrong, or saying that
// BPE models and GROVER (its vocab.txt) need tokenizer_dir.
std::string init_lm_checkpoint(const LmInitRequest& r);

}  // namespace bend
