// The token vector a transformer Embedder passes from tokenize() to embed(), and BEND's
// upsampling of token vectors to nucleotides. Torch-free.
// tokenize() cuts the sequence into model inputs (bend/tokenize/chunks.hpp encode_chunks:
// BEND's per-model chunking, special tokens on every input) and maps each nucleotide to the
// token whose vector BEND puts there (nucleotide_token_index). That map is monotone, so it is
// stored as a repeat count per token; embed() runs the inputs and repeats each token's vector
// that many times (special tokens: 0).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

// One sequence as a transformer embedder runs it.
struct ChunkedTokens {
  std::vector<std::vector<int32_t>> chunks;  // model inputs (token ids, special tokens included)
  std::vector<int32_t> repeat;  // per id of all chunks, in order: copies of its output vector
};

// Packs `t` into `out` (cleared first): n_chunks, then per chunk n_ids and its ids, then the
// repeat count of every id. 2 ints per token plus 1 per chunk plus 1.
void pack_chunked_tokens(const ChunkedTokens& t, std::vector<int32_t>& out);
// Inverse of pack_chunked_tokens. Throws bend::Error naming `where` when the data is malformed
// (counts out of range, repeat counts missing or negative).
ChunkedTokens unpack_chunked_tokens(const std::vector<int32_t>& packed, const std::string& where);
// Sum of the repeat counts: the number of output vectors (= the sequence's length in bp).
int64_t output_rows(const ChunkedTokens& t);

// Repeat counts of `n_tokens` tokens from a nucleotide -> token index (nucleotide_token_index):
// repeat[t] = number of nucleotides mapped to t. Throws bend::Error naming `where` when a
// nucleotide has no token (-1) or the index decreases (the vectors could not be laid out by
// repeating in token order), or an index is outside [0, n_tokens).
void repeat_counts_from_index(const std::vector<int32_t>& nt_index, int64_t n_tokens,
                              const std::string& where, std::vector<int32_t>& repeat);

// Repeats row i of `rows` [n_rows, dim] repeat[i] times into `out` [sum(repeat), dim]
// (resized). Throws bend::Error when repeat.size() != n_rows or a count is negative.
void upsample_rows(const float* rows, int64_t n_rows, int64_t dim,
                   const std::vector<int32_t>& repeat, std::vector<float>& out);

}  // namespace bend
