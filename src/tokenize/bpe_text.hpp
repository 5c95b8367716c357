// Private to src/tokenize: the text stages of a Hugging Face tokenizer.json (normalizers and
// pre-tokenizers) on ASCII text, keeping each byte's origin in the input for token spans.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bend {

// Normalized text; byte i came from input bytes [begin[i], end[i]) (begin == end for inserted
// bytes, a whole matched range for a Replace's content).
struct NormText {
  std::string s;
  std::vector<int64_t> begin;  // [s.size()]
  std::vector<int64_t> end;    // [s.size()]
};

// A pre-tokenized word: bytes [from, to) of texts[text].
struct Word {
  size_t text;
  size_t from;
  size_t to;
};

// A Replace / Split pattern: a literal string, or a run of one byte (or of whitespace) of
// length min_run .. max_run (-1 = unbounded), matched leftmost and greedy like the regex.
struct BpePattern {
  std::string literal;  // non-empty for a literal pattern
  int run_byte = -1;    // the byte of a run pattern, or kRunSpace for \s
  int64_t min_run = 1;
  int64_t max_run = 1;
  static constexpr int kRunSpace = 256;
};

// One normalizer or pre-tokenizer.
struct BpeStep {
  std::string type;               // the component's "type"
  BpePattern pattern;             // Replace, Split
  std::string content;            // Replace
  bool strip_left = true;         // Strip
  bool strip_right = true;        // Strip
  bool lowercase = false;         // Lowercase, BertNormalizer
  bool clean_text = false;        // BertNormalizer
  std::string behavior;           // Split: Removed Isolated MergedWithPrevious ...
  bool invert = false;            // Split
  bool add_prefix_space = false;  // ByteLevel
  bool use_regex = true;          // ByteLevel
};

// Reads the "normalizer" entry (null allowed) into steps, Sequences flattened. Throws
// bend::Error naming `path` and the unsupported component.
void read_normalizer_steps(const nlohmann::json& j, const std::string& path,
                           std::vector<BpeStep>& out);
// Reads the "pre_tokenizer" entry likewise; sets `byte_level` when a ByteLevel step is present.
void read_pre_tokenizer_steps(const nlohmann::json& j, const std::string& path,
                              std::vector<BpeStep>& out, bool& byte_level);

// Applies the normalizers to `t` in order.
void normalize_text(const std::vector<BpeStep>& steps, NormText& t);

// Splits texts[text] into words by the pre-tokenizers in order; ByteLevel's prefix space
// appends new texts. Words are appended to `words` in text order; empty words are dropped.
void pre_tokenize_text(const std::vector<BpeStep>& steps, std::vector<NormText>& texts, size_t text,
                       std::vector<Word>& words);

// GPT-2's byte -> character map of ByteLevel, as UTF-8.
std::string byte_level_char(unsigned char b);

}  // namespace bend
