// An Embedder for models that read token ids (special tokens included) and return one vector
// per id: HyenaDNA and TorchScript modules. tokenize() cuts a sequence into model inputs by a
// ChunkRule (bend/tokenize/chunks.hpp encode_chunks: every input gets the tokenizer's prefix and
// suffix) and maps each nucleotide to the token whose vector BEND puts there
// (nucleotide_token_index), packed as bend/models/token_chunks.hpp ChunkedTokens. embed() runs
// all inputs of the batch through forward_inputs(), drops the special tokens' vectors and
// repeats each token's vector over its nucleotides: out[b] is [len_bp, dim]; embed_tokens()
// keeps one vector per used token with its nucleotide span (`--token-level`). Torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bend/embed/embedder.hpp"
#include "bend/models/token_chunks.hpp"
#include "bend/tokenize/chunks.hpp"
#include "bend/tokenize/tokenizer.hpp"

namespace bend {

class ChunkedEmbedder : public Embedder {
 public:
  std::string name() const override { return name_; }
  int64_t dim() const override { return dim_; }
  // Packed ChunkedTokens of `seq` (thread-safe: the tokenizer is immutable).
  void tokenize(const std::string& seq, std::vector<int32_t>& ids) const override;
  // Throws bend::Error when a token vector does not match its sequence's len_bp.
  void embed(const std::vector<const std::vector<int32_t>*>& tokens,
             const std::vector<int64_t>& len_bp, std::vector<std::vector<float>>& out) override;
  // One vector per token whose repeat count is > 0 (special tokens and inputs' unused edge
  // tokens dropped), in order; span start = sum of the earlier tokens' repeat counts, length =
  // its repeat count (BEND's DNABERT-5/6 echo: split_for_echo). Same errors as embed().
  void embed_tokens(const std::vector<const std::vector<int32_t>*>& tokens,
                    const std::vector<int64_t>& len_bp, std::vector<std::vector<float>>& out,
                    std::vector<std::vector<VectorSpan>>& spans) override;
  // Tokens of the packed `ids` with a repeat count > 0. Throws bend::Error when `ids` is
  // malformed.
  int64_t token_level_rows(const std::vector<int32_t>& ids, int64_t len_bp) const override;
  // The masked-LM swap (Embedder::mask_variant_token) with the vocabulary's "[MASK]" or
  // "<mask>". Throws bend::Error naming the model when it has no mask token, its tokens overlap
  // (DNABERT's k-mers: the neighbours would give the masked base away), or `ids` is malformed.
  void mask_variant_token(std::vector<int32_t>& ids, int64_t pos_bp, char alt, int32_t& ref_id,
                          int32_t& alt_id) const override;
  std::string fingerprint() const override { return fingerprint_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ChunkRule& chunk_rule() const { return rule_; }

 protected:
  // Last hidden states of model inputs: hidden[i] is resized to [inputs[i]->size(), dim_]
  // floats, row-major. Called from the compute thread only. Throws bend::Error on failure.
  virtual void forward_inputs(const std::vector<const std::vector<int32_t>*>& inputs,
                              std::vector<std::vector<float>>& hidden) = 0;
  // Unpacks and checks every sequence of the batch into seqs[b] and runs all their inputs:
  // rows[b] = [all ids of seqs[b]'s chunks, dim_], in order. Shared by embed / embed_tokens.
  void forward_sequences(const std::vector<const std::vector<int32_t>*>& tokens,
                         const std::vector<int64_t>& len_bp, std::vector<ChunkedTokens>& seqs,
                         std::vector<std::vector<float>>& rows);

  // BEND's echo in a token-level output: the row covering nucleotide p is split around p, and p
  // gets the first row's vector. out [n, dim_] and spans [n] of one sequence, updated.
  void split_for_echo(int64_t p, std::vector<float>& out, std::vector<VectorSpan>& spans) const;

  std::string name_;                      // registry name, used in messages
  std::unique_ptr<Tokenizer> tokenizer_;  // set by the subclass constructor
  ChunkRule rule_;
  // BEND's DNABERT code (`--rules bend`): nucleotide p gets k-mer p - 1 (nucleotide_token_index
  // kmer_left), and for k = 5, 6 the row len_bp - (k - 2) gets the first k-mer's vector again
  // ([e0] + E + [e0] + [e_last] x (k - 3)): echo_from_end_ = k - 2 (0: no echo). A token-level
  // output stores the echo as one more row of 1 bp (split_for_echo).
  bool kmer_left_ = false;
  int64_t echo_from_end_ = 0;
  int64_t dim_ = 0;
  std::string fingerprint_;
};

}  // namespace bend
