#include "bend/variants/variant_worker.hpp"

#include <algorithm>

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

std::vector<int64_t> pair_batches(const std::vector<int64_t>& n_tokens, int64_t batch_nt) {
  std::vector<int64_t> out;
  int64_t n = 0, longest = 0;
  for (int64_t t : n_tokens) {
    int64_t l = std::max(longest, t);
    if (n > 0 && 2 * (n + 1) * l > batch_nt) {
      out.push_back(n);
      n = 0;
      l = t;
    }
    ++n;
    longest = l;
  }
  if (n > 0) out.push_back(n);
  return out;
}

namespace {

// Reused buffers of one rank.
struct PairBuffers {
  std::string seq;
  std::vector<std::vector<int32_t>> ids;  // [2 x pairs]: ref, alt, ref, alt, ...
  std::vector<int64_t> pair_tokens;       // [pairs]
  std::vector<std::vector<float>> out;    // [2 x batch pairs][len_bp, dim]
};

void tokenize_shard(const VariantWorkerSettings& st, const Embedder& model, const FastaReader& fa,
                    const ShardWork& w, PairBuffers& b) {
  const int64_t centre = st.geometry.left_bp;
  b.ids.resize(2 * w.rows.size());
  b.pair_tokens.resize(w.rows.size());
  for (size_t i = 0; i < w.rows.size(); ++i) {
    const WorkRow& r = w.rows[i];
    fa.fetch(r.chrom, r.start_bp, r.end_bp, false, b.seq);
    if (static_cast<int64_t>(b.seq.size()) != st.geometry.window_bp()) {
      fail("shard %s, variant %s: fetched %zu bp, expected %lld", w.file_name.c_str(), r.region.c_str(),
           b.seq.size(), (long long)st.geometry.window_bp());
    }
    model.tokenize(b.seq, b.ids[2 * i]);
    b.seq[centre] = r.region.back();  // BEND: dna_alt[len // 2] (or [-1]) = alt
    model.tokenize(b.seq, b.ids[2 * i + 1]);
    b.pair_tokens[i] = static_cast<int64_t>(std::max(b.ids[2 * i].size(), b.ids[2 * i + 1].size()));
  }
}

// Embeds the shard's pairs batch by batch with the hidden-state model: the distances of each
// row go into scores[row * n_scores + k].
void distance_scores(const VariantWorkerSettings& st, Embedder& model, const ShardWork& w, PairBuffers& b,
                     std::vector<double>& scores) {
  const int64_t dim = model.dim();
  const int64_t len = st.geometry.window_bp();
  const int64_t idx = st.geometry.vector_index;
  const size_t n_scores = st.scores.size();
  std::vector<int64_t> sizes = pair_batches(b.pair_tokens, st.batch_nt);
  size_t first = 0;
  std::vector<const std::vector<int32_t>*> batch;
  std::vector<int64_t> lens;
  for (int64_t n_pairs : sizes) {
    batch.clear();
    for (size_t i = first; i < first + n_pairs; ++i) {
      batch.push_back(&b.ids[2 * i]);
      batch.push_back(&b.ids[2 * i + 1]);
    }
    lens.assign(batch.size(), len);
    model.embed(batch, lens, b.out);
    for (size_t k = 0; k < static_cast<size_t>(n_pairs); ++k) {
      const WorkRow& r = w.rows[first + k];
      const std::vector<float>& ref = b.out[2 * k];
      const std::vector<float>& alt = b.out[2 * k + 1];
      if (static_cast<int64_t>(ref.size()) != len * dim || static_cast<int64_t>(alt.size()) != len * dim) {
        fail("shard %s, variant %s: the model returned %zu / %zu floats, expected %lld x %lld",
             w.file_name.c_str(), r.region.c_str(), ref.size(), alt.size(), (long long)len, (long long)dim);
      }
      for (size_t j = 0; j < n_scores; ++j) {
        if (st.scores[j] == VariantScore::kLlr) continue;
        scores[(first + k) * n_scores + j] =
            variant_score(st.scores[j], ref.data() + idx * dim, alt.data() + idx * dim, dim);
      }
    }
    first += static_cast<size_t>(n_pairs);
  }
}

// logit(alt) - logit(ref) of the causal LM's prediction at the variant, from the ref windows.
void llr_scores(const VariantWorkerSettings& st, Embedder& lm, const int32_t* base_ids, const ShardWork& w,
                PairBuffers& b, std::vector<double>& scores) {
  const int64_t dim = lm.dim();
  const int64_t len = st.geometry.window_bp();
  const int64_t idx = st.geometry.left_bp;  // the variant's row: predicted from the bases before it
  const size_t n_scores = st.scores.size();
  std::vector<int64_t> sizes = pair_batches(b.pair_tokens, st.batch_nt);
  size_t first = 0;
  std::vector<const std::vector<int32_t>*> batch;
  std::vector<int64_t> lens;
  for (int64_t n : sizes) {
    batch.clear();
    for (size_t i = first; i < first + n; ++i) batch.push_back(&b.ids[2 * i]);
    lens.assign(batch.size(), len);
    lm.embed(batch, lens, b.out);
    for (size_t k = 0; k < static_cast<size_t>(n); ++k) {
      const WorkRow& r = w.rows[first + k];
      if (static_cast<int64_t>(b.out[k].size()) != len * dim) {
        fail("shard %s, variant %s: the model returned %zu floats, expected %lld x %lld", w.file_name.c_str(),
             r.region.c_str(), b.out[k].size(), (long long)len, (long long)dim);
      }
      const float* row = b.out[k].data() + idx * dim;
      const size_t colon = r.region.rfind(' ');  // "chrom:pos R>A"
      int32_t id_ref = base_ids[static_cast<unsigned char>(r.region[colon + 1])];
      int32_t id_alt = base_ids[static_cast<unsigned char>(r.region.back())];
      for (size_t j = 0; j < n_scores; ++j) {
        if (st.scores[j] == VariantScore::kLlr) {
          scores[(first + k) * n_scores + j] = static_cast<double>(row[id_alt]) - static_cast<double>(row[id_ref]);
        }
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
  if (lm) {
    for (char c : std::string("ACGTN")) base_ids[static_cast<unsigned char>(c)] = base_token_id(*lm, c);
  }
  const size_t n_scores = st.scores.size();
  while (source.next(w)) {
    text.clear();
    tokenize_shard(st, hidden ? *hidden : *lm, fa, w, b);
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
