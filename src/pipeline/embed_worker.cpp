#include "bend/pipeline/embed_worker.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/half.hpp"
#include "bend/core/queue.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/pipeline/h5_output.hpp"
#include "bend/pipeline/records.hpp"
#include "bend/pipeline/scheduler.hpp"
#include "bend/store/example.hpp"
#include "bend/store/tfrecord.hpp"

namespace bend {

std::string shard_temp_name(const std::string& final_path, int rank) {
  return strfmt("%s.tmp-r%d", final_path.c_str(), rank);
}

std::vector<std::vector<int32_t>> make_length_batches(const std::vector<int64_t>& n_tokens,
                                                      int64_t batch_nt) {
  std::vector<int32_t> order(n_tokens.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return n_tokens[a] < n_tokens[b]; });
  std::vector<std::vector<int32_t>> batches;
  std::vector<int32_t> cur;
  for (int32_t pos : order) {
    int64_t longest = n_tokens[pos];  // ascending order: the newest row is the longest
    if (!cur.empty() && static_cast<int64_t>(cur.size() + 1) * longest > batch_nt) {
      batches.push_back(std::move(cur));
      cur.clear();
    }
    cur.push_back(pos);
  }
  if (!cur.empty()) batches.push_back(std::move(cur));
  return batches;
}

namespace {

// A shard in flight: its rows and, once tokenized, their token ids.
struct ShardState {
  ShardWork work;
  std::vector<std::vector<int32_t>> tokens;  // [n_rows][n_tokens]
  std::vector<int64_t> len_bp;               // [n_rows]
  std::vector<char> bend_drops;              // [n_rows] Embedder::bend_drops_row
  bool started = false;                      // a batch went to the model (compute thread only)
};

struct Batch {
  std::shared_ptr<ShardState> shard;
  std::vector<int32_t> positions;            // row positions within the shard
  std::vector<std::vector<float>> outputs;   // [n][len, dim], filled by the compute stage
  std::vector<std::vector<VectorSpan>> spans;  // [n][len] with --token-level, else empty
};

// Collects the first error of any stage and stops the others.
struct Failure {
  std::mutex mutex;
  std::exception_ptr error;
  void set(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!error) error = e;
  }
};

void reader_stage(const WorkerSettings& st, const Embedder& embedder, ShardSource& source,
                  BoundedQueue<Batch>& to_compute) {
  FastaReader fasta(st.genome_path);
  std::string seq;
  ShardWork work;
  while (source.next(work)) {
    auto shard = std::make_shared<ShardState>();
    shard->work = std::move(work);
    size_t n = shard->work.rows.size();
    shard->tokens.resize(n);
    shard->len_bp.resize(n);
    shard->bend_drops.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const WorkRow& r = shard->work.rows[i];
      fasta.fetch(r.chrom, r.start_bp, r.end_bp, r.minus, seq);
      embedder.tokenize(seq, shard->tokens[i]);
      shard->len_bp[i] = static_cast<int64_t>(seq.size());
      shard->bend_drops[i] = embedder.bend_drops_row(seq) ? 1 : 0;
    }
    std::vector<int64_t> n_tokens(n);
    for (size_t i = 0; i < n; ++i) n_tokens[i] = static_cast<int64_t>(shard->tokens[i].size());
    for (auto& positions : make_length_batches(n_tokens, st.batch_nt)) {
      Batch b;
      b.shard = shard;
      b.positions = std::move(positions);
      if (!to_compute.push(std::move(b))) return;  // closed: another stage failed
    }
  }
}

// Writes one shard's records in BED order as batches (in length order) complete.
class ShardOutput {
 public:
  ShardOutput(const WorkerSettings& st, std::shared_ptr<ShardState> shard, int64_t dim)
      : st_(st), shard_(std::move(shard)), dim_(dim), dtype_(parse_dtype(st.dtype)),
        final_path_(path_join(st.out_dir, shard_->work.file_name)),
        temp_path_(shard_temp_name(final_path_, st.rank)),
        writer_(temp_path_, parse_compression(st.compression), st.compression_level),
        pending_(shard_->work.rows.size()), ready_(shard_->work.rows.size(), 0) {}

