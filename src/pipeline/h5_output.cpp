// `bend embed --format hdf5`: rank 0's checks of the split files, opening them on every rank,
// the writer thread's per-shard writes, and finishing (protocol in h5_output.hpp).
#include "bend/pipeline/h5_output.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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
#include "bend/pipeline/work.hpp"
#include "bend/task/bed.hpp"
#include "bend/task/labels.hpp"

namespace bend {

using nlohmann::json;

namespace {

long long ll(int64_t v) { return static_cast<long long>(v); }

enum Action { kLeave = 0, kCreate = 1, kReopen = 2 };

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
  w.put<int64_t>(L.dim);
  w.put<int32_t>(static_cast<int32_t>(L.dtype));
  w.put<int64_t>(L.shard_rows);
  w.put_vec(L.offsets);
  w.put<int64_t>(L.chunk_bytes);
  for (const std::string* s : {&L.model, &L.model_fingerprint, &L.checkpoint, &L.task, &L.params_json}) w.put_str(*s);
  w.put<uint8_t>(L.labels_float);
  w.put<uint8_t>(L.labels_ragged);
  w.put_vec(L.label_row_shape);
  w.put<int64_t>(L.n_label_values);
  w.put<int64_t>(L.label_rank);
  w.put<int64_t>(L.region_width);
  for (uint32_t c : {L.crc_offsets, L.crc_index, L.crc_region, L.crc_labels, L.crc_label_offsets, L.crc_label_shapes}) {
    w.put<uint32_t>(c);
  }
}

H5SplitLayout decode_layout(const std::string& msg) {
  ByteReader r(msg.data(), msg.size());
  H5SplitLayout L;
  L.split = r.get_str();
  L.dim = r.get<int64_t>();
  L.dtype = static_cast<DType>(r.get<int32_t>());
  L.shard_rows = r.get<int64_t>();
  L.offsets = r.get_vec<int64_t>();
  L.chunk_bytes = r.get<int64_t>();
  for (std::string* s : {&L.model, &L.model_fingerprint, &L.checkpoint, &L.task, &L.params_json}) *s = r.get_str();
  L.labels_float = r.get<uint8_t>() != 0;
  L.labels_ragged = r.get<uint8_t>() != 0;
  L.label_row_shape = r.get_vec<int64_t>();
  L.n_label_values = r.get<int64_t>();
  L.label_rank = r.get<int64_t>();
  L.region_width = r.get<int64_t>();
  for (uint32_t* c : {&L.crc_offsets, &L.crc_index, &L.crc_region, &L.crc_labels, &L.crc_label_offsets, &L.crc_label_shapes}) {
    *c = r.get<uint32_t>();
  }
  return L;
}

// The BED stem: "histone_modification" for ".../histone_modification.bed".
std::string task_name(const std::string& bed_path) {
  std::string name = bed_path.substr(bed_path.find_last_of('/') + 1);
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".bed") == 0) name.resize(name.size() - 4);
  return name;
}

}  // namespace

std::string h5_file_name(const std::string& split) { return split + ".h5"; }

// ---- rank 0: locks and checks ------------------------------------------------------------

H5Rank0Files::H5Rank0Files(const std::string& out_dir, const std::vector<ShardSpec>& shards)
    : out_dir_(out_dir), shards_(shards) {
  make_dirs(out_dir);
  for (const ShardSpec& sh : shards) {
    if (files_.empty() || files_.back().name != sh.file_name) {
      File f;
      f.name = sh.file_name;
      f.split = sh.file_name.substr(0, sh.file_name.size() - 3);
      f.path = path_join(out_dir, sh.file_name);
      f.first_shard = sh.shard_id;
      files_.push_back(f);
    }
    files_.back().n_shards += 1;
  }
  for (File& f : files_) {
    f.created_empty = !path_exists(f.path);
    f.fd = ::open(f.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (f.fd < 0) fail("cannot open %s: %s", f.path.c_str(), std::strerror(errno));
    if (::flock(f.fd, LOCK_EX | LOCK_NB) == 0) continue;
    int e = errno;
    if (e == EWOULDBLOCK) {
      fail("%s is locked by another process: another bend embed is writing it, or an HDF5 program "
           "(h5py, h5dump, ...) has it open. Wait until it has finished, or choose another --out",
           f.path.c_str());
    }
    if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) {
      log_warn("%s: the file system does not support file locks (%s); two runs on the same "
               "output would not be detected", f.path.c_str(), std::strerror(e));
      continue;
    }
    fail("cannot lock %s: %s", f.path.c_str(), std::strerror(e));
  }
}

