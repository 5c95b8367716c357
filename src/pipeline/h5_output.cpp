// `--format hdf5` of bend embed and bend genome: opening the files on every rank (counting each
// row's vectors first), the writer thread's per-shard writes, and finishing (protocol in
// h5_output.hpp; rank 0's locks and checks are in h5_output_files.cpp).
#include "bend/pipeline/h5_output.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "bend/core/bytes.hpp"
#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"
#include "bend/dist/collective.hpp"
#include "bend/dist/comm.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/pipeline/manifest.hpp"
#include "bend/pipeline/plan.hpp"
#include "bend/pipeline/records.hpp"
#include "bend/pipeline/work.hpp"
#include "bend/task/bed.hpp"
#include "bend/task/labels.hpp"

namespace bend {

using nlohmann::json;

namespace {

long long ll(int64_t v) {
  return static_cast<long long>(v);
}

constexpr int32_t kLeave = H5Rank0Files::kLeave, kCreate = H5Rank0Files::kCreate,
                  kReopen = H5Rank0Files::kReopen;

// Target bytes of one `embeddings` chunk: 1 MiB, or the file system's preferred I/O size when
// larger (a Lustre stripe), at most 16 MiB. Chunks are aligned to it.
int64_t chunk_bytes_for(const std::string& dir) {
  struct stat st;
  int64_t b = 1 << 20;
  if (::stat(dir.c_str(), &st) == 0 && st.st_blksize > b) b = st.st_blksize;
  return std::min<int64_t>(b, 16 << 20);
}

void encode_layout(const H5SplitLayout& L, std::string& out) {
  ByteWriter w(out);
  w.put_str(L.split);
  w.put_str(L.command);
  w.put<int64_t>(L.dim);
  w.put<int32_t>(static_cast<int32_t>(L.dtype));
  w.put<int64_t>(L.shard_rows);
  w.put_vec(L.shard_offsets);
  w.put_vec(L.offsets);
  for (bool b : {L.token_spans, L.coords, L.has_bin_bp}) w.put<uint8_t>(b);
  w.put<int64_t>(L.chrom_width);
  w.put<int64_t>(L.chunk_bytes);
  for (const std::string* s :
       {&L.model, &L.model_fingerprint, &L.checkpoint, &L.task, &L.params_json})
    w.put_str(*s);
  w.put<uint8_t>(L.labels_float);
  w.put<uint8_t>(L.labels_ragged);
  w.put_vec(L.label_row_shape);
  w.put<int64_t>(L.n_label_values);
  w.put<int64_t>(L.label_rank);
  w.put<int64_t>(L.region_width);
  for (uint32_t c : {L.crc_offsets, L.crc_index, L.crc_region, L.crc_labels, L.crc_label_offsets,
                     L.crc_label_shapes, L.crc_shard_offsets, L.crc_chrom, L.crc_start, L.crc_end,
                     L.crc_bin_bp}) {
    w.put<uint32_t>(c);
  }
}

H5SplitLayout decode_layout(const std::string& msg) {
  ByteReader r(msg.data(), msg.size());
  H5SplitLayout L;
  L.split = r.get_str();
  L.command = r.get_str();
  L.dim = r.get<int64_t>();
  L.dtype = static_cast<DType>(r.get<int32_t>());
  L.shard_rows = r.get<int64_t>();
  L.shard_offsets = r.get_vec<int64_t>();
  L.offsets = r.get_vec<int64_t>();
  for (bool* b : {&L.token_spans, &L.coords, &L.has_bin_bp}) *b = r.get<uint8_t>() != 0;
  L.chrom_width = r.get<int64_t>();
  L.chunk_bytes = r.get<int64_t>();
  for (std::string* s : {&L.model, &L.model_fingerprint, &L.checkpoint, &L.task, &L.params_json})
    *s = r.get_str();
  L.labels_float = r.get<uint8_t>() != 0;
  L.labels_ragged = r.get<uint8_t>() != 0;
  L.label_row_shape = r.get_vec<int64_t>();
  L.n_label_values = r.get<int64_t>();
  L.label_rank = r.get<int64_t>();
  L.region_width = r.get<int64_t>();
  for (uint32_t* c : {&L.crc_offsets, &L.crc_index, &L.crc_region, &L.crc_labels,
                      &L.crc_label_offsets, &L.crc_label_shapes, &L.crc_shard_offsets, &L.crc_chrom,
                      &L.crc_start, &L.crc_end, &L.crc_bin_bp}) {
    *c = r.get<uint32_t>();
  }
  return L;
}

// The BED stem: "histone_modification" for ".../histone_modification.bed".
std::string task_name(const std::string& bed_path) {
  std::string name = bed_path.substr(bed_path.find_last_of('/') + 1);
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".bed") == 0)
    name.resize(name.size() - 4);
  return name;
}

}  // namespace

