// Long sequences as several model inputs (BEND's per-model chunking, without its failures)
// and the map from nucleotides back to token vectors (BEND's upsampling rules). Torch-free.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bend/tokenize/tokenizer.hpp"

namespace bend {

// How one model splits a long sequence. BEND's values (docs/models.md):
//   dnabert          {0, 512}       nt-v1 {5994, 1000}      nt-v2 {12282, 2048}
//   dnabert2         {10000, 0}     gena-lm bert {0, 512}   gena-lm bigbird {0, 4096}
//   hyenadna         {l_max - 2, 0} grover {0, 512}
// How a piece's tokens are cut into inputs of at most max_tokens ids (`--rules`):
enum class ChunkCut {
  kBalanced,  // corrected: the fewest balanced runs of content, prefix + suffix on every run
  kBareIds,   // BEND's DNABERT / NT: prefix + content + suffix cut bare into consecutive
              // max_tokens pieces (only the first starts with the prefix, only the last ends
              // with the suffix)
  kRuns,      // BEND's GENA-LM: consecutive runs of max_tokens - (prefix + suffix) content
              // tokens, prefix + suffix on every run
};

struct ChunkRule {
  int64_t max_bp = 0;      // cut the sequence into pieces of at most this many bp, each
                           // tokenized on its own (0: one piece)
  int64_t max_tokens = 0;  // at most this many ids per model input, special tokens included
                           // (0: no limit)
  ChunkCut cut = ChunkCut::kBalanced;
};

// One model input.
struct TokenChunk {
  std::vector<int32_t> ids;      // [n_tokens] prefix + content + suffix
  std::vector<TokenSpan> spans;  // [n_tokens] in the whole sequence's coordinates
};

// Tokenizes `seq` into model inputs by `rule` (`out` is cleared first): each piece of max_bp is
// encoded and cut by rule.cut. kBalanced (bend's corrected rules): its content cut into the
// fewest runs of at most max_tokens - (prefix + suffix) tokens, balanced (sizes differ by at
// most one), and every run gets the tokenizer's prefix and suffix: no input lacks [CLS] / [SEP]
// and none is a stub of a few tokens. kBareIds / kRuns: BEND's cuts (ChunkCut).
// A piece with no content tokens (DNABERT with fewer than k bp) gives one input of specials
// only. Throws bend::Error when max_tokens leaves no room for content.
void encode_chunks(const Tokenizer& tok, const std::string& seq, const ChunkRule& rule,
                   std::vector<TokenChunk>& out);

// For each nucleotide 0..len_bp-1, the index into `spans` of the token whose vector BEND's
// upsampling puts there: the token covering it (BPE, NT, GROVER, characters: each vector
// repeated len_bp times, so GENA-LM's '-' covers its whole N run and DNABERT-2's [UNK] one
// nucleotide), or among overlapping k-mers the one centred on it, the first and last k-mer
// repeated at the edges (DNABERT: k=3 1+1, k=4 1+2, k=5 2+2, k=6 2+3 extra copies). With
// `kmer_left` (BEND's DNABERT code, `--rules bend`) nucleotide p gets k-mer p - 1, clamped to
// the first and last k-mer (k-mers: equal spans starting 1 bp apart). Special
// tokens (len_bp 0) are skipped; -1 where no token covers a nucleotide. `spans` must be in
// sequence order (starts and ends non-decreasing), as encode and encode_chunks give them.
// Throws bend::Error when they are not.
void nucleotide_token_index(const std::vector<TokenSpan>& spans, int64_t len_bp,
                            std::vector<int32_t>& index, bool kmer_left = false);

}  // namespace bend
