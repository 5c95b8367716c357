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

// Embeds the shard's pairs batch by batch and appends each row's line to `text`.
void score_shard(const VariantWorkerSettings& st, Embedder& model, const ShardWork& w, PairBuffers& b,
                 std::string& text) {
  const int64_t dim = model.dim();
  const int64_t len = st.geometry.window_bp();
  const int64_t idx = st.geometry.vector_index;
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
      text += std::to_string(r.row);
      for (VariantScore s : st.scores) {
        text += '\t';
        text += format_score(variant_score(s, ref.data() + idx * dim, alt.data() + idx * dim, dim));
      }
      text += '\n';
    }
    first += static_cast<size_t>(n_pairs);
  }
}

}  // namespace

void run_variant_worker(const VariantWorkerSettings& st, Embedder& model, ShardSource& source,
                        RankCounters& counters) {
  FastaReader fa(st.genome_path);
  PairBuffers b;
  ShardWork w;
  std::string text;
  while (source.next(w)) {
    text.clear();
    tokenize_shard(st, model, fa, w, b);
    score_shard(st, model, w, b, text);
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