// ---- every rank: open and finish ---------------------------------------------------------

namespace {

enum : int { kTagCountRows = 111 };  // rank 0 -> each rank: its block of rows to count

// One file as rank 0 broadcasts it in step 2a.
struct FilePlan {
  std::string name;
  int32_t action = kLeave, first_shard = 0, n_shards = 0;
  int64_t first_count = 0, n_rows = 0;  // its rows in the list of counts (created files)
};

// Rank 0: the rows of the files to create, in file and shard order (the list of counts).
std::vector<int64_t> rows_to_count(const H5Rank0Inputs& in) {
  std::vector<int64_t> rows;
  for (const H5Rank0Files::File& f : in.files->files()) {
    if (f.action != kCreate) continue;
    for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id) {
      const RowList& r = (*in.shards)[id].rows;
      rows.insert(rows.end(), r.begin(), r.end());
    }
  }
  return rows;
}

// Rank 0: the files (step 2a).
std::string encode_files(const H5Rank0Inputs& in) {
  std::string msg;
  ByteWriter w(msg);
  std::vector<H5Rank0Files::File>& files = in.files->files();
  w.put<uint64_t>(files.size());
  for (const H5Rank0Files::File& f : files) {
    int64_t n_rows = 0;
    for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id) {
      n_rows += static_cast<int64_t>((*in.shards)[id].rows.size());
    }
    w.put_str(f.name);
    w.put<int32_t>(f.action);
    w.put<int32_t>(f.first_shard);
    w.put<int32_t>(f.n_shards);
    w.put<int64_t>(n_rows);
  }
  return msg;
}

// Rank 0: the fetch intervals of rows [lo, hi) of `rows` (empty when counts are known).
std::string encode_block(const H5Rank0Inputs& in, const std::vector<int64_t>& rows, int64_t lo,
                         int64_t hi) {
  std::string msg;
  ByteWriter w(msg);
  if (in.count_known) lo = hi = 0;
  w.put<uint64_t>(in.chrom_names.size());
  for (const std::string& c : in.chrom_names) w.put_str(c);
  w.put<uint64_t>(static_cast<uint64_t>(hi - lo));
  for (int64_t i = lo; i < hi; ++i) {
    H5FetchRow r = in.fetch(rows[i]);
    w.put<int32_t>(r.chrom_id);
    w.put<int64_t>(r.start_bp);
    w.put<int64_t>(r.end_bp);
    w.put<uint8_t>(r.minus);
  }
  return msg;
}

// Every rank: the vector counts of its block (step 2b), tokenized.
std::string count_block(const H5OutputSettings& s, const Embedder& model,
                        const std::string& block) {
  ByteReader in(block.data(), block.size());
  std::vector<std::string> chroms(in.get<uint64_t>());
  for (std::string& c : chroms) c = in.get_str();
  const uint64_t n = in.get<uint64_t>();
  std::string out;
  ByteWriter w(out);
  if (n == 0) return out;
  FastaReader fasta(s.genome_path);
  std::string seq;
  std::vector<int32_t> ids;
  for (uint64_t i = 0; i < n; ++i) {
    int32_t chrom = in.get<int32_t>();
    int64_t start = in.get<int64_t>(), end = in.get<int64_t>();
    bool minus = in.get<uint8_t>() != 0;
    fasta.fetch(chroms.at(chrom), start, end, minus, seq);
    model.tokenize(seq, ids);
    const int64_t len = static_cast<int64_t>(seq.size());
    w.put<int64_t>(s.token_level ? model.token_level_rows(ids, len)
                                 : model.output_length(len, static_cast<int64_t>(ids.size())));
  }
  return out;
}