  ~ShardOutput() {
    if (!done_) {
      try {
        writer_.close();
      } catch (...) {
      }
      remove_if_exists_noexcept(temp_path_);
    }
  }

  // Encodes the rows of a finished batch; writes every record now in order. Returns bytes.
  void add(const Batch& b) {
    for (size_t k = 0; k < b.positions.size(); ++k) {
      int32_t pos = b.positions[k];
      encode_row(pos, b.outputs[k], b.spans.empty() ? nullptr : &b.spans[k], pending_[pos]);
      ready_[pos] = 1;
    }
    while (next_ < pending_.size() && ready_[next_]) {
      writer_.write(pending_[next_].data(), pending_[next_].size());
      std::string().swap(pending_[next_]);
      ++next_;
    }
  }
  bool complete() const { return next_ == pending_.size(); }

  // Closes (fsync: the bytes are durable before the file gets its final name), renames to the
  // final name, and describes the file. The directory is fsync'd once when the rank is done.
  ShardDone finish() {
    writer_.close();
    rename_file(temp_path_, final_path_);
    done_ = true;
    ShardDone d;
    d.shard_id = shard_->work.shard_id;
    d.n_records = static_cast<int64_t>(writer_.n_records());
    for (int64_t len : shard_->len_bp) d.n_bp += len;
    d.file_bytes = writer_.file_bytes();
    d.file_crc32c = writer_.file_crc32c();
    return d;
  }

 private:
  static void remove_if_exists_noexcept(const std::string& p) {
    try {
      remove_if_exists(p);
    } catch (...) {
    }
  }

  // `spans`: the vectors' nucleotides with --token-level (stored as token_spans), else null.
  void encode_row(int32_t pos, const std::vector<float>& emb, const std::vector<VectorSpan>* spans,
                  std::string& out) {
    const WorkRow& row = shard_->work.rows[pos];
    int64_t length = static_cast<int64_t>(emb.size()) / dim_;
    if (length * dim_ != static_cast<int64_t>(emb.size())) {
      fail("shard %s record %d: model returned %zu values, not a multiple of dim %lld",
           shard_->work.file_name.c_str(), pos, emb.size(), (long long)dim_);
    }
    const std::vector<float>* values = &emb;
    int64_t bin_len = 0;
    if (st_.reduce != kReduceNone) {  // --reduce: bins are in nucleotides
      if (length != shard_->len_bp[pos]) {
        fail("%s: --reduce needs one vector per nucleotide, the model returned %lld for %lld bp",
             row.region.c_str(), (long long)length, (long long)shard_->len_bp[pos]);
      }
      bin_len = st_.reduce == kReduceMean ? length : st_.reduce;
      length = mean_bins(emb.data(), length, dim_, bin_len, pooled_);
      values = &pooled_;
    }
    raw_.resize(values->size() * dtype_size(dtype_));
    encode_floats(values->data(), values->size(), dtype_, raw_.data());
    EmbeddingRecord rec;
    rec.inputs = raw_.data();
    rec.inputs_bytes = raw_.size();
    rec.length = length;
    rec.dim = dim_;
    rec.dtype = dtype_name(dtype_);
    rec.outputs_is_float = row.label.is_float;
    rec.outputs_int = row.label.ints;
    rec.outputs_float = row.label.floats;
    rec.outputs_shape = row.label.shape;
    rec.index = row.row;
    rec.region = row.region;
    if (spans) {
      BEND_ASSERT(st_.reduce == kReduceNone);  // refused with --token-level
      rec.token_spans.resize(2 * spans->size());
      int64_t covered_bp = 0;  // contiguity is checked by encode_embedding_example
      for (size_t i = 0; i < spans->size(); ++i) {
        rec.token_spans[2 * i] = (*spans)[i].start_bp;
        rec.token_spans[2 * i + 1] = (*spans)[i].len_bp;
        covered_bp += (*spans)[i].len_bp;
      }
      if (covered_bp != shard_->len_bp[pos]) {
        fail("%s: the model's token spans cover %lld bp, the sequence has %lld",
             row.region.c_str(), (long long)covered_bp, (long long)shard_->len_bp[pos]);
      }
    }
    out.clear();
    if (st_.genome_records) {
      encode_genome_example(rec, row.chrom, row.start_bp, row.end_bp, bin_len, out);
    } else {
      encode_embedding_example(rec, out);
    }
  }

