// ChunkedEmbedder: tokenize into model inputs with BEND's chunking and upsampling map; embed
// through the subclass's forward pass (bend/models/chunked_embedder.hpp). Torch-free.
#include "bend/models/chunked_embedder.hpp"

#include <algorithm>

#include "bend/core/error.hpp"
#include "bend/models/token_chunks.hpp"

namespace bend {

void ChunkedEmbedder::tokenize(const std::string& seq, std::vector<int32_t>& ids) const {
  std::vector<TokenChunk> chunks;
  encode_chunks(*tokenizer_, seq, rule_, chunks);
  std::vector<TokenSpan> spans;
  for (const TokenChunk& c : chunks) spans.insert(spans.end(), c.spans.begin(), c.spans.end());
  std::vector<int32_t> index;
  nucleotide_token_index(spans, static_cast<int64_t>(seq.size()), index, kmer_left_);
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

void ChunkedEmbedder::forward_sequences(const std::vector<const std::vector<int32_t>*>& tokens,
                                        const std::vector<int64_t>& len_bp,
                                        std::vector<ChunkedTokens>& seqs,
                                        std::vector<std::vector<float>>& rows) {
  if (len_bp.size() != tokens.size())
    fail("%s: %zu token lists but %zu lengths", name_.c_str(), tokens.size(), len_bp.size());
  seqs.assign(tokens.size(), ChunkedTokens());
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
  rows.resize(tokens.size());
  size_t next_input = 0;
  for (size_t b = 0; b < tokens.size(); b++) {
    rows[b].clear();
    for (size_t c = 0; c < seqs[b].chunks.size(); c++) {
      const std::vector<float>& y = hidden[next_input++];
      rows[b].insert(rows[b].end(), y.begin(), y.end());
    }
    BEND_ASSERT(rows[b].size() == seqs[b].repeat.size() * size_t(dim_));
  }
}

void ChunkedEmbedder::embed(const std::vector<const std::vector<int32_t>*>& tokens,
                            const std::vector<int64_t>& len_bp,
                            std::vector<std::vector<float>>& out) {
  std::vector<ChunkedTokens> seqs;
  std::vector<std::vector<float>> rows;
  forward_sequences(tokens, len_bp, seqs, rows);
  out.resize(tokens.size());
  for (size_t b = 0; b < tokens.size(); b++) {
    upsample_rows(rows[b].data(), int64_t(seqs[b].repeat.size()), dim_, seqs[b].repeat, out[b]);
    const int64_t echo_row = len_bp[b] - echo_from_end_;
    if (echo_from_end_ > 0 && echo_row > 0) {  // BEND's [e0] + E + [e0] + ...
      std::copy(out[b].begin(), out[b].begin() + dim_, out[b].begin() + echo_row * dim_);
    }
  }
}

void ChunkedEmbedder::embed_tokens(const std::vector<const std::vector<int32_t>*>& tokens,
                                   const std::vector<int64_t>& len_bp,
                                   std::vector<std::vector<float>>& out,
                                   std::vector<std::vector<VectorSpan>>& spans) {
  std::vector<ChunkedTokens> seqs;
  std::vector<std::vector<float>> rows;
  forward_sequences(tokens, len_bp, seqs, rows);
  out.resize(tokens.size());
  spans.resize(tokens.size());
  const size_t row_floats = size_t(dim_);
  for (size_t b = 0; b < tokens.size(); b++) {
    out[b].clear();
    spans[b].clear();
    int64_t start_bp = 0;
    for (size_t i = 0; i < seqs[b].repeat.size(); i++) {
      const int32_t r = seqs[b].repeat[i];
      if (r <= 0) continue;  // special tokens, tokens BEND places on no nucleotide
      const float* row = rows[b].data() + i * row_floats;
      out[b].insert(out[b].end(), row, row + row_floats);
      spans[b].push_back(VectorSpan{start_bp, r});
      start_bp += r;
    }
    if (echo_from_end_ > 0 && len_bp[b] - echo_from_end_ > 0)
      split_for_echo(len_bp[b] - echo_from_end_, out[b], spans[b]);
  }
}

// BEND's echo of the first k-mer (chunked_embedder.hpp echo_from_end_) at nucleotide `p`: the row
// whose span holds p becomes [start, p), the first row's vector at [p, p + 1), [p + 1, end).
void ChunkedEmbedder::split_for_echo(int64_t p, std::vector<float>& out,
                                     std::vector<VectorSpan>& spans) const {
  const size_t d = size_t(dim_);
  for (size_t i = 0; i < spans.size(); i++) {
    const VectorSpan s = spans[i];
    if (p < s.start_bp || p >= s.start_bp + s.len_bp) continue;
    std::vector<float> rows;  // the replacement rows of row i
    std::vector<VectorSpan> sp;
    const float* own = out.data() + i * d;
    if (p > s.start_bp) {
      rows.insert(rows.end(), own, own + d);
      sp.push_back({s.start_bp, p - s.start_bp});
    }
    rows.insert(rows.end(), out.begin(), out.begin() + long(d));  // the first k-mer's vector
    sp.push_back({p, 1});
    if (p + 1 < s.start_bp + s.len_bp) {
      rows.insert(rows.end(), own, own + d);
      sp.push_back({p + 1, s.start_bp + s.len_bp - p - 1});
    }
    out.erase(out.begin() + long(i * d), out.begin() + long((i + 1) * d));
    out.insert(out.begin() + long(i * d), rows.begin(), rows.end());
    spans.erase(spans.begin() + long(i));
    spans.insert(spans.begin() + long(i), sp.begin(), sp.end());
    return;
  }
}

void ChunkedEmbedder::mask_variant_token(std::vector<int32_t>& ids, int64_t pos_bp, char alt,
                                         int32_t& ref_id, int32_t& alt_id) const {
  const std::string kind = tokenizer_->kind();
  if (kind.compare(0, 7, "dnabert") == 0 && kind != "dnabert2") {
    fail("%s: no masked-LM llr for overlapping k-mers (%s): the tokens next to the masked one "
         "hold the variant's base", name_.c_str(), kind.c_str());
  }
  int32_t mask_id = tokenizer_->vocab().find("[MASK]");
  if (mask_id < 0) mask_id = tokenizer_->vocab().find("<mask>");
  if (mask_id < 0) fail("%s: the vocabulary has no mask token ([MASK] or <mask>)", name_.c_str());
  ChunkedTokens t = unpack_chunked_tokens(ids, name_ + ": mask_variant_token");
  int64_t start_bp = 0;  // first nucleotide of the current token (sum of earlier repeats)
  size_t k = 0;          // index into t.repeat over all chunks
  for (std::vector<int32_t>& chunk : t.chunks) {
    for (int32_t& id : chunk) {
      const int32_t r = t.repeat[k++];
      if (r > 0 && pos_bp >= start_bp && pos_bp < start_bp + r) {
        ref_id = id;
        std::string s = tokenizer_->token(id);
        const int64_t off = pos_bp - start_bp;
        alt_id = -1;
        if (static_cast<int64_t>(s.size()) == r) {  // one character per nucleotide
          s[static_cast<size_t>(off)] = alt;
          alt_id = tokenizer_->vocab().find(s);
        }
        id = mask_id;
        pack_chunked_tokens(t, ids);
        return;
      }
      start_bp += r > 0 ? r : 0;
    }
  }
  fail("%s: no token covers nucleotide %lld of the sequence", name_.c_str(), (long long)pos_bp);
}

int64_t ChunkedEmbedder::token_level_rows(const std::vector<int32_t>& ids, int64_t len_bp) const {
  const ChunkedTokens t = unpack_chunked_tokens(ids, name_ + ": token_level_rows");
  if (output_rows(t) != len_bp) {
    fail("%s: token_level_rows: the tokens give %lld vectors but the sequence has %lld bp",
         name_.c_str(), (long long)output_rows(t), (long long)len_bp);
  }
  int64_t n = 0, start = 0;
  const int64_t p = len_bp - echo_from_end_;  // split_for_echo's nucleotide
  for (int32_t r : t.repeat) {
    n += r > 0 ? 1 : 0;
    if (echo_from_end_ > 0 && p > 0 && r > 0 && p >= start && p < start + r)
      n += (p > start ? 1 : 0) + (p + 1 < start + r ? 1 : 0);
    start += r;
  }
  return n;
}

}  // namespace bend