// Steps 2a-b: every rank counts its block; rank 0 returns all counts in row order (others: {}).
std::vector<int64_t> count_rows(Comm& comm, const H5OutputSettings& s, const Embedder& model,
                                const H5Rank0Inputs* r0) {
  const bool root = comm.rank() == 0;
  std::vector<int64_t> rows;
  std::string block;
  if (root) {
    rows = rows_to_count(*r0);
    const int64_t n = static_cast<int64_t>(rows.size()), size = comm.size();
    for (int r = 1; r < comm.size(); ++r)
      comm.send(r, kTagCountRows, encode_block(*r0, rows, n * r / size, n * (r + 1) / size));
    block = encode_block(*r0, rows, 0, n / size);
  } else {
    block = comm.recv(0, kTagCountRows);
  }
  std::string mine;
  collective_check(comm, "counting the vectors of each row",
                   [&] { mine = count_block(s, model, block); });
  std::string().swap(block);
  std::vector<std::string> all = comm.gather(mine, 0);
  std::vector<int64_t> counts;
  if (!root) return counts;
  counts.reserve(rows.size());
  if (r0->count_known) {
    for (int64_t row : rows) counts.push_back(r0->count_known(row));
    return counts;
  }
  for (const std::string& part : all) {
    ByteReader r(part.data(), part.size());
    while (!r.done()) counts.push_back(r.get<int64_t>());
  }
  BEND_ASSERT(counts.size() == rows.size());
  return counts;
}

// Rank 0: the layout and tables of a file to create (step 2c).
void plan_new_file(const H5OutputSettings& s, const Embedder& model, const H5Rank0Inputs& in,
                   const H5Rank0Files::File& f, const FilePlan& fp,
                   const std::vector<int64_t>& counts, H5SplitLayout& L, H5RowTables& tables) {
  in.describe(f, L, tables);
  L.dim = model.dim();
  L.dtype = parse_dtype(s.dtype);
  L.model = model.name();
  L.model_fingerprint = model.fingerprint();
  L.chunk_bytes = chunk_bytes_for(s.out_dir);
  L.token_spans = s.token_level;
  L.offsets.assign(1, 0);
  for (int64_t k = 0; k < fp.n_rows; ++k)
    L.offsets.push_back(L.offsets.back() + counts[fp.first_count + k]);
  // Shards of shard_rows rows each (the last one shorter) need no table; others do.
  std::vector<int64_t> bounds(1, 0);
  bool uniform = L.shard_rows > 0;
  for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id) {
    const int64_t n = static_cast<int64_t>((*in.shards)[id].rows.size());
    bool last = id + 1 == f.first_shard + f.n_shards;
    uniform = uniform && (last ? n <= L.shard_rows : n == L.shard_rows);
    bounds.push_back(bounds.back() + n);
  }
  if (!uniform) L.shard_offsets = bounds;
  h5_plan_tables(tables, L);
}

