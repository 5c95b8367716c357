// Chunking long sequences into model inputs, and the nucleotide -> token map.
#include "bend/tokenize/chunks.hpp"

#include <algorithm>

#include "bend/core/error.hpp"

namespace bend {

namespace {

// One model input: prefix + content tokens [c, c_end) of a piece starting at `p` + suffix.
// Specials sit at the edges of the bases their chunk covers.
TokenChunk make_chunk(const Tokenizer& tok, const std::vector<int32_t>& ids,
                      const std::vector<TokenSpan>& spans, int64_t p, int64_t p_len, int64_t c,
                      int64_t c_end) {
  TokenChunk ch;
  const int64_t n = static_cast<int64_t>(ids.size());
  const int64_t first = c < n ? p + spans[c].start : p;
  const int64_t last = c_end > c ? p + spans[c_end - 1].start + spans[c_end - 1].len_bp : p + p_len;
  for (int32_t id : tok.prefix_ids()) {
    ch.ids.push_back(id);
    ch.spans.push_back({first, 0});
  }
  for (int64_t t = c; t < c_end; t++) {
    ch.ids.push_back(ids[t]);
    ch.spans.push_back({p + spans[t].start, spans[t].len_bp});
  }
  for (int32_t id : tok.suffix_ids()) {
    ch.ids.push_back(id);
    ch.spans.push_back({last, 0});
  }
  return ch;
}

// BEND's DNABERT / NT cut: the piece's whole id list (prefix + content + suffix) in consecutive
// inputs of `max_tokens` ids (0: one input), special tokens only where they fall.
void append_bare_pieces(const Tokenizer& tok, const std::vector<int32_t>& ids,
                        const std::vector<TokenSpan>& spans, int64_t p, int64_t p_len,
                        int64_t max_tokens, std::vector<TokenChunk>& out) {
  const TokenChunk all = make_chunk(tok, ids, spans, p, p_len, 0, static_cast<int64_t>(ids.size()));
  const size_t n = all.ids.size();
  const size_t step = max_tokens > 0 ? static_cast<size_t>(max_tokens) : n;
  for (size_t b = 0; b < n; b += step) {
    const size_t e = std::min(n, b + step);
    TokenChunk ch;
    ch.ids.assign(all.ids.begin() + long(b), all.ids.begin() + long(e));
    ch.spans.assign(all.spans.begin() + long(b), all.spans.begin() + long(e));
    out.push_back(std::move(ch));
  }
}

}  // namespace

void encode_chunks(const Tokenizer& tok, const std::string& seq, const ChunkRule& rule,
                   std::vector<TokenChunk>& out) {
  out.clear();
  const int64_t n_special = static_cast<int64_t>(tok.prefix_ids().size() + tok.suffix_ids().size());
  int64_t per_chunk = INT64_MAX;
  if (rule.max_tokens > 0) {
    per_chunk = rule.max_tokens - n_special;
    if (per_chunk <= 0 && rule.cut != ChunkCut::kBareIds) {
      fail("chunks of %lld tokens leave no room for content after %lld special tokens (%s)",
           static_cast<long long>(rule.max_tokens), static_cast<long long>(n_special),
           tok.kind().c_str());
    }
  }
  const int64_t len = static_cast<int64_t>(seq.size());
  const int64_t piece_bp = rule.max_bp > 0 ? rule.max_bp : std::max<int64_t>(len, 1);
  std::vector<int32_t> ids;
  std::vector<TokenSpan> spans;
  for (int64_t p = 0; p < len || (p == 0 && len == 0); p += piece_bp) {
    const int64_t p_len = std::min(piece_bp, len - p);
    tok.encode_content(seq.substr(p, p_len), ids, spans);
    if (rule.cut == ChunkCut::kBareIds) {
      append_bare_pieces(tok, ids, spans, p, p_len, rule.max_tokens, out);
      continue;
    }
    // Balanced runs: n tokens in ceil(n / per_chunk) runs whose sizes differ by at most one;
    // BEND's runs (kRuns): per_chunk tokens each, the last one shorter.
    const int64_t n = static_cast<int64_t>(ids.size());
    const int64_t n_runs = n == 0 ? 1 : (n - 1) / per_chunk + 1;
    for (int64_t r = 0, c = 0; r < n_runs; r++) {
      const int64_t c_end = rule.cut == ChunkCut::kRuns
                                ? std::min(n, c + per_chunk)
                                : c + n / n_runs + (r < n % n_runs ? 1 : 0);
      out.push_back(make_chunk(tok, ids, spans, p, p_len, c, c_end));
      c = c_end;
    }
  }
}

namespace {

// Whether the content tokens `tok` of `spans` are overlapping k-mers of a `len_bp` sequence:
// equal lengths, starts 0, 1, 2, ..., the last one ending at len_bp.
bool is_kmer_run(const std::vector<TokenSpan>& spans, const std::vector<int32_t>& tok,
                 int64_t len_bp) {
  if (tok.empty()) return false;
  const int32_t k = spans[size_t(tok[0])].len_bp;
  if (k < 2) return false;
  for (size_t i = 0; i < tok.size(); i++) {
    const TokenSpan& s = spans[size_t(tok[i])];
    if (s.len_bp != k || s.start != int64_t(i)) return false;
  }
  return int64_t(tok.size()) + k - 1 == len_bp;
}

}  // namespace

void nucleotide_token_index(const std::vector<TokenSpan>& spans, int64_t len_bp,
                            std::vector<int32_t>& index, bool kmer_left) {
  index.assign(static_cast<size_t>(std::max<int64_t>(len_bp, 0)), -1);
  // The content tokens, in order; check the order the sweep relies on.
  std::vector<int32_t> tok;
  for (size_t i = 0; i < spans.size(); i++) {
    if (spans[i].len_bp <= 0) continue;
    if (!tok.empty()) {
      const TokenSpan& a = spans[tok.back()];
      const TokenSpan& b = spans[i];
      if (b.start < a.start || b.start + b.len_bp < a.start + a.len_bp) {
        fail("token spans out of order: token %zu [%lld, +%d) after token %d [%lld, +%d)", i,
             static_cast<long long>(b.start), b.len_bp, tok.back(), static_cast<long long>(a.start),
             a.len_bp);
      }
    }
    tok.push_back(static_cast<int32_t>(i));
  }
  if (kmer_left && is_kmer_run(spans, tok, len_bp)) {
    // BEND's DNABERT _repeat_embedding_vectors: [e0] + E + ...: nucleotide p gets k-mer p - 1.
    const int64_t m = static_cast<int64_t>(tok.size());
    for (int64_t p = 0; p < len_bp; p++)
      index[size_t(p)] = tok[size_t(std::max<int64_t>(0, std::min(p - 1, m - 1)))];
    return;
  }
  auto centre2 = [&](size_t t) {  // twice the centre, to keep it integral
    const TokenSpan& s = spans[tok[t]];
    return 2 * s.start + (s.len_bp - 1) - ((s.len_bp - 1) % 2);
  };
  auto dist = [&](size_t t, int64_t p) { return std::llabs(centre2(t) - 2 * p); };
  size_t lo = 0;  // first token whose span ends after p
  for (int64_t p = 0; p < len_bp && !tok.empty(); p++) {
    while (lo < tok.size() && spans[tok[lo]].start + spans[tok[lo]].len_bp <= p) lo++;
    if (lo == tok.size()) break;
    if (spans[tok[lo]].start > p) continue;  // a gap: no token covers p
    // Among the tokens covering p (lo, lo+1, ... while start <= p) the centre closest to p;
    // centres are non-decreasing, so walk while the next one is strictly closer.
    size_t best = lo;
    while (best + 1 < tok.size() && spans[tok[best + 1]].start <= p &&
           dist(best + 1, p) < dist(best, p)) {
      best++;
    }
    index[p] = tok[best];
  }
}

}  // namespace bend