H5Rank0Files::~H5Rank0Files() {
  for (File& f : files_) {
    f.reader.reset();
    if (f.created_empty && file_size_or_neg(f.path) == 0) ::unlink(f.path.c_str());
    if (f.fd >= 0) ::close(f.fd);
  }
}

bool H5Rank0Files::holds(const std::string& file_name) const {
  for (const File& f : files_) {
    if (f.name == file_name) return true;
  }
  return false;
}

H5Rank0Files::File* H5Rank0Files::find(const std::string& file_name) {
  for (File& f : files_) {
    if (f.name == file_name) return &f;
  }
  return nullptr;
}

// Opens the file read-only (no lock: this process holds it) and reads what decide() needs.
void H5Rank0Files::check_file(File& f) {
  if (f.checked) return;
  f.checked = true;
  if (file_size_or_neg(f.path) <= 0) return;
  try {
    f.reader = std::make_shared<H5EmbeddingReader>(f.path, false, false);
    f.params_json = f.reader->layout().params_json;
    f.complete = f.reader->complete();
    f.readable = true;
  } catch (const Error& e) {
    f.reader.reset();
    log_warn("%s: %s", f.path.c_str(), e.what());
  }
}

bool H5Rank0Files::shard_matches(const ShardEntry& e, const json& params) {
  File* f = find(e.file_name);
  if (!f) return false;
  check_file(*f);
  if (!f->readable || f->params_json != params.dump()) return false;
  const H5SplitLayout& L = f->reader->layout();
  int64_t k = e.shard_id - f->first_shard;
  int64_t first = k * L.shard_rows, end = std::min(L.n_rows(), first + L.shard_rows);
  if (k < 0 || k >= f->n_shards || first >= end || end - first != e.n_rows) return false;
  try {
    uint64_t n_bytes = 0;
    uint32_t crc = f->reader->rows_crc32c(first, end, n_bytes);
    return crc == e.file_crc32c && n_bytes == e.file_bytes;
  } catch (const Error& err) {
    log_warn("%s", err.what());
    return false;
  }
}

void H5Rank0Files::decide(const json& params, bool overwrite, bool resuming,
                          std::map<int32_t, ShardEntry>& done) {
  for (File& f : files_) {
    check_file(f);
    f.reader.reset();  // the collective open must not meet this read-only handle
    const bool empty = file_size_or_neg(f.path) <= 0;
    int n_done = 0;
    for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id) n_done += done.count(id) ? 1 : 0;
    f.action = kCreate;
    if (empty) {
    } else if (!f.readable) {
      if (!resuming && !overwrite) {
        fail("%s exists and is not a bend embeddings file written by this run; use --overwrite "
             "to replace it, or choose another --out", f.path.c_str());
      }
      log_warn("%s is not a readable bend embeddings file (killed while it was created?); "
               "writing it again", f.path.c_str());
    } else if (f.params_json != params.dump()) {
      std::string what;
      for (const std::string& d : RunManifest::diff_params(json::parse(f.params_json), params)) what += "\n  " + d;
      if (!overwrite) {
        fail("%s was written with different parameters:%s\nuse --overwrite to replace it, or "
             "choose another --out", f.path.c_str(), what.c_str());
      }
      log_warn("--overwrite: replacing %s (parameters differ:%s)", f.path.c_str(), what.c_str());
    } else if (n_done == f.n_shards && f.complete) {
      f.action = kLeave;
    } else if (n_done > 0) {
      f.action = kReopen;
    }
    if (f.action == kCreate) {
      for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id) done.erase(id);
    }
  }
}