// Step 2c for file `i`: rank 0 plans the layout (and tables) and broadcasts it; every rank
// creates or reopens the file; rank 0 reserves its space and writes the tables.
std::unique_ptr<H5EmbeddingWriter> open_file(Comm& comm, const H5OutputSettings& s,
                                             const Embedder& model, const H5Rank0Inputs* r0,
                                             size_t i, const FilePlan& fp,
                                             const std::vector<int64_t>& counts) {
  const bool root = comm.rank() == 0;
  const std::string path = path_join(s.out_dir, fp.name);
  H5SplitLayout layout;
  H5RowTables tables;
  std::string msg;
  collective_check(comm, "planning the HDF5 files", [&] {
    if (!root) return;
    if (fp.action == kReopen) {
      layout = H5EmbeddingReader(path, false, false).layout();
    } else {
      plan_new_file(s, model, *r0, r0->files->files()[i], fp, counts, layout, tables);
    }
    encode_layout(layout, msg);
  });
  comm.bcast(msg, 0);
  layout = decode_layout(msg);
  // One rank writes through HDF5's POSIX driver: no MPI (a solo Comm never starts it).
  const void* mpi_comm = comm.size() > 1 ? comm.native_handle() : nullptr;
  std::unique_ptr<H5EmbeddingWriter> w;
  if (fp.action == kReopen) {
    collective_check(comm, "opening the HDF5 file to resume",
                     [&] { w = H5EmbeddingWriter::reopen(path, mpi_comm, layout); });
    if (root) log_info("resuming %s", path.c_str());
    return w;
  }
  collective_check(comm, "creating the HDF5 file",
                   [&] { w = H5EmbeddingWriter::create(path, mpi_comm, layout); });
  collective_check(comm, "reserving disk space", [&] {
    if (root) r0->files->reserve(fp.name, w->allocated_bytes());
  });
  collective_check(comm, "writing the row tables", [&] {
    if (root) w->write_tables(tables);
  });
  w->flush();
  if (root) {
    log_info("created %s: %lld rows, %lld %s x %lld %s", path.c_str(), ll(layout.n_rows()),
             ll(layout.n_positions()), layout.token_spans ? "vectors" : "positions", ll(layout.dim),
             dtype_name(layout.dtype));
  }
  return w;
}

}  // namespace

H5Rank0Inputs h5_embed_inputs(const EmbedParams& p, const BedTable& bed, LabelSource& labels,
                              const std::vector<ShardSpec>& shards, const json& params,
                              H5Rank0Files& files) {
  H5Rank0Inputs in;
  in.shards = &shards;
  in.files = &files;
  in.chrom_names = bed.chrom_names;
  const BedTable* b = &bed;
  in.fetch = [&p, b](int64_t row) {
    const Region& r = b->rows[row];
    return H5FetchRow{r.chrom_id, r.start_bp - p.flank_bp, r.end_bp + p.flank_bp,
                      p.read_strand && r.strand == '-'};
  };
  in.describe = [&p, b, &labels, &shards, &params](const H5Rank0Files::File& f, H5SplitLayout& L,
                                                   H5RowTables& t) {
    L.split = f.split;
    L.command = "embed";
    L.shard_rows = p.shard_rows;
    L.checkpoint = p.model.checkpoint_dir.empty() ? "" : absolute_path(p.model.checkpoint_dir);
    L.task = task_name(p.bed_path);
    L.params_json = params.dump();
    LabelRow label;
    for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id) {
      for (int64_t r : shards[id].rows) {
        const Region& reg = b->rows[r];
        t.index.push_back(r);
        t.regions.push_back(region_string(*b, reg));
        labels.read(r, label);
        t.labels_float = label.is_float;
        t.label_ints.insert(t.label_ints.end(), label.ints.begin(), label.ints.end());
        t.label_floats.insert(t.label_floats.end(), label.floats.begin(), label.floats.end());
        t.label_shapes.push_back(label.shape);
      }
    }
  };
  return in;
}

