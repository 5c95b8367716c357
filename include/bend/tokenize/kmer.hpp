// DNABERT's tokenizer: overlapping k-mers (k = 3..6) looked up in vocab.txt, as DNABERT's
// DNATokenizer / BertTokenizer do on the space-joined k-mers. Torch-free.
#pragma once

#include <string>
#include <vector>

#include "bend/tokenize/tokenizer.hpp"

namespace bend {

// Token i is seq[i, i + k) (span {i, k}); a sequence of L bp has max(0, L - k + 1) tokens.
// A k-mer not in the vocabulary (N, lower case, any other byte) is [UNK]. The lookup is
// case-sensitive: DNABERT's DNATokenizer never lower-cases (its tokenizer_config.json's
// do_lower_case is ignored, as lower-casing would turn every k-mer into [UNK]).
class KmerTokenizer : public Tokenizer {
 public:
  // `vocab` must hold [CLS], [SEP], [UNK] and tokens that are all k bytes long except the
  // bracketed specials; k = 0 takes k from the vocabulary. Throws bend::Error naming the file.
  KmerTokenizer(Vocab vocab, int k);
  std::string kind() const override;
  void encode_content(const std::string& seq, std::vector<int32_t>& ids,
                      std::vector<TokenSpan>& spans) const override;
  int k() const { return k_; }

 private:
  int k_ = 0;
  std::vector<int32_t> id_of_code_;  // [4^k] id of each ACGT k-mer (2 bits per base, A C G T)
};

}  // namespace bend
