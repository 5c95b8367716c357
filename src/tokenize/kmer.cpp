// Overlapping k-mer tokenizer (DNABERT).
#include "bend/tokenize/kmer.hpp"

#include <algorithm>

#include "bend/core/error.hpp"
#include "bend/tokenize/special.hpp"

namespace bend {

namespace {

// 2-bit code of an upper-case base, -1 for anything else.
inline int base_code(unsigned char c) {
  switch (c) {
    case 'A':
      return 0;
    case 'C':
      return 1;
    case 'G':
      return 2;
    case 'T':
      return 3;
    default:
      return -1;
  }
}

}  // namespace

KmerTokenizer::KmerTokenizer(Vocab vocab, int k) {
  vocab_ = std::move(vocab);
  const std::string& src = vocab_.source;
  int found_k = 0;
  for (const std::string& t : vocab_.tokens) {
    if (t.empty() || is_bracketed_special(t)) continue;
    const int len = static_cast<int>(t.size());
    if (found_k == 0) found_k = len;
    if (len != found_k) {
      fail("%s: k-mer tokens of different lengths (%d and %d, e.g. '%s'); not a DNABERT vocabulary",
           src.c_str(), found_k, len, t.c_str());
    }
  }
  if (found_k < 1 || found_k > 12) fail("%s: no k-mer tokens in the vocabulary", src.c_str());
  if (k != 0 && k != found_k) {
    fail("%s: the vocabulary holds %d-mers but the model is a %d-mer DNABERT", src.c_str(), found_k,
         k);
  }
  k_ = found_k;
  unk_id_ = vocab_.require("[UNK]", "DNABERT unknown token");
  prefix_ = {vocab_.require("[CLS]", "DNABERT class token")};
  suffix_ = {vocab_.require("[SEP]", "DNABERT separator token")};
  pad_id_ = vocab_.find("[PAD]");
  // Fast path: every ACGT k-mer by its 2-bit code.
  id_of_code_.assign(size_t(1) << (2 * k_), unk_id_);
  for (size_t code = 0; code < id_of_code_.size(); code++) {
    std::string kmer(k_, 'A');
    for (int i = 0; i < k_; i++) kmer[k_ - 1 - i] = "ACGT"[(code >> (2 * i)) & 3];
    const int32_t id = vocab_.find(kmer);
    if (id >= 0) id_of_code_[code] = id;
  }
  for (const std::string& t : vocab_.tokens) {
    if (t.size() == size_t(k_) && !is_bracketed_special(t)) {
      max_emitted_id_ = std::max(max_emitted_id_, vocab_.find(t));
    }
  }
  max_emitted_id_ = std::max({max_emitted_id_, unk_id_, prefix_[0], suffix_[0]});
}

std::string KmerTokenizer::kind() const {
  return "dnabert-" + std::to_string(k_);
}

void KmerTokenizer::encode_content(const std::string& seq, std::vector<int32_t>& ids,
                                   std::vector<TokenSpan>& spans) const {
  ids.clear();
  spans.clear();
  const int64_t n = static_cast<int64_t>(seq.size()) - k_ + 1;
  if (n <= 0) return;
  ids.reserve(n);
  spans.reserve(n);
  const uint32_t mask = static_cast<uint32_t>((uint64_t(1) << (2 * k_)) - 1);
  uint32_t code = 0;
  int64_t last_bad = -1;  // position of the last byte that is not A/C/G/T
  for (int64_t i = 0; i < static_cast<int64_t>(seq.size()); i++) {
    const int b = base_code(static_cast<unsigned char>(seq[i]));
    if (b < 0) last_bad = i;
    code = ((code << 2) | static_cast<uint32_t>(b < 0 ? 0 : b)) & mask;
    const int64_t start = i - k_ + 1;
    if (start < 0) continue;
    int32_t id;
    if (last_bad < start) {
      id = id_of_code_[code];
    } else {
      id = vocab_.find(seq.substr(start, k_));  // N, lower case, ...: usually [UNK]
      if (id < 0) id = unk_id_;
    }
    ids.push_back(id);
    spans.push_back({start, k_});
  }
}

}  // namespace bend
