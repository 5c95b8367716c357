// Greedy longest-match tokenizers (Nucleotide Transformer, GROVER, HyenaDNA) and the built-in
// vocabularies of the Nucleotide Transformer and HyenaDNA.
#include "bend/tokenize/greedy.hpp"

#include <algorithm>

#include "bend/core/error.hpp"
#include "bend/tokenize/special.hpp"

namespace bend {

namespace {

inline bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

}  // namespace

GreedyTokenizer::GreedyTokenizer(std::string kind, Vocab vocab, const std::string& cls,
                                 const std::string& sep, const std::string& unk,
                                 const std::string& pad, UnknownRule rule)
    : kind_(std::move(kind)), rule_(rule) {
  vocab_ = std::move(vocab);
  unk_id_ = vocab_.require(unk, "unknown token");
  if (!cls.empty()) prefix_ = {vocab_.require(cls, "class token")};
  if (!sep.empty()) suffix_ = {vocab_.require(sep, "separator token")};
  pad_id_ = pad.empty() ? -1 : vocab_.find(pad);
  // 1. The alphabet of the matchable tokens.
  for (int b = 0; b < 256; b++) symbol_of_byte_[b] = -1;
  for (const std::string& t : vocab_.tokens) {
    if (t.empty() || is_bracketed_special(t)) continue;
    for (unsigned char c : t) {
      if (symbol_of_byte_[c] < 0) symbol_of_byte_[c] = static_cast<int16_t>(n_symbols_++);
    }
  }
  if (n_symbols_ == 0) fail("%s: no tokens to match DNA against", vocab_.source.c_str());
  // 2. The trie.
  child_.assign(n_symbols_, 0);
  token_end_.assign(1, -1);
  for (int32_t id = 0; id < vocab_.size(); id++) {
    const std::string& t = vocab_.tokens[id];
    if (t.empty() || is_bracketed_special(t)) continue;
    size_t node = 0;
    for (unsigned char c : t) {
      const size_t slot = node * n_symbols_ + symbol_of_byte_[c];
      if (child_[slot] == 0) {
        child_[slot] = static_cast<int32_t>(token_end_.size());
        token_end_.push_back(-1);
        child_.resize(child_.size() + n_symbols_, 0);
      }
      node = child_[slot];
    }
    token_end_[node] = id;
    max_emitted_id_ = std::max(max_emitted_id_, id);
  }
  max_emitted_id_ = std::max(max_emitted_id_, unk_id_);
  for (int32_t id : prefix_) max_emitted_id_ = std::max(max_emitted_id_, id);
  for (int32_t id : suffix_) max_emitted_id_ = std::max(max_emitted_id_, id);
}

int GreedyTokenizer::longest_match(const std::string& seq, size_t pos, int32_t& id) const {
  size_t node = 0;
  int best = 0;
  for (size_t i = pos; i < seq.size(); i++) {
    const int s = symbol_of_byte_[static_cast<unsigned char>(seq[i])];
    if (s < 0) break;
    node = child_[node * n_symbols_ + s];
    if (node == 0) break;
    if (token_end_[node] >= 0) {
      best = static_cast<int>(i - pos + 1);
      id = token_end_[node];
    }
  }
  return best;
}

void GreedyTokenizer::encode_content(const std::string& seq, std::vector<int32_t>& ids,
                                     std::vector<TokenSpan>& spans) const {
  ids.clear();
  spans.clear();
  size_t pos = 0;
  while (pos < seq.size()) {
    int32_t id = -1;
    const int len = longest_match(seq, pos, id);
    if (len > 0) {
      ids.push_back(id);
      spans.push_back({static_cast<int64_t>(pos), len});
      pos += len;
      continue;
    }
    if (rule_ == UnknownRule::kPerByte) {
      ids.push_back(unk_id_);
      spans.push_back({static_cast<int64_t>(pos), 1});
      pos++;
      continue;
    }
    // kPerWord: the run up to the next position where a token matches, split at whitespace.
    size_t end = pos + 1;
    while (end < seq.size() && longest_match(seq, end, id) == 0) end++;
    size_t i = pos;
    while (i < end) {
      while (i < end && is_space(static_cast<unsigned char>(seq[i]))) i++;
      const size_t word = i;
      while (i < end && !is_space(static_cast<unsigned char>(seq[i]))) i++;
      if (i > word) {
        ids.push_back(unk_id_);
        spans.push_back({static_cast<int64_t>(word), static_cast<int32_t>(i - word)});
      }
    }
    pos = end;
  }
}

Vocab nt_vocab(int version) {
  if (version != 1 && version != 2)
    fail("Nucleotide Transformer version %d (known: 1, 2)", version);
  Vocab v;
  v.source = "built-in Nucleotide Transformer v" + std::to_string(version) + " vocabulary";
  std::vector<std::string> order = {"<unk>", "<pad>", "<mask>", "<cls>"};
  if (version == 2) {
    order.push_back("<eos>");
    order.push_back("<bos>");
  }
  const char* nt = "ATCG";  // InstaDeep's NUCLEOTIDES order
  for (int code = 0; code < 4096; code++) {
    std::string kmer(6, 'A');
    for (int i = 0; i < 6; i++) kmer[5 - i] = nt[(code >> (2 * i)) & 3];
    order.push_back(kmer);
  }
  for (const char* t : {"A", "T", "C", "G", "N"}) order.push_back(t);
  if (version == 1) {
    order.push_back("<eos>");
    order.push_back("<bos>");
  }
  for (size_t i = 0; i < order.size(); i++) v.add(order[i], static_cast<int32_t>(i), v.source);
  return v;
}

Vocab hyenadna_vocab() {
  Vocab v;
  v.source = "built-in HyenaDNA character vocabulary";
  const char* order[] = {"[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]",
                         "[UNK]", "A",     "C",     "G",      "T",     "N"};
  for (int i = 0; i < 12; i++) v.add(order[i], i, v.source);
  return v;
}

}  // namespace bend
