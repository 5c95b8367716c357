// ChunkedEmbedder: tokenize into model inputs with BEND's chunking and upsampling map; embed
// through the subclass's forward pass (bend/models/chunked_embedder.hpp). Torch-free.
#include "bend/models/chunked_embedder.hpp"

#include "bend/core/error.hpp"
#include "bend/models/token_chunks.hpp"

namespace bend {

void ChunkedEmbedder::tokenize(const std::string& seq, std::vector<int32_t>& ids) const {
  std::vector<TokenChunk> chunks;
  encode_chunks(*tokenizer_, seq, rule_, chunks);
  std::vector<TokenSpan> spans;
  for (const TokenChunk& c : chunks) spans.insert(spans.end(), c.spans.begin(), c.spans.end());
  std::vector<int32_t> index;
  nucleotide_token_index(spans, static_cast<int64_t>(seq.size()), index);
  std::vector<int32_t> repeat;
  repeat_counts_from_index(index, static_cast<int64_t>(spans.size()),
                           strfmt("%s: a %zu bp sequence", name_.c_str(), seq.size()), repeat);
  ChunkedTokens t;
  size_t first = 0;
  for (TokenChunk& c : chunks) {
    int64_t used = 0;  // an input none of whose vectors is used (specials only) is not run
    for (size_t i = 0; i < c.ids.size(); i++) used += repeat[first + i];
    if (used > 0) {
      t.repeat.insert(t.repeat.end(), repeat.begin() + long(first),
                      repeat.begin() + long(first + c.ids.size()));
      t.chunks.push_back(std::move(c.ids));
    }
    first += c.spans.size();
  }
  pack_chunked_tokens(t, ids);
}

void ChunkedEmbedder::embed(const std::vector<const std::vector<int32_t>*>& tokens,
                            const std::vector<int64_t>& len_bp,
                            std::vector<std::vector<float>>& out) {
  if (len_bp.size() != tokens.size())
    fail("%s: %zu token lists but %zu lengths", name_.c_str(), tokens.size(), len_bp.size());
  std::vector<ChunkedTokens> seqs(tokens.size());
  std::vector<const std::vector<int32_t>*> inputs;
  for (size_t b = 0; b < tokens.size(); b++) {
    seqs[b] = unpack_chunked_tokens(*tokens[b],
                                    strfmt("%s: sequence %zu of the batch", name_.c_str(), b));
    if (output_rows(seqs[b]) != len_bp[b]) {
      fail("%s: sequence %zu of the batch: its tokens give %lld vectors but it has %lld bp",
           name_.c_str(), b, (long long)output_rows(seqs[b]), (long long)len_bp[b]);
    }
    for (const std::vector<int32_t>& c : seqs[b].chunks) inputs.push_back(&c);
  }
  std::vector<std::vector<float>> hidden;
  if (!inputs.empty()) forward_inputs(inputs, hidden);
  out.resize(tokens.size());
  size_t next_input = 0;
  std::vector<float> rows;
  for (size_t b = 0; b < tokens.size(); b++) {
    rows.clear();
    for (size_t c = 0; c < seqs[b].chunks.size(); c++) {
      const std::vector<float>& y = hidden[next_input++];
      rows.insert(rows.end(), y.begin(), y.end());
    }
    BEND_ASSERT(rows.size() == seqs[b].repeat.size() * size_t(dim_));
    upsample_rows(rows.data(), int64_t(seqs[b].repeat.size()), dim_, seqs[b].repeat, out[b]);
  }
}

}  // namespace bend