void H5Rank0Files::reserve(const std::string& file_name, uint64_t n_bytes) {
  File* f = find(file_name);
  BEND_ASSERT(f);
  // KEEP_SIZE: the blocks are reserved but the size stays HDF5's, which sets it when it closes.
  if (::fallocate(f->fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(n_bytes)) == 0) return;
  int e = errno;
  if (e == EOPNOTSUPP || e == ENOSYS || e == EINVAL) return;  // no fallocate here: writes will tell
  if (e == ENOSPC || e == EDQUOT || e == EFBIG) {
    int64_t free_b = free_space_bytes(out_dir_);
    fail("%s: not enough disk space: the file needs %s, the file system has %s free (%s); free "
         "some space or choose another --out", f->path.c_str(), human_bytes(static_cast<double>(n_bytes)).c_str(),
         free_b < 0 ? "?" : human_bytes(static_cast<double>(free_b)).c_str(), std::strerror(e));
  }
  fail("%s: cannot reserve %s: %s", f->path.c_str(), human_bytes(static_cast<double>(n_bytes)).c_str(), std::strerror(e));
}

// ---- every rank: open and finish ---------------------------------------------------------

namespace {

// One file as rank 0 broadcasts it in step 2.
struct FilePlan {
  std::string name;
  int32_t action = kLeave, first_shard = 0, n_shards = 0;
  int64_t first_measure = 0, n_rows = 0;  // its rows in the measured list (created files)
};

// Rank 0: the files, then the fetch intervals of every row of the files to create.
std::string encode_plan(const EmbedParams& p, const H5Rank0Inputs& in) {
  std::string msg;
  ByteWriter w(msg);
  std::vector<H5Rank0Files::File>& files = in.files->files();
  w.put<uint64_t>(files.size());
  std::vector<const Region*> rows;
  for (const H5Rank0Files::File& f : files) {
    int64_t n_rows = 0;
    for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id) {
      n_rows += static_cast<int64_t>((*in.shards)[id].rows.size());
      if (f.action != kCreate) continue;
      for (int64_t r : (*in.shards)[id].rows) rows.push_back(&in.bed->rows[r]);
    }
    w.put_str(f.name);
    w.put<int32_t>(f.action);
    w.put<int32_t>(f.first_shard);
    w.put<int32_t>(f.n_shards);
    w.put<int64_t>(n_rows);
  }
  w.put<uint64_t>(in.bed->chrom_names.size());
  for (const std::string& c : in.bed->chrom_names) w.put_str(c);
  w.put<uint64_t>(rows.size());
  for (const Region* r : rows) {
    w.put<int32_t>(r->chrom_id);
    w.put<int64_t>(r->start_bp - p.flank_bp);
    w.put<int64_t>(r->end_bp + p.flank_bp);
    w.put<uint8_t>(p.read_strand && r->strand == '-');
  }
  return msg;
}

// Every rank: output lengths of its contiguous block of the measured rows (step 2).
std::string measure_block(const EmbedParams& p, const Embedder& model, ByteReader& in, int rank, int size) {
  std::vector<std::string> chroms(in.get<uint64_t>());
  for (std::string& c : chroms) c = in.get_str();
  const int64_t n = static_cast<int64_t>(in.get<uint64_t>());
  const int64_t lo = n * rank / size, hi = n * (rank + 1) / size;
  std::string out;
  ByteWriter w(out);
  if (lo == hi) return out;
  FastaReader fasta(p.genome_path);
  std::string seq;
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < hi; ++i) {
    int32_t chrom = in.get<int32_t>();
    int64_t start = in.get<int64_t>(), end = in.get<int64_t>();
    bool minus = in.get<uint8_t>() != 0;
    if (i < lo) continue;
    fasta.fetch(chroms.at(chrom), start, end, minus, seq);
    model.tokenize(seq, ids);
    w.put<int64_t>(model.output_length(static_cast<int64_t>(seq.size()), static_cast<int64_t>(ids.size())));
  }
  return out;
}

