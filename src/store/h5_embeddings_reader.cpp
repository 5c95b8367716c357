// Serial reading and verification of a split's HDF5 embedding file (see h5_embeddings.hpp).
#include <algorithm>
#include <cstring>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/library_lock.hpp"
#include "bend/store/h5_embeddings.hpp"
#include "h5_common.hpp"

namespace bend {
namespace {

using h5::Id;

long long ll(int64_t v) {
  return static_cast<long long>(v);
}

// Shape of a dataset.
std::vector<hsize_t> dims_of(hid_t d) {
  Id space(H5Dget_space(d));
  int rank = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

// The whole dataset `name` as stored (its own file type as memory type: raw bytes).
std::string read_raw(hid_t file, const char* name, const std::string& path) {
  Id d(H5Dopen2(file, name, H5P_DEFAULT));
  if (!d.ok()) h5::fail_h5(path, strfmt("no dataset '%s' (not a bend embeddings file?)", name));
  Id type(H5Dget_type(d.get()));
  size_t n = H5Tget_size(type.get());
  for (hsize_t x : dims_of(d.get())) n *= static_cast<size_t>(x);
  std::string out(n, '\0');
  if (n > 0)
    h5::check(H5Dread(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &out[0]), path,
              strfmt("reading %s", name));
  return out;
}

std::vector<int64_t> read_i64(hid_t file, const char* name, const std::string& path,
                              std::vector<hsize_t>* dims_out = nullptr) {
  Id d(H5Dopen2(file, name, H5P_DEFAULT));
  if (!d.ok()) h5::fail_h5(path, strfmt("no dataset '%s' (not a bend embeddings file?)", name));
  std::vector<hsize_t> dims = dims_of(d.get());
  size_t n = 1;
  for (hsize_t x : dims) n *= static_cast<size_t>(x);
  std::vector<int64_t> out(n);
  if (n > 0)
    h5::check(H5Dread(d.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), path,
              strfmt("reading %s", name));
  if (dims_out) *dims_out = dims;
  return out;
}

uint32_t dataset_crc_attr(hid_t file, const char* name, const std::string& path) {
  Id d(H5Dopen2(file, name, H5P_DEFAULT));
  if (!d.ok()) h5::fail_h5(path, strfmt("no dataset '%s'", name));
  Id a(H5Aopen(d.get(), "crc32c", H5P_DEFAULT));
  uint32_t v = 0;
  if (!a.ok() || H5Aread(a.get(), H5T_NATIVE_UINT32, &v) < 0)
    h5::fail_h5(path, strfmt("reading %s/crc32c", name));
  return v;
}

}  // namespace

H5EmbeddingReader::H5EmbeddingReader(const std::string& path, bool require_complete, bool locking)
    : path_(path) {
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  Id fapl(H5Pcreate(H5P_FILE_ACCESS));
  if (!fapl.ok() || H5Pset_file_locking(fapl.get(), locking ? 1 : 0, 1) < 0)
    h5::fail_h5(path, "file access list");
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  if (!file.ok()) {
    std::string err = h5::error_text();
    if (err.find("unable to lock") != std::string::npos) {
      fail(
          "%s is locked: bend embed or genome (or another HDF5 program) is writing it; wait "
          "until it has finished (%s)",
          path.c_str(), err.c_str());
    }
    fail("%s: cannot open as HDF5: %s", path.c_str(), err.c_str());
  }
  file_ = file.release();
  try {
    read_layout();
    if (require_complete && !complete_) {
      fail(
          "%s is not complete (bend %s has not finished it: rerun the same bend %s command to "
          "resume)",
          path.c_str(), layout_.command.c_str(), layout_.command.c_str());
    }
  } catch (...) {
    close_all();  // no destructor runs for a throwing constructor; HDF5 must not keep the file
    throw;
  }
}

H5EmbeddingReader::~H5EmbeddingReader() {
  LibraryLock lock(library_mutex());
  close_all();
}

void H5EmbeddingReader::close_all() {
  if (file_type_ >= 0) H5Tclose(file_type_);
  if (embeddings_ >= 0) H5Dclose(embeddings_);
  if (spans_ >= 0) H5Dclose(spans_);
  if (file_ >= 0) H5Fclose(file_);
  file_type_ = embeddings_ = spans_ = file_ = -1;
}

void H5EmbeddingReader::read_layout() {
  const std::string& p = path_;
  if (!h5::has_attr(file_, "format") || h5::read_attr_str(file_, "format", p) != h5::kFormat) {
    fail("%s: not a bend embeddings file (no format attribute \"%s\")", p.c_str(), h5::kFormat);
  }
  H5SplitLayout& L = layout_;
  L.command = h5::has_attr(file_, "command") ? h5::read_attr_str(file_, "command", p) : "embed";
  L.split = h5::read_attr_str(file_, "split", p);
  L.model = h5::read_attr_str(file_, "model", p);
  L.model_fingerprint = h5::read_attr_str(file_, "model_fingerprint", p);
  L.checkpoint = h5::read_attr_str(file_, "checkpoint", p);
  L.task = h5::read_attr_str(file_, "task", p);
  L.params_json = h5::read_attr_str(file_, "params", p);
  L.dtype = parse_dtype(h5::read_attr_str(file_, "dtype", p));
  L.dim = h5::read_attr_i64(file_, "dim", p);
  L.shard_rows = h5::read_attr_i64(file_, "shard_rows", p);
  complete_ = h5::has_attr(file_, "complete") && h5::read_attr_i64(file_, "complete", p) == 1;
  format_version_ = h5::has_attr(file_, "version") ? h5::read_attr_i64(file_, "version", p) : 0;
  L.offsets = read_i64(file_, h5::kOffsets, p);
  index_ = read_i64(file_, h5::kIndex, p);
  const int64_t n = L.n_rows();
  if (L.offsets.empty() || static_cast<int64_t>(index_.size()) != n || L.dim <= 0) {
    fail("%s: inconsistent tables: %zu offsets, %zu index entries, dim %lld", p.c_str(),
         L.offsets.size(), index_.size(), ll(L.dim));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (L.offsets[i + 1] < L.offsets[i]) fail("%s: offsets decrease at row %lld", p.c_str(), ll(i));
  }
  std::string region = read_raw(file_, h5::kRegion, p);
  region_len_ = n > 0 ? region.size() / static_cast<size_t>(n) : 1;
  L.region_width = static_cast<int64_t>(region_len_);
  regions_.assign(region.begin(), region.end());
  embeddings_ = H5Dopen2(file_, h5::kEmbeddings, H5P_DEFAULT);
  if (embeddings_ < 0) h5::fail_h5(p, "no dataset 'embeddings'");
  file_type_ = H5Dget_type(embeddings_);
  std::vector<hsize_t> dims = dims_of(embeddings_);
  if (dims.size() != 2 || static_cast<int64_t>(dims[0]) != L.n_positions() ||
      static_cast<int64_t>(dims[1]) != L.dim || H5Tget_size(file_type_) != dtype_size(L.dtype)) {
    fail("%s: embeddings dataset does not match offsets (last %lld), dim %lld and dtype %s",
         p.c_str(), ll(L.n_positions()), ll(L.dim), dtype_name(L.dtype));
  }
  read_labels_layout();
  read_genome_layout();
  L.crc_offsets = dataset_crc_attr(file_, h5::kOffsets, p);
  L.crc_index = dataset_crc_attr(file_, h5::kIndex, p);
  L.crc_region = dataset_crc_attr(file_, h5::kRegion, p);
  L.crc_labels = dataset_crc_attr(file_, h5::kLabels, p);
  if (labels_ragged_) {
    L.crc_label_offsets = dataset_crc_attr(file_, h5::kLabelOffsets, p);
    L.crc_label_shapes = dataset_crc_attr(file_, h5::kLabelShapes, p);
  }
}

// Shard offsets, token spans and bend genome's coordinates, where the file has them.
void H5EmbeddingReader::read_genome_layout() {
  H5SplitLayout& L = layout_;
  const std::string& p = path_;
  const int64_t n = L.n_rows();
  if (H5Lexists(file_, h5::kShardOffsets, H5P_DEFAULT) > 0) {
    L.shard_offsets = read_i64(file_, h5::kShardOffsets, p);
    const std::vector<int64_t>& so = L.shard_offsets;
    bool ok = !so.empty() && so.front() == 0 && so.back() == n;
    for (size_t k = 1; ok && k < so.size(); ++k) ok = so[k] >= so[k - 1];
    if (!ok) fail("%s: shard_offsets do not cover rows 0..%lld in order", p.c_str(), ll(n));
    L.crc_shard_offsets = dataset_crc_attr(file_, h5::kShardOffsets, p);
  }
  L.token_spans = H5Lexists(file_, h5::kTokenSpans, H5P_DEFAULT) > 0;
  if (L.token_spans) {
    spans_ = H5Dopen2(file_, h5::kTokenSpans, H5P_DEFAULT);
    if (spans_ < 0) h5::fail_h5(p, "opening dataset token_spans");
    std::vector<hsize_t> dims = dims_of(spans_);
    if (dims.size() != 2 || static_cast<int64_t>(dims[0]) != L.n_positions() || dims[1] != 2) {
      fail("%s: token_spans is not [%lld, 2] like the embeddings", p.c_str(), ll(L.n_positions()));
    }
  }
  L.coords = H5Lexists(file_, h5::kChrom, H5P_DEFAULT) > 0;
  if (!L.coords) return;
  std::string chrom = read_raw(file_, h5::kChrom, p);
  L.chrom_width = n > 0 ? static_cast<int64_t>(chrom.size()) / n : 1;
  chroms_.assign(chrom.begin(), chrom.end());
  start_ = read_i64(file_, h5::kStart, p);
  end_ = read_i64(file_, h5::kEnd, p);
  L.has_bin_bp = H5Lexists(file_, h5::kBinBp, H5P_DEFAULT) > 0;
  if (L.has_bin_bp) bin_bp_ = read_i64(file_, h5::kBinBp, p);
  if (static_cast<int64_t>(start_.size()) != n || static_cast<int64_t>(end_.size()) != n ||
      (L.has_bin_bp && static_cast<int64_t>(bin_bp_.size()) != n)) {
    fail("%s: start/end/bin_bp do not have %lld rows", p.c_str(), ll(n));
  }
  L.crc_chrom = dataset_crc_attr(file_, h5::kChrom, p);
  L.crc_start = dataset_crc_attr(file_, h5::kStart, p);
  L.crc_end = dataset_crc_attr(file_, h5::kEnd, p);
  if (L.has_bin_bp) L.crc_bin_bp = dataset_crc_attr(file_, h5::kBinBp, p);
}

void H5EmbeddingReader::read_labels_layout() {
  H5SplitLayout& L = layout_;
  labels_ragged_ = H5Lexists(file_, h5::kLabelOffsets, H5P_DEFAULT) > 0;
  Id d(H5Dopen2(file_, h5::kLabels, H5P_DEFAULT));
  if (!d.ok()) h5::fail_h5(path_, "no dataset 'labels'");
  Id type(H5Dget_type(d.get()));
  labels_float_ = H5Tget_class(type.get()) == H5T_FLOAT;
  std::vector<hsize_t> dims = dims_of(d.get());
  L.labels_float = labels_float_;
  L.labels_ragged = labels_ragged_;
  if (labels_ragged_) {
    label_offsets_ = read_i64(file_, h5::kLabelOffsets, path_);
    std::vector<hsize_t> sdims;
    label_shapes_ = read_i64(file_, h5::kLabelShapes, path_, &sdims);
    label_rank_ = sdims.size() == 2 ? static_cast<int64_t>(sdims[1]) : 0;
    L.label_rank = label_rank_;
    L.n_label_values = dims.empty() ? 0 : static_cast<int64_t>(dims[0]);
    if (static_cast<int64_t>(label_offsets_.size()) != L.n_rows() + 1 ||
        label_offsets_.back() != L.n_label_values) {
      fail("%s: label_offsets do not match labels (%lld values)", path_.c_str(),
           ll(L.n_label_values));
    }
  } else {
    if (dims.empty() || static_cast<int64_t>(dims[0]) != L.n_rows()) {
      fail("%s: labels have %llu rows, the file %lld", path_.c_str(),
           dims.empty() ? 0ull : (unsigned long long)dims[0], ll(L.n_rows()));
    }
    label_row_shape_.assign(dims.begin() + 1, dims.end());
    L.label_row_shape = label_row_shape_;
  }
}

void H5EmbeddingReader::read_positions(int64_t first_pos, int64_t n_pos, std::string& out) {
  const H5SplitLayout& L = layout_;
  if (first_pos < 0 || n_pos < 0 || first_pos + n_pos > L.n_positions()) {
    fail("%s: positions %lld..%lld outside 0..%lld", path_.c_str(), ll(first_pos),
         ll(first_pos + n_pos), ll(L.n_positions()));
  }
  out.resize(static_cast<size_t>(n_pos * L.dim) * dtype_size(L.dtype));
  if (n_pos == 0) return;
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  if (!h5::transfer_rows(embeddings_, file_type_, H5P_DEFAULT, first_pos, n_pos, L.dim, &out[0],
                         false)) {
    h5::fail_h5(path_, strfmt("reading embeddings positions %lld..%lld", ll(first_pos),
                              ll(first_pos + n_pos)));
  }
}

void H5EmbeddingReader::read_row_embedding(int64_t row, std::string& out) {
  if (row < 0 || row >= layout_.n_rows())
    fail("%s: no row %lld (%lld rows)", path_.c_str(), ll(row), ll(layout_.n_rows()));
  read_positions(layout_.offsets[row], layout_.offsets[row + 1] - layout_.offsets[row], out);
}

void H5EmbeddingReader::read_row(int64_t row, H5Row& out) {
  if (row < 0 || row >= layout_.n_rows())
    fail("%s: no row %lld (%lld rows)", path_.c_str(), ll(row), ll(layout_.n_rows()));
  out.index = index_[row];
  const char* r = &regions_[static_cast<size_t>(row) * region_len_];
  out.region.assign(r, strnlen(r, region_len_));
  if (layout_.coords) {
    const size_t w = static_cast<size_t>(layout_.chrom_width);
    out.chrom.assign(&chroms_[static_cast<size_t>(row) * w],
                     strnlen(&chroms_[static_cast<size_t>(row) * w], w));
    out.start_bp = start_[row];
    out.end_bp = end_[row];
    out.bin_bp = layout_.has_bin_bp ? bin_bp_[row] : 0;
  }
  out.labels_float = labels_float_;
  int64_t first = 0, count = 1;
  if (labels_ragged_) {
    first = label_offsets_[row];
    count = label_offsets_[row + 1] - first;
    out.label_shape.assign(label_shapes_.begin() + row * label_rank_,
                           label_shapes_.begin() + (row + 1) * label_rank_);
  } else {
    out.label_shape = label_row_shape_;
    for (int64_t d : label_row_shape_) count *= d;
    first = row * count;
  }
  out.label_ints.clear();
  out.label_floats.clear();
  if (labels_float_)
    out.label_floats.resize(static_cast<size_t>(count));
  else
    out.label_ints.resize(static_cast<size_t>(count));
  if (count == 0) return;
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  Id d(H5Dopen2(file_, h5::kLabels, H5P_DEFAULT));
  Id fspace(d.ok() ? H5Dget_space(d.get()) : -1);
  // Labels are row-major: a row is a contiguous run of the flattened dataset.
  int rank = fspace.ok() ? H5Sget_simple_extent_ndims(fspace.get()) : -1;
  std::vector<hsize_t> start(static_cast<size_t>(std::max(rank, 1)), 0), cnt(start.size(), 1);
  if (labels_ragged_) {
    start[0] = static_cast<hsize_t>(first);
    cnt[0] = static_cast<hsize_t>(count);
  } else {
    start[0] = static_cast<hsize_t>(row);
    for (size_t i = 1; i < cnt.size(); ++i) cnt[i] = static_cast<hsize_t>(label_row_shape_[i - 1]);
  }
  Id mspace(H5Screate_simple(static_cast<int>(cnt.size()), cnt.data(), nullptr));
  void* dst = labels_float_ ? static_cast<void*>(out.label_floats.data())
                            : static_cast<void*>(out.label_ints.data());
  if (!fspace.ok() ||
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, cnt.data(),
                          nullptr) < 0 ||
      H5Dread(d.get(), labels_float_ ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64, mspace.get(),
              fspace.get(), H5P_DEFAULT, dst) < 0) {
    h5::fail_h5(path_, strfmt("reading labels of row %lld", ll(row)));
  }
}

// Reads int64 pairs [first_pos, first_pos + n_pos) of token_spans into out ([n_pos * 2]).
void H5EmbeddingReader::read_spans(int64_t first_pos, int64_t n_pos, std::vector<int64_t>& out) {
  if (!layout_.token_spans) fail("%s has no token_spans (not token-level output)", path_.c_str());
  out.resize(static_cast<size_t>(n_pos) * 2);
  if (n_pos == 0) return;
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  if (!h5::transfer_rows(spans_, H5T_NATIVE_INT64, H5P_DEFAULT, first_pos, n_pos, 2, out.data(),
                         false)) {
    h5::fail_h5(path_,
                strfmt("reading token_spans %lld..%lld", ll(first_pos), ll(first_pos + n_pos)));
  }
}

void H5EmbeddingReader::read_row_spans(int64_t row, std::vector<int64_t>& out) {
  if (row < 0 || row >= layout_.n_rows())
    fail("%s: no row %lld (%lld rows)", path_.c_str(), ll(row), ll(layout_.n_rows()));
  read_spans(layout_.offsets[row], layout_.offsets[row + 1] - layout_.offsets[row], out);
}

uint32_t H5EmbeddingReader::rows_crc32c(int64_t first_row, int64_t end_row, uint64_t& n_bytes) {
  const std::vector<int64_t>& off = layout_.offsets;
  uint32_t crc = 0;
  n_bytes = 0;
  const int64_t row_bytes = layout_.dim * static_cast<int64_t>(dtype_size(layout_.dtype));
  const int64_t step = std::max<int64_t>(1, (16 << 20) / row_bytes);
  std::string buf;
  for (int64_t pos = off[first_row]; pos < off[end_row]; pos += step) {
    int64_t n = std::min(step, off[end_row] - pos);
    read_positions(pos, n, buf);
    crc = crc32c_extend(crc, buf.data(), buf.size());
    n_bytes += buf.size();
  }
  if (!layout_.token_spans) return crc;
  std::vector<int64_t> spans;
  for (int64_t pos = off[first_row]; pos < off[end_row]; pos += 1 << 20) {
    int64_t n = std::min<int64_t>(1 << 20, off[end_row] - pos);
    read_spans(pos, n, spans);
    crc = crc32c_extend(crc, spans.data(), spans.size() * sizeof(int64_t));
    n_bytes += spans.size() * sizeof(int64_t);
  }
  return crc;
}

std::vector<uint32_t> H5EmbeddingReader::shard_crc32c() {
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  std::string raw = read_raw(file_, h5::kShardCrc, path_);
  std::vector<uint32_t> out(raw.size() / 4);
  std::memcpy(out.data(), raw.data(), out.size() * 4);
  return out;
}

uint32_t H5EmbeddingReader::table_crc(const char* name) {
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  std::string raw = read_raw(file_, name, path_);
  return crc32c(raw.data(), raw.size());
}

void H5EmbeddingReader::verify() {
  if (!complete_)
    fail("%s is not complete: bend %s has not finished it", path_.c_str(), layout_.command.c_str());
  struct Table {
    const char* name;
    uint32_t want;
  };
  std::vector<Table> tables{{h5::kOffsets, layout_.crc_offsets},
                            {h5::kIndex, layout_.crc_index},
                            {h5::kRegion, layout_.crc_region},
                            {h5::kLabels, layout_.crc_labels}};
  if (labels_ragged_) {
    tables.push_back({h5::kLabelOffsets, layout_.crc_label_offsets});
    tables.push_back({h5::kLabelShapes, layout_.crc_label_shapes});
  }
  if (!layout_.shard_offsets.empty())
    tables.push_back({h5::kShardOffsets, layout_.crc_shard_offsets});
  if (layout_.coords) {
    tables.push_back({h5::kChrom, layout_.crc_chrom});
    tables.push_back({h5::kStart, layout_.crc_start});
    tables.push_back({h5::kEnd, layout_.crc_end});
    if (layout_.has_bin_bp) tables.push_back({h5::kBinBp, layout_.crc_bin_bp});
  }
  for (const Table& t : tables) {
    uint32_t got = table_crc(t.name);
    if (got != t.want) {
      fail("%s: dataset %s: CRC32C %08x, its crc32c attribute says %08x (corrupt)", path_.c_str(),
           t.name, got, t.want);
    }
  }
  std::vector<uint32_t> want = shard_crc32c();
  if (static_cast<int64_t>(want.size()) != layout_.n_shards()) {
    fail("%s: %zu shard checksums for %lld shards", path_.c_str(), want.size(),
         ll(layout_.n_shards()));
  }
  for (int64_t k = 0; k < layout_.n_shards(); ++k) {
    int64_t first = layout_.shard_first_row(k), end = layout_.shard_end_row(k);
    uint64_t n_bytes = 0;
    uint32_t got = rows_crc32c(first, end, n_bytes);
    if (got != want[k]) {
      fail(
          "%s: shard %lld (rows %lld..%lld, positions %lld..%lld): embeddings CRC32C %08x, "
          "shard_crc32c says %08x (corrupt)",
          path_.c_str(), ll(k), ll(first), ll(end), ll(layout_.offsets[first]),
          ll(layout_.offsets[end]), got, want[k]);
    }
  }
}

}  // namespace bend