  const WorkerSettings& st_;
  std::shared_ptr<ShardState> shard_;
  int64_t dim_;
  DType dtype_;
  std::string final_path_, temp_path_;
  TFRecordWriter writer_;
  std::vector<std::string> pending_;  // encoded records waiting for earlier rows
  std::vector<char> ready_;
  std::vector<char> raw_;             // reused dtype buffer
  std::vector<float> pooled_;         // [n_bins, dim] with --reduce
  size_t next_ = 0;
  bool done_ = false;
};

void writer_stage(const WorkerSettings& st, int64_t dim, ShardSource& source,
                  BoundedQueue<Batch>& to_write, RankCounters& counters) {
  std::unique_ptr<ShardOutput> out;
  std::unique_ptr<H5ShardWriter> h5_out;  // --format hdf5
  int32_t out_id = -1;
  Batch b;
  while (to_write.pop(b)) {
    if (st.h5) {
      if (!h5_out) h5_out = std::make_unique<H5ShardWriter>(*st.h5, b.shard->work, dim, parse_dtype(st.dtype), st.reduce);
      for (size_t k = 0; k < b.positions.size(); ++k) {
        h5_out->add_row(b.positions[k], b.outputs[k], b.shard->len_bp[b.positions[k]], b.spans.empty() ? nullptr : &b.spans[k]);
      }
      if (h5_out->complete()) {
        ShardDone d = h5_out->finish(b.shard->len_bp);
        counters.bytes_written += static_cast<int64_t>(d.file_bytes);
        counters.shards_done += 1;
        source.report(d);
        h5_out.reset();
      }
      continue;
    }
    if (!out || out_id != b.shard->work.shard_id) {
      BEND_ASSERT(!out);  // shards arrive one after another
      out = std::make_unique<ShardOutput>(st, b.shard, dim);
      out_id = b.shard->work.shard_id;
    }
    out->add(b);
    if (out->complete()) {
      ShardDone d = out->finish();
      counters.bytes_written += static_cast<int64_t>(d.file_bytes);
      counters.shards_done += 1;
      source.report(d);
      out.reset();
    }
  }
}

}  // namespace

void run_embed_worker(const WorkerSettings& st, Embedder& embedder, ShardSource& source,
                      RankCounters& counters) {
  BoundedQueue<Batch> to_compute(4), to_write(4);
  Failure failure;
  auto guard = [&](auto&& fn) {
    return [&failure, &to_compute, &to_write, fn]() {
      try {
        fn();
      } catch (...) {
        failure.set(std::current_exception());
        to_compute.close(true);
        to_write.close(true);
      }
    };
  };
  std::thread reader(guard([&] {
    reader_stage(st, embedder, source, to_compute);
    to_compute.close();
  }));
  std::thread writer(guard([&] { writer_stage(st, embedder.dim(), source, to_write, counters); }));
  guard([&] {
    Batch b;
    std::vector<const std::vector<int32_t>*> tokens;
    std::vector<int64_t> lens;
    while (to_compute.pop(b)) {
      if (!b.shard->started && source.stopping()) continue;  // graceful stop: left for the rerun
      b.shard->started = true;
      tokens.clear();
      lens.clear();
      for (int32_t pos : b.positions) {
        tokens.push_back(&b.shard->tokens[pos]);
        lens.push_back(b.shard->len_bp[pos]);
      }
      if (st.token_level) {
        embedder.embed_tokens(tokens, lens, b.outputs, b.spans);
      } else {
        embedder.embed(tokens, lens, b.outputs);
      }
      int64_t bp = 0, n_dropped = 0;
      for (int64_t len : lens) bp += len;
      for (int32_t pos : b.positions) n_dropped += b.shard->bend_drops[pos];
      size_t n_rows = b.positions.size();
      if (!to_write.push(std::move(b))) break;
      counters.rows_done += static_cast<int64_t>(n_rows);
      counters.bp_done += bp;
      counters.bend_dropped += n_dropped;
    }
    to_write.close();
  })();
  reader.join();
  writer.join();
  if (failure.error) std::rethrow_exception(failure.error);
  fsync_dir(st.out_dir);  // the renames of this rank's shards, before the manifest says complete
}

}  // namespace bend