// Rank 0: the tables of a new file (index, region, labels of each row, BED order).
H5RowTables build_tables(const H5Rank0Inputs& in, const H5Rank0Files::File& f) {
  H5RowTables t;
  LabelRow label;
  for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id) {
    for (int64_t r : (*in.shards)[id].rows) {
      const Region& reg = in.bed->rows[r];
      t.index.push_back(reg.row);
      t.regions.push_back(region_string(*in.bed, reg));
      in.labels->read(reg.row, label);
      t.labels_float = label.is_float;
      t.label_ints.insert(t.label_ints.end(), label.ints.begin(), label.ints.end());
      t.label_floats.insert(t.label_floats.end(), label.floats.begin(), label.floats.end());
      t.label_shapes.push_back(label.shape);
    }
  }
  return t;
}

}  // namespace

std::unique_ptr<H5Output> H5Output::open(Comm& comm, const EmbedParams& p, const Embedder& model,
                                         const H5Rank0Inputs* r0) {
  const bool root = comm.rank() == 0;
  // 1. Rank 0 broadcasts the files and the rows to measure.
  std::string msg;
  collective_check(comm, "planning the HDF5 files", [&] {
    if (root) msg = encode_plan(p, *r0);
  });
  comm.bcast(msg, 0);
  ByteReader in(msg.data(), msg.size());
  std::vector<FilePlan> plans(in.get<uint64_t>());
  int64_t n_measure = 0;
  for (FilePlan& f : plans) {
    f.name = in.get_str();
    f.action = in.get<int32_t>();
    f.first_shard = in.get<int32_t>();
    f.n_shards = in.get<int32_t>();
    f.n_rows = in.get<int64_t>();
    f.first_measure = n_measure;
    if (f.action == kCreate) n_measure += f.n_rows;
  }
  // 2. Every rank measures a block of rows; rank 0 gathers the lengths in row order.
  std::string mine;
  collective_check(comm, "measuring output lengths", [&] { mine = measure_block(p, model, in, comm.rank(), comm.size()); });
  std::vector<std::string> all = comm.gather(mine, 0);
  std::vector<int64_t> lengths;
  for (const std::string& part : all) {
    ByteReader r(part.data(), part.size());
    while (!r.done()) lengths.push_back(r.get<int64_t>());
  }
  BEND_ASSERT(!root || static_cast<int64_t>(lengths.size()) == n_measure);
  // 3-4. File by file: rank 0 plans the layout (and tables), every rank creates or reopens.
  // One rank writes through HDF5's POSIX driver: no MPI (a solo Comm never starts it).
  const void* mpi_comm = comm.size() > 1 ? comm.native_handle() : nullptr;
  std::unique_ptr<H5Output> out(new H5Output());
  for (size_t i = 0; i < plans.size(); ++i) {
    const FilePlan& fp = plans[i];
    if (fp.action == kLeave) continue;
    const std::string path = path_join(p.out_dir, fp.name);
    H5SplitLayout layout;
    H5RowTables tables;
    std::string lmsg;
    collective_check(comm, "planning the HDF5 files", [&] {
      if (!root) return;
      H5Rank0Files::File& f = r0->files->files()[i];
      if (fp.action == kReopen) {
        layout = H5EmbeddingReader(path, false, false).layout();
      } else {
        layout.split = f.split;
        layout.dim = model.dim();
        layout.dtype = parse_dtype(p.dtype);
        layout.shard_rows = p.shard_rows;
        layout.chunk_bytes = chunk_bytes_for(p.out_dir);
        layout.offsets.assign(1, 0);
        for (int64_t k = 0; k < fp.n_rows; ++k) layout.offsets.push_back(layout.offsets.back() + lengths[fp.first_measure + k]);
        layout.model = model.name();
        layout.model_fingerprint = model.fingerprint();
        layout.checkpoint = p.model.checkpoint_dir.empty() ? "" : absolute_path(p.model.checkpoint_dir);
        layout.task = task_name(p.bed_path);
        layout.params_json = r0->params->dump();
        tables = build_tables(*r0, f);
        h5_plan_tables(tables, layout);
      }
      encode_layout(layout, lmsg);
    });
    comm.bcast(lmsg, 0);
    layout = decode_layout(lmsg);
    Open o;
    o.first_shard = fp.first_shard;
    o.n_shards = fp.n_shards;
    if (fp.action == kReopen) {
      collective_check(comm, "opening the HDF5 file to resume", [&] {
        o.writer = H5EmbeddingWriter::reopen(path, mpi_comm, layout);
      });
      if (root) log_info("resuming %s", path.c_str());
    } else {
      collective_check(comm, "creating the HDF5 file", [&] {
        o.writer = H5EmbeddingWriter::create(path, mpi_comm, layout);
      });
      collective_check(comm, "reserving disk space", [&] {
        if (root) r0->files->reserve(fp.name, o.writer->allocated_bytes());
      });
      collective_check(comm, "writing the row tables", [&] {
        if (root) o.writer->write_tables(tables);
      });
      o.writer->flush();
      if (root) {
        log_info("created %s: %lld rows, %lld positions x %lld %s", path.c_str(), ll(layout.n_rows()),
                 ll(layout.n_positions()), ll(layout.dim), dtype_name(layout.dtype));
      }
    }
    out->open_.push_back(std::move(o));
  }
  return out;
}

