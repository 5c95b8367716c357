// The Embedder interface and registry: every language model plugs in here, and the pipeline
// (src/pipeline) only ever sees this header. No torch headers here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bend {

// What a model needs to be built. Filled from the CLI (`bend embed --model --checkpoint ...`).
struct EmbedderOptions {
  std::string model;           // registry name, e.g. "onehot", "resnetlm"
  std::string checkpoint_dir;  // Hugging Face style directory (config.json + model.safetensors)
  int n_threads = 1;           // intra-op threads for this rank
  int local_rank = 0;          // selects the CUDA device when built with CUDA
  bool use_cuda = false;       // run on CUDA device `local_rank`
  // `--precision`: "fp32" (default), or "bf16" / "fp16" = CUDA autocast of the LibTorch models
  // (use_cuda only; bend/models/precision.hpp). Output vectors are float32 either way.
  std::string precision = "fp32";
  // What each output vector is (`bend embed --output`): "hidden" (last hidden state, BEND's
  // default), "logits" (masked-LM head logits, dim = vocab size) or "loss" (per-token
  // cross-entropy of the input id under the masked-LM head, dim 1). Models without a masked-LM
  // head refuse "logits"/"loss" with a bend::Error naming the model.
  std::string output = "hidden";
  // `bend embed --tokenizer` for models whose tokenizer is not fixed by the checkpoint
  // (torchscript): a tokenizer name as bend/tokenize/tokenizer.hpp make_tokenizer takes it;
  // "" = the checkpoint's own choice.
  std::string tokenizer;
  // `--rules`: "bend" (default) computes the vectors as BEND's embedders.py code does, quirks
  // included (DNABERT-k edge repeats and bare 512-id pieces, GENA-LM's consecutive chunks, NT's
  // bare id pieces, the loss's softmax over the non-special vocabulary); "corrected" uses
  // bend's own rules (balanced pieces each with its special tokens, centred k-mers, the loss
  // over the whole vocabulary). docs/differences.md lists every difference.
  std::string rules = "bend";
  // DNABERT-k: each nucleotide gets the k-mer centred on it under either rules. `bend variants`
  // sets it: BEND's variant script reads DNABERT's k-mer vectors without upsampling, at the
  // k-mer that holds the variant at its 3rd base (k=6: --embedding_idx 254 of a 513-bp window),
  // which is the centred one.
  bool kmer_centre = false;
};

// The nucleotides one stored token vector covers: [start_bp, start_bp + len_bp) of the
// sequence (BEND's upsampling repeats the vector over exactly these).
struct VectorSpan {
  int64_t start_bp = 0;
  int64_t len_bp = 0;
};

// A frozen model that turns normalized DNA (upper-case A/C/G/T/N) into per-position vectors.
// One instance per rank; tokenize() is const and may be called from a reader thread while
// embed() runs on the compute thread.
class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string name() const = 0;
  // Width of each output vector.
  virtual int64_t dim() const = 0;
  // Token ids of one sequence, written into `ids` (cleared first).
  virtual void tokenize(const std::string& seq, std::vector<int32_t>& ids) const = 0;
  // Number of output vectors for a sequence of `len_bp` nucleotides with `n_tokens` tokens.
  virtual int64_t output_length(int64_t len_bp, int64_t n_tokens) const { return len_bp; }
  // Embeds a batch: out[b] is resized to [output_length_b, dim] floats, row-major.
  // Results must not depend on which other sequences share the batch beyond float rounding
  // of the batched kernels (padding is masked). Throws bend::Error on failure.
  virtual void embed(const std::vector<const std::vector<int32_t>*>& tokens,
                     const std::vector<int64_t>& len_bp, std::vector<std::vector<float>>& out) = 0;
  // Token-level output (`bend embed --token-level`): out[b] is resized to [n_b, dim], one
  // vector per token that BEND's upsampling places on at least one nucleotide, in sequence
  // order; spans[b] (resized to n_b) are their nucleotides, contiguous and covering
  // [0, len_bp[b]). Repeating row i spans[b][i].len_bp times gives exactly embed()'s out[b].
  // Default (models with one vector per nucleotide): embed() with spans of 1 bp.
  virtual void embed_tokens(const std::vector<const std::vector<int32_t>*>& tokens,
                            const std::vector<int64_t>& len_bp, std::vector<std::vector<float>>& out,
                            std::vector<std::vector<VectorSpan>>& spans);
  // Number of rows embed_tokens() returns for a sequence tokenized as `ids` (from tokenize())
  // of `len_bp` nucleotides, known before the model runs (HDF5 offsets). Default: len_bp.
  virtual int64_t token_level_rows(const std::vector<int32_t>& ids, int64_t len_bp) const {
    (void)ids;
    return len_bp;
  }
  // Masked-LM log-likelihood ratio (`bend variants --score llr`, models with a masked-LM head
  // and non-overlapping tokens): in the packed `ids` (from tokenize()) of a sequence, replaces
  // the token BEND's upsampling places on nucleotide `pos_bp` by the mask token. ref_id = that
  // token; alt_id = the token whose string is ref_id's with `alt` at pos_bp's offset, or -1 when
  // the vocabulary has none. Default: throws bend::Error (the model has no masked-LM rule).
  virtual void mask_variant_token(std::vector<int32_t>& ids, int64_t pos_bp, char alt,
                                  int32_t& ref_id, int32_t& alt_id) const;
  // Whether BEND's own code would lose this row of normalized DNA: its upsampled vectors come
  // out fewer than the bases and BEND's scripts drop such rows (GENA-LM: a run of >= 10 N is one
  // '-' token that BEND repeats once). bend keeps the row; the run summary counts them.
  virtual bool bend_drops_row(const std::string& seq) const {
    (void)seq;
    return false;
  }
  // Identifies the weights (e.g. "resnetlm:crc32c=1a2b3c4d"); recorded in the manifest so a
  // resume with other weights is refused.
  virtual std::string fingerprint() const = 0;
};

using EmbedderFactory = std::function<std::unique_ptr<Embedder>(const EmbedderOptions&)>;

// One registry entry; `make` throws bend::Error naming the checkpoint file that is wrong.
struct EmbedderInfo {
  std::string name;
  std::string description;  // one line for `bend models`
  bool needs_checkpoint = false;
  EmbedderFactory make;
  // What `bend models` shows besides the description (free text, one line each).
  std::string dim;        // embedding width, or the config.json key it comes from
  std::string tokenizer;  // tokenizer and the checkpoint file it reads
  std::string max_input;  // longest model input, and how longer sequences are cut
  bool causal = false;    // each vector sees only the sequence to its left
  std::string files;      // files the checkpoint directory must hold
  bool lm_outputs = false;       // accepts EmbedderOptions::output "logits" / "loss"
  bool named_tokenizer = false;  // accepts EmbedderOptions::tokenizer
};

// Adds or replaces an entry. Not thread-safe; call before starting threads.
void register_embedder(EmbedderInfo info);
// Builds the model named in opts.model. Throws bend::Error "unknown model 'x' (known: ...)",
// and for an output other than hidden / logits / loss, logits or loss from a model without
// lm_outputs, a tokenizer given to a model without named_tokenizer, or a precision other than
// fp32 without use_cuda or for a model without checkpoint.
std::unique_ptr<Embedder> make_embedder(const EmbedderOptions& opts);
// Whether a model of this name is registered in this executable (torch models only in bend-torch).
bool has_embedder(const std::string& name);
// All registered models, sorted by name (built-ins are registered on first use).
std::vector<EmbedderInfo> list_embedders();

}  // namespace bend
