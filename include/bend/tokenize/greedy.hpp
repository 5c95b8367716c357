// Greedy longest-match tokenizers: the Nucleotide Transformer (v1, v2), GROVER (as BEND
// tokenizes it) and HyenaDNA's character tokenizer. Torch-free.
#pragma once

#include <string>
#include <vector>

#include "bend/tokenize/tokenizer.hpp"

namespace bend {

// How text that starts no vocabulary token becomes [UNK].
enum class UnknownRule {
  kPerByte,  // one unknown token per byte (GROVER in BEND, HyenaDNA)
  kPerWord,  // the whole unmatched run, split at whitespace, one unknown token per word (the
             // Hugging Face slow tokenizer's trie split + EsmTokenizer: Nucleotide Transformer)
};

// At each position takes the longest vocabulary token that starts there, left to right.
// Bracketed special tokens ("[CLS]", "<eos>") never match DNA text. For the Nucleotide
// Transformer vocabulary this gives non-overlapping 6-mers from the left, restarted after every
// N (N and leftover bases single tokens), exactly as its Hugging Face tokenizer.
class GreedyTokenizer : public Tokenizer {
 public:
  // `kind` names it in messages; `cls` / `sep` are the special tokens added around the content
  // ("" for none); `unk` must be in `vocab`; `pad` may be absent (pad_id() -1). Throws
  // bend::Error naming vocab.source.
  GreedyTokenizer(std::string kind, Vocab vocab, const std::string& cls, const std::string& sep,
                  const std::string& unk, const std::string& pad, UnknownRule rule);
  std::string kind() const override { return kind_; }
  void encode_content(const std::string& seq, std::vector<int32_t>& ids,
                      std::vector<TokenSpan>& spans) const override;

 private:
  // Length (bytes) and id of the longest token starting at seq[pos]; length 0 when none.
  int longest_match(const std::string& seq, size_t pos, int32_t& id) const;

  std::string kind_;
  UnknownRule rule_;
  // A byte trie over the matchable tokens; node 0 is the root.
  int n_symbols_ = 0;               // distinct bytes in matchable tokens
  int16_t symbol_of_byte_[256];     // byte -> symbol, -1 when no token uses it
  std::vector<int32_t> child_;      // [n_nodes * n_symbols] child node, 0 = none
  std::vector<int32_t> token_end_;  // [n_nodes] id of the token ending at the node, -1 = none
};

// The Nucleotide Transformer vocabulary as its tokenizer defines it (InstaDeep's
// NucleotidesKmersTokenizer, k = 6): 6-mers over A,T,C,G in itertools.product order, then A,
// T, C, G, N. v1: <unk> <pad> <mask> <cls>, the 4101 tokens, <eos> <bos> (4107 ids; the v1
// models' embedding has 4105 rows). v2: <unk> <pad> <mask> <cls> <eos> <bos>, then the tokens.
Vocab nt_vocab(int version);

// HyenaDNA's CharacterTokenizer (characters A C G T N, as BEND builds it): [CLS]=0 [SEP]=1
// [BOS]=2 [MASK]=3 [PAD]=4 [RESERVED]=5 [UNK]=6 A=7 C=8 G=9 T=10 N=11.
Vocab hyenadna_vocab();

}  // namespace bend