std::unique_ptr<H5Output> H5Output::open(Comm& comm, const H5OutputSettings& s,
                                         const Embedder& model, const H5Rank0Inputs* r0) {
  // 2a. Rank 0 broadcasts the files.
  std::string msg;
  collective_check(comm, "planning the HDF5 files", [&] {
    if (comm.rank() == 0) msg = encode_files(*r0);
  });
  comm.bcast(msg, 0);
  ByteReader in(msg.data(), msg.size());
  std::vector<FilePlan> plans(in.get<uint64_t>());
  int64_t n_count = 0;
  for (FilePlan& f : plans) {
    f.name = in.get_str();
    f.action = in.get<int32_t>();
    f.first_shard = in.get<int32_t>();
    f.n_shards = in.get<int32_t>();
    f.n_rows = in.get<int64_t>();
    f.first_count = n_count;
    if (f.action == kCreate) n_count += f.n_rows;
  }
  // 2b. Vector counts of the rows of new files, on rank 0.
  const std::vector<int64_t> counts = count_rows(comm, s, model, r0);
  BEND_ASSERT(comm.rank() != 0 || static_cast<int64_t>(counts.size()) == n_count);
  // 2c. File by file.
  std::unique_ptr<H5Output> out(new H5Output());
  for (size_t i = 0; i < plans.size(); ++i) {
    if (plans[i].action == kLeave) continue;
    Open o;
    o.first_shard = plans[i].first_shard;
    o.n_shards = plans[i].n_shards;
    o.writer = open_file(comm, s, model, r0, i, plans[i], counts);
    out->open_.push_back(std::move(o));
  }
  return out;
}

H5Output::~H5Output() = default;

H5EmbeddingWriter& H5Output::file_of(int32_t shard_id, int64_t& first_row) {
  for (Open& o : open_) {
    if (shard_id >= o.first_shard && shard_id < o.first_shard + o.n_shards) {
      first_row = o.writer->layout().shard_first_row(shard_id - o.first_shard);
      return *o.writer;
    }
  }
  fail("internal: shard %d belongs to no open HDF5 file", shard_id);
}

void H5Output::finish(Comm& comm, const std::map<int32_t, ShardEntry>* done) {
  // 1. Rank 0 says which files are whole. 2. Those get checksums and `complete`; others close.
  std::string flags(open_.size(), '\0');
  if (comm.rank() == 0) {
    for (size_t i = 0; i < open_.size(); ++i) {
      bool all = true;
      for (int32_t id = open_[i].first_shard; id < open_[i].first_shard + open_[i].n_shards; ++id)
        all = all && done->count(id);
      flags[i] = all ? 1 : 0;
    }
  }
  comm.bcast(flags, 0);
  for (size_t i = 0; i < open_.size(); ++i) {
    Open& o = open_[i];
    if (!flags[i]) {
      o.writer->close();
      continue;
    }
    std::vector<uint32_t> crcs;
    if (comm.rank() == 0) {
      for (int32_t id = o.first_shard; id < o.first_shard + o.n_shards; ++id)
        crcs.push_back(done->at(id).file_crc32c);
    }
    o.writer->finish(crcs, comm.rank() == 0);
  }
  open_.clear();
}

// ---- writer thread -----------------------------------------------------------------------

H5ShardWriter::H5ShardWriter(H5Output& out, const ShardWork& work, int64_t dim, DType dtype,
                             int64_t reduce)
    : file_(out.file_of(work.shard_id, first_row_)),
      shard_id_(work.shard_id),
      dim_(dim),
      dtype_(dtype),
      reduce_(reduce),
      pending_(work.rows.size()),
      ready_(work.rows.size(), 0) {
  for (const WorkRow& r : work.rows) bed_rows_.push_back(r.row);
  if (file_.layout().token_spans) pending_spans_.resize(work.rows.size());
}

