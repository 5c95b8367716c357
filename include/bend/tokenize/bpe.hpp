// Byte-pair encoding from a Hugging Face tokenizers file (tokenizer.json): DNABERT-2 and
// GENA-LM. The pipeline is Hugging Face's: added tokens, normalizer, pre-tokenizer, BPE model
// (rank-ordered merges, applied as the Rust crate's Word::merge_all does), post-processor.
// Torch-free.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "bend/tokenize/tokenizer.hpp"

namespace bend {

struct BpeStep;    // one normalizer or pre-tokenizer step (src/tokenize/bpe_text.hpp)
struct NormText;   // normalized text with alignments (src/tokenize/bpe_text.hpp)
struct BpeSymbol;  // a symbol of a word being merged (src/tokenize/bpe.cpp)

// Supported components (anything else is refused when the file is read, naming it):
//   normalizers     Sequence, Strip, Lowercase, Replace (a literal, or a regex of one
//                   character or \s with an optional +, {m,} or {m,n}), BertNormalizer, and the
//                   Unicode forms / StripAccents (no-ops on ASCII)
//   pre-tokenizers  Sequence, Whitespace, WhitespaceSplit, BertPreTokenizer, ByteLevel,
//                   Split (a pattern as above; every behavior; invert)
//   model           BPE (unk_token, fuse_unk, continuing_subword_prefix, end_of_word_suffix,
//                   ignore_merges; no dropout, no byte_fallback)
//   post-processors TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence
// Added tokens are matched literally on the raw input (lstrip / rstrip / single_word /
// normalized are not applied). The file's truncation and padding are ignored, as transformers
// does when called without them.
// Input must be ASCII (DNA); encode_content throws bend::Error naming the byte offset otherwise.
// Thread-safe; each calling thread keeps its merge scratch buffers (about 28 bytes per
// character of the longest word it has seen).
class BpeTokenizer : public Tokenizer {
 public:
  // Reads `path`. Throws bend::Error naming the file and the unsupported or bad entry.
  explicit BpeTokenizer(const std::string& path);
  ~BpeTokenizer() override;
  std::string kind() const override { return "bpe"; }
  void encode_content(const std::string& seq, std::vector<int32_t>& ids,
                      std::vector<TokenSpan>& spans) const override;

 private:
  struct Merge {
    int32_t rank;    // position in the merges list (lower merges first)
    int32_t new_id;  // id of the merged token
  };
  // Reads the BPE model entry: unknown token, options, character table and merges.
  void read_model(const nlohmann::json& model);
  // Fills merge_table_ from (pair key, merge) entries.
  void build_merge_table(const std::vector<std::pair<uint64_t, Merge>>& pairs);
  // Looks up the merge of the pair (a, b); nullptr when there is none.
  const Merge* find_merge(int32_t a, int32_t b) const;
  // Applies the merges to the symbols of one word, in the Rust crate's order.
  void merge_all(std::vector<BpeSymbol>& sym) const;
  // BPE of one pre-tokenized word, bytes [from, to) of `t`; appends its tokens and spans.
  void encode_word(const NormText& t, size_t from, size_t to, std::vector<int32_t>& ids,
                   std::vector<TokenSpan>& spans) const;

  std::string path_;
  std::vector<BpeStep> normalizers_;
  std::vector<BpeStep> pre_tokenizers_;
  bool byte_level_ = false;         // a ByteLevel pre-tokenizer maps bytes to chars
  std::vector<std::string> added_;  // added tokens' contents (matched on the raw input)
  std::vector<int32_t> added_ids_;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  // Vocabulary id of each byte as a word's first, middle, last or only character (prefix and
  // suffix applied); -1 when absent.
  int32_t char_id_[4][256];
  // Merges by pair: open addressing over (left id << 32 | right id), kEmpty = free slot; a
  // power-of-two size at most half full (a node-based map costs BPE a third of its time).
  struct MergeSlot {
    uint64_t key;
    Merge merge;
  };
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  std::vector<MergeSlot> merge_table_;
  int merge_shift_ = 64;               // 64 - log2(table size)
  std::vector<int32_t> merge_new_id_;  // [n merges] merged token of each rank
};

}  // namespace bend