H5Output::~H5Output() = default;

H5EmbeddingWriter& H5Output::file_of(int32_t shard_id, int64_t& first_row) {
  for (Open& o : open_) {
    if (shard_id >= o.first_shard && shard_id < o.first_shard + o.n_shards) {
      first_row = (shard_id - o.first_shard) * o.writer->layout().shard_rows;
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
      for (int32_t id = open_[i].first_shard; id < open_[i].first_shard + open_[i].n_shards; ++id) all = all && done->count(id);
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
      for (int32_t id = o.first_shard; id < o.first_shard + o.n_shards; ++id) crcs.push_back(done->at(id).file_crc32c);
    }
    o.writer->finish(crcs, comm.rank() == 0);
  }
  open_.clear();
}

// ---- writer thread -----------------------------------------------------------------------

H5ShardWriter::H5ShardWriter(H5Output& out, const ShardWork& work, int64_t dim, DType dtype)
    : file_(out.file_of(work.shard_id, first_row_)), shard_id_(work.shard_id), dim_(dim), dtype_(dtype),
      pending_(work.rows.size()), ready_(work.rows.size(), 0) {
  for (const WorkRow& r : work.rows) bed_rows_.push_back(r.row);
}

void H5ShardWriter::add_row(int32_t pos, const std::vector<float>& emb) {
  const std::vector<int64_t>& off = file_.layout().offsets;
  const int64_t row = first_row_ + pos;
  const int64_t length = off[row + 1] - off[row];
  if (static_cast<int64_t>(emb.size()) != length * dim_) {
    fail("%s: BED row %lld: the model returned %zu values, but %lld positions x dim %lld were "
         "planned from its output_length()", file_.path().c_str(), ll(bed_rows_[pos]), emb.size(),
         ll(length), ll(dim_));
  }
  std::string& raw = pending_[pos];
  raw.resize(emb.size() * dtype_size(dtype_));
  encode_floats(emb.data(), emb.size(), dtype_, &raw[0]);
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
  }
}

ShardDone H5ShardWriter::finish(const std::vector<int64_t>& len_bp) {
  BEND_ASSERT(complete());
  file_.sync();
  ShardDone d;
  d.shard_id = shard_id_;
  d.n_records = static_cast<int64_t>(pending_.size());
  for (int64_t len : len_bp) d.n_bp += len;
  d.file_bytes = n_bytes_;
  d.file_crc32c = crc_;
  return d;
}

}  // namespace bend