void H5ShardWriter::add_row(int32_t pos, const std::vector<float>& emb, int64_t len_bp,
                            const std::vector<VectorSpan>* spans) {
  const H5SplitLayout& L = file_.layout();
  const int64_t row = first_row_ + pos;
  const int64_t length = L.offsets[row + 1] - L.offsets[row];
  const std::vector<float>* values = &emb;
  if (reduce_ != kReduceNone) {  // --reduce: bins are in nucleotides
    if (static_cast<int64_t>(emb.size()) != len_bp * dim_) {
      fail(
          "%s: row %lld: --reduce needs one vector per nucleotide, the model returned %zu values "
          "for "
          "%lld bp x dim %lld",
          file_.path().c_str(), ll(bed_rows_[pos]), emb.size(), ll(len_bp), ll(dim_));
    }
    mean_bins(emb.data(), len_bp, dim_, reduce_ == kReduceMean ? len_bp : reduce_, pooled_);
    values = &pooled_;
  }
  if (static_cast<int64_t>(values->size()) != length * dim_) {
    fail(
        "%s: BED row %lld: the model returned %zu values, but %lld vectors x dim %lld were "
        "planned before embedding",
        file_.path().c_str(), ll(bed_rows_[pos]), values->size(), ll(length), ll(dim_));
  }
  if (L.token_spans) {
    if (!spans || static_cast<int64_t>(spans->size()) != length) {
      fail("%s: BED row %lld: %zu token spans for %lld planned vectors", file_.path().c_str(),
           ll(bed_rows_[pos]), spans ? spans->size() : size_t(0), ll(length));
    }
    std::vector<int64_t>& out = pending_spans_[pos];
    int64_t covered_bp = 0;  // spans are contiguous from 0 and cover the sequence (embedder.hpp)
    for (const VectorSpan& v : *spans) {
      if (v.start_bp != covered_bp || v.len_bp < 1) {
        fail(
            "%s: BED row %lld: token span %zu is (%lld, %lld bp), expected it to start at %lld "
            "with at "
            "least 1 bp",
            file_.path().c_str(), ll(bed_rows_[pos]), out.size() / 2, ll(v.start_bp), ll(v.len_bp),
            ll(covered_bp));
      }
      covered_bp += v.len_bp;
      out.push_back(v.start_bp);
      out.push_back(v.len_bp);
    }
    if (covered_bp != len_bp) {
      fail("%s: BED row %lld: the model's token spans cover %lld bp, the sequence has %lld",
           file_.path().c_str(), ll(bed_rows_[pos]), ll(covered_bp), ll(len_bp));
    }
  }
  std::string& raw = pending_[pos];
  raw.resize(values->size() * dtype_size(dtype_));
  encode_floats(values->data(), values->size(), dtype_, &raw[0]);
  ready_[pos] = 1;
  flush_ready();
}

void H5ShardWriter::flush_ready() {
  const std::vector<int64_t>& off = file_.layout().offsets;
  const size_t n = pending_.size();
  while (next_ < n && ready_[next_]) {
    const size_t first = next_;
    size_t run_bytes = 0;
    while (next_ < n && ready_[next_] && (next_ == first || run_bytes < (64u << 20))) {
      run_bytes += pending_[next_].size();
      ++next_;
    }
    const std::string* buf = &pending_[first];  // a run of one row is written from its buffer
    if (next_ - first > 1) {
      staging_.clear();
      for (size_t k = first; k < next_; ++k) staging_ += pending_[k];
      buf = &staging_;
    }
    const int64_t p0 = off[first_row_ + static_cast<int64_t>(first)];
    const int64_t p1 = off[first_row_ + static_cast<int64_t>(next_)];
    file_.write_positions(p0, p1 - p0, buf->data());
    crc_ = crc32c_extend(crc_, buf->data(), buf->size());
    n_bytes_ += buf->size();
    for (size_t k = first; k < next_; ++k) std::string().swap(pending_[k]);
    if (pending_spans_.empty()) continue;
    const size_t spans_before = shard_spans_.size();
    for (size_t k = first; k < next_; ++k) {
      shard_spans_.insert(shard_spans_.end(), pending_spans_[k].begin(), pending_spans_[k].end());
      std::vector<int64_t>().swap(pending_spans_[k]);
    }
    file_.write_spans(p0, p1 - p0, shard_spans_.data() + spans_before);
  }
}

ShardDone H5ShardWriter::finish(const std::vector<int64_t>& len_bp) {
  BEND_ASSERT(complete());
  file_.sync();
  ShardDone d;
  d.shard_id = shard_id_;
  d.n_records = static_cast<int64_t>(pending_.size());
  for (int64_t len : len_bp) d.n_bp += len;
  // The shard's checksum: its embedding bytes, then its token spans (as stored, little-endian).
  d.file_bytes = n_bytes_ + shard_spans_.size() * sizeof(int64_t);
  d.file_crc32c = crc32c_extend(crc_, shard_spans_.data(), shard_spans_.size() * sizeof(int64_t));
  return d;
}

}  // namespace bend
