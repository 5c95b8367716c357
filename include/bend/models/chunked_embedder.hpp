// An Embedder for models that read token ids (special tokens included) and return one vector
// per id: HyenaDNA and TorchScript modules. tokenize() cuts a sequence into model inputs by a
// ChunkRule (bend/tokenize/chunks.hpp encode_chunks: every input gets the tokenizer's prefix and
// suffix) and maps each nucleotide to the token whose vector BEND puts there
// (nucleotide_token_index), packed as bend/models/token_chunks.hpp ChunkedTokens. embed() runs
// all inputs of the batch through forward_inputs(), drops the special tokens' vectors and
// repeats each token's vector over its nucleotides: out[b] is [len_bp, dim]. Torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bend/embed/embedder.hpp"
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
  std::string fingerprint() const override { return fingerprint_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const ChunkRule& chunk_rule() const { return rule_; }

 protected:
  // Last hidden states of model inputs: hidden[i] is resized to [inputs[i]->size(), dim_]
  // floats, row-major. Called from the compute thread only. Throws bend::Error on failure.
  virtual void forward_inputs(const std::vector<const std::vector<int32_t>*>& inputs,
                              std::vector<std::vector<float>>& hidden) = 0;

  std::string name_;                      // registry name, used in messages
  std::unique_ptr<Tokenizer> tokenizer_;  // set by the subclass constructor
  ChunkRule rule_;
  int64_t dim_ = 0;
  std::string fingerprint_;
};

}  // namespace bend
