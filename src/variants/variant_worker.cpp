#include "bend/variants/variant_worker.hpp"

#include <algorithm>
#include <cmath>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/pipeline/progress.hpp"
#include "bend/pipeline/scheduler.hpp"

namespace bend {

WorkRow variant_work_row(int64_t row, const std::string& fasta_chrom, const std::string& file_chrom,
                         int64_t pos_bp, char ref, char alt, const VariantGeometry& g) {
  WorkRow w;
  w.row = row;
  w.chrom = fasta_chrom;
  w.start_bp = pos_bp - g.left_bp;
  w.end_bp = pos_bp + 1 + g.right_bp;
  w.region = strfmt("%s:%lld %c>%c", file_chrom.c_str(), (long long)pos_bp + 1, ref, alt);
  return w;
}

std::vector<int64_t> row_batches(const std::vector<int64_t>& n_tokens,
                                 const std::vector<int64_t>& n_seqs, int64_t batch_nt) {
  std::vector<int64_t> out;
  int64_t n_rows = 0, n_in = 0, longest = 0;
  for (size_t i = 0; i < n_tokens.size(); ++i) {
    const int64_t t = n_tokens[i], k = n_seqs[i];
    int64_t l = std::max(longest, t);
    if (n_rows > 0 && (n_in + k) * l > batch_nt) {
      out.push_back(n_rows);
      n_rows = n_in = 0;
      l = t;
    }
    ++n_rows;
    n_in += k;
    longest = l;
  }
  if (n_rows > 0) out.push_back(n_rows);
  return out;
}

std::vector<int64_t> pair_batches(const std::vector<int64_t>& n_tokens, int64_t batch_nt) {
  return row_batches(n_tokens, std::vector<int64_t>(n_tokens.size(), 2), batch_nt);
}

namespace {

// Reused buffers of one rank.
struct PairBuffers {
  std::string seq;
  std::vector<std::vector<int32_t>> ids;  // [2 x pairs]: ref, alt, ref, alt, ...
  std::vector<int64_t> pair_tokens;       // [pairs]
  std::vector<int64_t> same_ref;          // [pairs]: 1 = the previous row's window (ref reused)
  std::vector<int64_t> n_ref_seqs;        // [pairs]: 1 - same_ref (refs to embed)
  std::vector<int64_t> n_pair_seqs;       // [pairs]: 2 - same_ref (sequences to embed)
  std::vector<std::vector<float>> out;    // [sequences of a batch][len_bp, dim]
  std::vector<float> last_ref;            // [dim]: the latest ref's vector at the index
  std::vector<std::vector<int32_t>> masked;  // [pairs]: ref ids, variant's token masked (masked llr)
  std::vector<int32_t> site_ref, site_alt;   // [pairs]: that token's id under ref / alt (-1: none)
};

// True when row i has the window of row i - 1 (a multi-allelic site split into rows, or the
// same position listed again): its ref sequence is the same and is embedded once.
bool same_window(const ShardWork& w, size_t i) {
  if (i == 0) return false;
  const WorkRow& a = w.rows[i - 1];
  const WorkRow& b = w.rows[i];
  return a.start_bp == b.start_bp && a.end_bp == b.end_bp && a.chrom == b.chrom;
}

void tokenize_shard(const VariantWorkerSettings& st, const Embedder& model, const Embedder* lm,
                    const FastaReader& fa, const ShardWork& w, PairBuffers& b) {
  const int64_t centre = st.geometry.left_bp;
  b.ids.resize(2 * w.rows.size());
  b.pair_tokens.resize(w.rows.size());
  b.same_ref.resize(w.rows.size());
  b.n_ref_seqs.resize(w.rows.size());
  b.n_pair_seqs.resize(w.rows.size());
  for (size_t i = 0; i < w.rows.size(); ++i) {
    const WorkRow& r = w.rows[i];
    b.same_ref[i] = same_window(w, i) ? 1 : 0;
    b.n_ref_seqs[i] = 1 - b.same_ref[i];
    b.n_pair_seqs[i] = 2 - b.same_ref[i];
    fa.fetch(r.chrom, r.start_bp, r.end_bp, false, b.seq);
    if (static_cast<int64_t>(b.seq.size()) != st.geometry.window_bp()) {
      fail("shard %s, variant %s: fetched %zu bp, expected %lld", w.file_name.c_str(), r.region.c_str(),
           b.seq.size(), (long long)st.geometry.window_bp());
    }
    model.tokenize(b.seq, b.ids[2 * i]);
    if (st.masked_llr) {
      b.masked.resize(w.rows.size());
      b.site_ref.resize(w.rows.size());
      b.site_alt.resize(w.rows.size());
      lm->tokenize(b.seq, b.masked[i]);
      lm->mask_variant_token(b.masked[i], centre, r.region.back(), b.site_ref[i], b.site_alt[i]);
    }
    b.seq[centre] = r.region.back();  // BEND: dna_alt[len // 2] (or [-1]) = alt
    model.tokenize(b.seq, b.ids[2 * i + 1]);
    b.pair_tokens[i] = static_cast<int64_t>(std::max(b.ids[2 * i].size(), b.ids[2 * i + 1].size()));
  }
}

// Checks that the model returned [len, dim] floats for the sequence `v` of row `r`.
void check_output(const ShardWork& w, const WorkRow& r, const std::vector<float>& v, int64_t len,
                  int64_t dim) {
  if (static_cast<int64_t>(v.size()) != len * dim) {
    fail("shard %s, variant %s: the model returned %zu floats, expected %lld x %lld",
         w.file_name.c_str(), r.region.c_str(), v.size(), (long long)len, (long long)dim);
  }
}

// Embeds the shard's pairs batch by batch with the hidden-state model (a ref shared with the
// previous row is embedded once): the distances of each row go into scores[row * n_scores + k].
void distance_scores(const VariantWorkerSettings& st, Embedder& model, const ShardWork& w, PairBuffers& b,
                     std::vector<double>& scores) {
  const int64_t dim = model.dim();
  const int64_t len = st.geometry.window_bp();
  const int64_t idx = st.geometry.vector_index;
  const size_t n_scores = st.scores.size();
  std::vector<int64_t> sizes = row_batches(b.pair_tokens, b.n_pair_seqs, st.batch_nt);
  size_t first = 0;
  std::vector<const std::vector<int32_t>*> batch;
  std::vector<int64_t> lens;
  for (int64_t n_rows : sizes) {
    batch.clear();
    for (size_t i = first; i < first + n_rows; ++i) {
      if (!b.same_ref[i]) batch.push_back(&b.ids[2 * i]);
      batch.push_back(&b.ids[2 * i + 1]);
    }
    lens.assign(batch.size(), len);
    model.embed(batch, lens, b.out);
    size_t at = 0;  // next output of the batch
    for (size_t k = first; k < first + static_cast<size_t>(n_rows); ++k) {
      const WorkRow& r = w.rows[k];
      if (!b.same_ref[k]) {
        check_output(w, r, b.out[at], len, dim);
        b.last_ref.assign(b.out[at].begin() + idx * dim, b.out[at].begin() + (idx + 1) * dim);
        ++at;
      }
      const std::vector<float>& alt = b.out[at++];
      check_output(w, r, alt, len, dim);
      for (size_t j = 0; j < n_scores; ++j) {
        if (st.scores[j] == VariantScore::kLlr) continue;
        scores[k * n_scores + j] = variant_score(st.scores[j], b.last_ref.data(), alt.data() + idx * dim, dim);
      }
    }
    first += static_cast<size_t>(n_rows);
  }
}

// logit(alt) - logit(ref) at the variant, from the ref windows (a ref shared with the previous
// row is run once): a causal LM's prediction of the variant's base from the bases before it, or
// a masked LM's prediction of the masked token covering the variant (ref token vs the same
// token with the alt base; NaN when the vocabulary has no such alt token).
void llr_scores(const VariantWorkerSettings& st, Embedder& lm, const int32_t* base_ids, const ShardWork& w,
                PairBuffers& b, std::vector<double>& scores) {
  const int64_t dim = lm.dim();
  const int64_t len = st.geometry.window_bp();
  const int64_t idx = st.geometry.left_bp;  // the variant's row: predicted from the bases before it
  const size_t n_scores = st.scores.size();
  std::vector<int64_t> sizes = row_batches(b.pair_tokens, b.n_ref_seqs, st.batch_nt);
  size_t first = 0;
  std::vector<const std::vector<int32_t>*> batch;
  std::vector<int64_t> lens;
  for (int64_t n : sizes) {
    batch.clear();
    for (size_t i = first; i < first + n; ++i) {
      if (!b.same_ref[i]) batch.push_back(st.masked_llr ? &b.masked[i] : &b.ids[2 * i]);
    }
    lens.assign(batch.size(), len);
    lm.embed(batch, lens, b.out);
    size_t at = 0;
    for (size_t k = first; k < first + static_cast<size_t>(n); ++k) {
      const WorkRow& r = w.rows[k];
      if (!b.same_ref[k]) {
        check_output(w, r, b.out[at], len, dim);
        b.last_ref.assign(b.out[at].begin() + idx * dim, b.out[at].begin() + (idx + 1) * dim);
        ++at;
      }
      const float* row = b.last_ref.data();
      const size_t colon = r.region.rfind(' ');  // "chrom:pos R>A"
      int32_t id_ref = base_ids[static_cast<unsigned char>(r.region[colon + 1])];
      int32_t id_alt = base_ids[static_cast<unsigned char>(r.region.back())];
      if (st.masked_llr) {
        id_ref = b.site_ref[k];
        id_alt = b.site_alt[k];
      }
      const double llr = id_alt < 0 || id_ref < 0 || id_alt >= dim || id_ref >= dim
                             ? std::nan("")
                             : static_cast<double>(row[id_alt]) - static_cast<double>(row[id_ref]);
      for (size_t j = 0; j < n_scores; ++j) {
        if (st.scores[j] == VariantScore::kLlr) scores[k * n_scores + j] = llr;
      }
    }
    first += static_cast<size_t>(n);
  }
}

}  // namespace

int32_t base_token_id(const Embedder& model, char base) {
  std::vector<int32_t> ids;
  model.tokenize(std::string(1, base), ids);
  if (ids.size() == 1) return ids[0];
  // packed ChunkedTokens (bend/models/token_chunks.hpp): n_chunks, per chunk n_ids and its ids,
  // then one repeat count per id
  size_t at = 1, n_total = 0;
  std::vector<int32_t> all;
  for (int32_t c = 0; !ids.empty() && c < ids[0] && at < ids.size(); ++c) {
    size_t n = static_cast<size_t>(ids[at++]);
    for (size_t i = 0; i < n && at < ids.size(); ++i) all.push_back(ids[at++]);
    n_total += n;
  }
  for (size_t i = 0; i < all.size() && at + i < ids.size(); ++i) {
    if (ids[at + i] > 0) return all[i];
  }
  fail("model '%s': no token for the base '%c' (llr needs one id per base)", model.name().c_str(), base);
}

void run_variant_worker(const VariantWorkerSettings& st, Embedder* hidden, Embedder* lm, ShardSource& source,
                        RankCounters& counters) {
  BEND_ASSERT(hidden || lm);
  FastaReader fa(st.genome_path);
  PairBuffers b;
  ShardWork w;
  std::string text;
  std::vector<double> scores;
  int32_t base_ids[256] = {0};
  if (lm && !st.masked_llr) {
    for (char c : std::string("ACGTN")) base_ids[static_cast<unsigned char>(c)] = base_token_id(*lm, c);
  }
  const size_t n_scores = st.scores.size();
  while (source.next(w)) {
    text.clear();
    tokenize_shard(st, hidden ? *hidden : *lm, lm, fa, w, b);
    scores.assign(w.rows.size() * n_scores, 0.0);
    if (hidden) distance_scores(st, *hidden, w, b, scores);
    if (lm) llr_scores(st, *lm, base_ids, w, b, scores);
    for (size_t i = 0; i < w.rows.size(); ++i) {
      text += std::to_string(w.rows[i].row);
      for (size_t j = 0; j < n_scores; ++j) text += '\t' + format_score(scores[i * n_scores + j]);
      text += '\n';
    }
    write_file_atomic(path_join(st.out_dir, w.file_name), text);
    ShardDone d;
    d.shard_id = w.shard_id;
    d.n_records = static_cast<int64_t>(w.rows.size());
    d.n_bp = d.n_records * st.geometry.window_bp() * 2;
    d.file_bytes = text.size();
    d.file_crc32c = crc32c(text.data(), text.size());
    counters.rows_done += d.n_records;
    counters.bp_done += d.n_bp;
    counters.bytes_written += static_cast<int64_t>(text.size());
    counters.shards_done += 1;
    source.report(d);
  }
}

}  // namespace bend
