// The Tokenizer interface shared by every DNA language model, and the factory that reads a
// checkpoint directory's own tokenizer files. Torch-free. docs/models.md describes each kind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace bend {

// Where one token came from in the input sequence: nucleotides [start, start + len_bp).
// Special tokens ([CLS], [SEP], <cls>) have len_bp 0. Overlapping k-mers have overlapping spans;
// a BPE token made from a normalized run (GENA-LM's '-' for >= 10 N) spans the whole run.
struct TokenSpan {
  int64_t start = 0;   // 0-based offset in the input sequence, bp
  int32_t len_bp = 0;  // nucleotides covered; 0 for special tokens
};

// A token vocabulary: id -> token string and back. Ids need not be contiguous.
struct Vocab {
  std::string source;                            // file it came from, or "built-in ..."
  std::vector<std::string> tokens;               // [max id + 1]; "" for unused ids
  std::unordered_map<std::string, int32_t> ids;  // token -> id

  // Adds token with id. Throws bend::Error naming `where` when the token or id repeats.
  void add(const std::string& token, int32_t id, const std::string& where);
  // Id of `token`, or -1 when absent.
  int32_t find(const std::string& token) const;
  // Id of `token`; throws bend::Error naming source and `what` when absent.
  int32_t require(const std::string& token, const char* what) const;
  // Number of ids: the largest id + 1.
  int32_t size() const { return static_cast<int32_t>(tokens.size()); }
};

// Reads a one-token-per-line vocab.txt (id = line number - 1, as BertTokenizer does; a
// trailing '\r' is dropped). Throws bend::Error naming the file (and line for a repeated token).
Vocab read_vocab_txt(const std::string& path);

// Turns DNA text into token ids of one model. Immutable after construction: every method is
// const and safe to call from several threads at once.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // The kind it was made as ("dnabert-6", "nt-v2", "bpe", "hyenadna", "grover").
  virtual std::string kind() const = 0;
  // Tokens of `seq` without special tokens, and their spans; `ids` and `spans` are cleared
  // first. Bytes that are not in the vocabulary become the unknown token as the model's own
  // tokenizer does. Throws bend::Error only for input the kind cannot represent (BPE: non-ASCII).
  virtual void encode_content(const std::string& seq, std::vector<int32_t>& ids,
                              std::vector<TokenSpan>& spans) const = 0;

  // What the model's Hugging Face tokenizer returns for `seq`: prefix + content + suffix. The
  // prefix tokens get span {0, 0}, the suffix tokens {seq.size(), 0}.
  void encode(const std::string& seq, std::vector<int32_t>& ids,
              std::vector<TokenSpan>& spans) const;

  // Special tokens placed before / after the content of every model input ([CLS] / [SEP];
  // Nucleotide Transformer: <cls> / nothing).
  const std::vector<int32_t>& prefix_ids() const { return prefix_; }
  const std::vector<int32_t>& suffix_ids() const { return suffix_; }
  const Vocab& vocab() const { return vocab_; }
  // Token string of `id` ("" when the id is unused or out of range).
  const std::string& token(int32_t id) const;
  int32_t unk_id() const { return unk_id_; }  // -1 when the vocabulary has none
  int32_t pad_id() const { return pad_id_; }  // -1 when the vocabulary has none
  // Largest id encode() can return; a model's embedding table must have more rows than this.
  int32_t max_emitted_id() const { return max_emitted_id_; }

 protected:
  Vocab vocab_;
  std::vector<int32_t> prefix_;
  std::vector<int32_t> suffix_;
  int32_t unk_id_ = -1;
  int32_t pad_id_ = -1;
  int32_t max_emitted_id_ = -1;
};

// Kinds make_tokenizer knows, with the file each reads from the checkpoint directory:
//   dnabert, dnabert-3 .. dnabert-6  vocab.txt (overlapping k-mers; k from the vocabulary)
//   nt-v1, nt-v2                     vocab.txt when present, else the published vocabulary
//   bpe (also dnabert2, gena-lm)     tokenizer.json (Hugging Face tokenizers, BPE model)
//   hyenadna                         none (HyenaDNA's fixed character vocabulary)
//   grover                           vocab.txt (greedy longest match, as BEND does)
std::vector<std::string> tokenizer_kinds();

// Builds the tokenizer of `kind` from checkpoint directory `dir`. When `dir`/config.json exists
// and has "vocab_size", checks it against the vocabulary (check_vocab_size). Throws bend::Error
// naming the missing or bad file, or listing the known kinds.
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind, const std::string& dir);

// Throws bend::Error naming `config_path` when the model's vocab_size cannot hold every id the
// tokenizer emits, or is larger than the vocabulary (a tokenizer of another model).
void check_vocab_size(const Tokenizer& tok, int64_t vocab_size, const std::string& config_path);

}  // namespace bend
