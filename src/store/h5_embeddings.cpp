// Parallel writing of one split's HDF5 embedding file (see h5_embeddings.hpp), and the helpers
// the reader shares (h5_common.hpp). Collective calls run on every rank in the same order with
// the same arguments, as parallel HDF5 requires; rows are written independently.
#include "bend/store/h5_embeddings.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/library_lock.hpp"
#include "h5_common.hpp"

namespace bend {
namespace h5 {

// ---- helpers shared with the reader ------------------------------------------------------

void Id::reset(hid_t id) {
  if (id_ >= 0) {
    switch (H5Iget_type(id_)) {
      case H5I_FILE:
        H5Fclose(id_);
        break;
      case H5I_DATASET:
        H5Dclose(id_);
        break;
      case H5I_DATASPACE:
        H5Sclose(id_);
        break;
      case H5I_DATATYPE:
        H5Tclose(id_);
        break;
      case H5I_GENPROP_LST:
        H5Pclose(id_);
        break;
      case H5I_ATTR:
        H5Aclose(id_);
        break;
      case H5I_GROUP:
        H5Gclose(id_);
        break;
      default:
        break;
    }
  }
  id_ = id;
}

Quiet::Quiet() {
  saved_ = H5Eget_auto2(H5E_DEFAULT, &func_, &data_) >= 0;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Quiet::~Quiet() {
  if (saved_) H5Eset_auto2(H5E_DEFAULT, func_, data_);
}

static herr_t collect_error(unsigned n, const H5E_error2_t* e, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  if (e->desc && *e->desc) out->push_back(e->desc);
  return 0;
}

bool transfer_rows(hid_t dset, hid_t mem_type, hid_t dxpl, int64_t first_row, int64_t n_rows,
                   int64_t n_cols, void* buf, bool write) {
  hsize_t start[2] = {static_cast<hsize_t>(first_row), 0};
  hsize_t count[2] = {static_cast<hsize_t>(n_rows), static_cast<hsize_t>(n_cols)};
  Id fspace(H5Dget_space(dset));
  Id mspace(H5Screate_simple(2, count, nullptr));  // the selection's shape: no per-element mapping
  if (!fspace.ok() || !mspace.ok() ||
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start, nullptr, count, nullptr) < 0) {
    return false;
  }
  herr_t rc = write ? H5Dwrite(dset, mem_type, mspace.get(), fspace.get(), dxpl, buf)
                    : H5Dread(dset, mem_type, mspace.get(), fspace.get(), dxpl, buf);
  return rc >= 0;
}

std::string error_text() {
  std::vector<std::string> msgs;  // innermost first
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &msgs);
  H5Eclear2(H5E_DEFAULT);
  std::string out;
  int n = 0;
  for (const std::string& m : msgs) {
    if (out.find(m) != std::string::npos) continue;
    out += (out.empty() ? "" : "; ") + m;
    if (++n == 3) break;
  }
  return out.empty() ? "unknown HDF5 error" : out;
}

void fail_h5(const std::string& path, const std::string& what) {
  std::string err = error_text();
  fail("%s: %s: %s", path.c_str(), what.c_str(), err.c_str());
}

hid_t stored_type(DType dt) {
  switch (dt) {
    case DType::kFloat32:
      return H5Tcopy(H5T_IEEE_F32LE);
    case DType::kBFloat16:
      return H5Tcopy(H5T_STD_U16LE);
    case DType::kFloat16: {
      hid_t t = H5Tcopy(H5T_IEEE_F32LE);  // IEEE binary16, the recipe h5py uses for '<f2'
      if (t < 0 || H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
          H5Tset_ebias(t, 15) < 0) {
        if (t >= 0) H5Tclose(t);
        return -1;
      }
      return t;
    }
  }
  return -1;
}

size_t region_width(const std::vector<std::string>& regions) {
  size_t w = 1;
  for (const std::string& r : regions) w = std::max(w, r.size());
  return w;
}

std::string pack_strings(const std::vector<std::string>& strings, int64_t width) {
  std::string out(strings.size() * static_cast<size_t>(width), '\0');
  for (size_t i = 0; i < strings.size(); ++i)
    std::memcpy(&out[i * width], strings[i].data(), strings[i].size());
  return out;
}

hid_t string_type(size_t n_bytes) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, n_bytes) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
      H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

static void write_attr(hid_t loc, const char* name, hid_t type, const void* value,
                       const std::string& path) {
  if (H5Aexists(loc, name) > 0)
    check(H5Adelete(loc, name), path, strfmt("replacing attribute %s", name));
  Id space(H5Screate(H5S_SCALAR));
  Id attr(H5Acreate2(loc, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.ok()) fail_h5(path, strfmt("creating attribute %s", name));
  check(H5Awrite(attr.get(), type, value), path, strfmt("writing attribute %s", name));
}

// Variable-length UTF-8: what h5py and netCDF write for Python str, and read back as str.
static hid_t vlen_string_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

void write_attr_str(hid_t loc, const char* name, const std::string& value,
                    const std::string& path) {
  Id type(vlen_string_type());
  if (!type.ok()) fail_h5(path, strfmt("string type of attribute %s", name));
  const char* v = value.c_str();
  write_attr(loc, name, type.get(), &v, path);
}

void write_attr_i64(hid_t loc, const char* name, int64_t value, const std::string& path) {
  write_attr(loc, name, H5T_STD_I64LE, &value, path);
}

void write_attr_u32(hid_t loc, const char* name, uint32_t value, const std::string& path) {
  write_attr(loc, name, H5T_STD_U32LE, &value, path);
}

void set_attr_i64(hid_t loc, const char* name, int64_t value, const std::string& path) {
  if (!has_attr(loc, name)) return write_attr_i64(loc, name, value, path);
  Id attr(H5Aopen(loc, name, H5P_DEFAULT));
  if (!attr.ok() || H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) < 0)
    fail_h5(path, strfmt("writing attribute %s", name));
}

bool has_attr(hid_t loc, const char* name) {
  return H5Aexists(loc, name) > 0;
}

std::string read_attr_str(hid_t loc, const char* name, const std::string& path) {
  Id attr(H5Aopen(loc, name, H5P_DEFAULT));
  if (!attr.ok()) fail_h5(path, strfmt("no attribute '%s' (not a bend embeddings file?)", name));
  Id type(H5Aget_type(attr.get()));
  if (H5Tget_class(type.get()) != H5T_STRING) {
    fail("%s: attribute '%s' is not a string", path.c_str(), name);
  }
  if (H5Tis_variable_str(type.get()) > 0) {  // format version 2
    Id mem(vlen_string_type());
    Id space(H5Aget_space(attr.get()));
    if (H5Sget_simple_extent_npoints(space.get()) != 1)
      fail("%s: attribute '%s' is not a single string", path.c_str(), name);
    char* p = nullptr;
    check(H5Aread(attr.get(), mem.get(), &p), path, strfmt("reading attribute %s", name));
    std::string v = p ? p : "";
    if (p) H5free_memory(p);
    return v;
  }
  size_t n = H5Tget_size(type.get());  // version 1: fixed-length, NUL-padded
  std::string v(n, '\0');
  check(H5Aread(attr.get(), type.get(), &v[0]), path, strfmt("reading attribute %s", name));
  v.resize(std::strlen(v.c_str()));
  return v;
}

int64_t read_attr_i64(hid_t loc, const char* name, const std::string& path) {
  Id attr(H5Aopen(loc, name, H5P_DEFAULT));
  if (!attr.ok()) fail_h5(path, strfmt("no attribute '%s' (not a bend embeddings file?)", name));
  int64_t v = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), path, strfmt("reading attribute %s", name));
  return v;
}

}  // namespace h5

// ---- planning the tables -----------------------------------------------------------------

namespace {

// The bend genome part of h5_plan_tables: `chrom`, `start`, `end`, `bin_bp`.
void plan_coords(const H5RowTables& t, H5SplitLayout& L) {
  const size_t n = static_cast<size_t>(L.n_rows());
  L.coords = !t.chroms.empty();
  L.has_bin_bp = !t.bin_bp.empty();
  if (!L.coords) return;
  if (t.chroms.size() != n || t.start_bp.size() != n || t.end_bp.size() != n ||
      (L.has_bin_bp && t.bin_bp.size() != n)) {
    fail("HDF5 %s: coordinate tables of %zu/%zu/%zu/%zu rows for a file of %zu rows",
         L.split.c_str(), t.chroms.size(), t.start_bp.size(), t.end_bp.size(), t.bin_bp.size(), n);
  }
  L.chrom_width = static_cast<int64_t>(h5::region_width(t.chroms));
  const std::string chrom = h5::pack_strings(t.chroms, L.chrom_width);
  L.crc_chrom = crc32c(chrom.data(), chrom.size());
  L.crc_start = crc32c(t.start_bp.data(), n * sizeof(int64_t));
  L.crc_end = crc32c(t.end_bp.data(), n * sizeof(int64_t));
  L.crc_bin_bp = crc32c(t.bin_bp.data(), t.bin_bp.size() * sizeof(int64_t));
}

}  // namespace

void h5_plan_tables(const H5RowTables& t, H5SplitLayout& L) {
  const int64_t n = L.n_rows();
  if (static_cast<int64_t>(t.index.size()) != n || static_cast<int64_t>(t.regions.size()) != n ||
      static_cast<int64_t>(t.label_shapes.size()) != n) {
    fail("HDF5 %s: tables of %zu/%zu/%zu rows for a split of %lld rows", L.split.c_str(),
         t.index.size(), t.regions.size(), t.label_shapes.size(), static_cast<long long>(n));
  }
  L.labels_float = t.labels_float;
  L.labels_ragged = false;
  L.label_row_shape = n > 0 ? t.label_shapes[0] : std::vector<int64_t>{0};
  for (int64_t i = 1; i < n; ++i) {
    if (t.label_shapes[i].size() != L.label_row_shape.size()) {
      fail("HDF5 %s: labels of row %lld have %zu dimensions, row 0 has %zu", L.split.c_str(),
           static_cast<long long>(i), t.label_shapes[i].size(), L.label_row_shape.size());
    }
    if (t.label_shapes[i] != L.label_row_shape) L.labels_ragged = true;
  }
  L.label_rank = static_cast<int64_t>(L.label_row_shape.size());
  L.n_label_values =
      static_cast<int64_t>(t.labels_float ? t.label_floats.size() : t.label_ints.size());
  std::vector<int64_t> label_offsets(1, 0), label_shapes;
  for (const auto& shape : t.label_shapes) {
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    label_offsets.push_back(label_offsets.back() + count);
    label_shapes.insert(label_shapes.end(), shape.begin(), shape.end());
  }
  if (label_offsets.back() != L.n_label_values) {
    fail("HDF5 %s: %lld label values for label shapes that hold %lld", L.split.c_str(),
         static_cast<long long>(L.n_label_values), static_cast<long long>(label_offsets.back()));
  }
  L.region_width = static_cast<int64_t>(h5::region_width(t.regions));
  const std::string region = h5::pack_strings(t.regions, L.region_width);
  L.crc_offsets = crc32c(L.offsets.data(), L.offsets.size() * sizeof(int64_t));
  L.crc_index = crc32c(t.index.data(), t.index.size() * sizeof(int64_t));
  L.crc_region = crc32c(region.data(), region.size());
  L.crc_labels = t.labels_float
                     ? crc32c(t.label_floats.data(), t.label_floats.size() * sizeof(float))
                     : crc32c(t.label_ints.data(), t.label_ints.size() * sizeof(int64_t));
  L.crc_label_offsets =
      L.labels_ragged ? crc32c(label_offsets.data(), label_offsets.size() * sizeof(int64_t)) : 0;
  L.crc_label_shapes =
      L.labels_ragged ? crc32c(label_shapes.data(), label_shapes.size() * sizeof(int64_t)) : 0;
  L.crc_shard_offsets = crc32c(L.shard_offsets.data(), L.shard_offsets.size() * sizeof(int64_t));
  plan_coords(t, L);
}

// ---- writer ------------------------------------------------------------------------------

namespace {

using h5::Id;

// A file access list for MPI-IO over `comm` or, without one, HDF5's POSIX driver without its
// own lock (the caller holds the file's lock) and without its raw-data sieve buffer (rows go
// to the file at once, so fdatasync makes them durable); objects of >= half a chunk are
// chunk-aligned.
hid_t mpio_fapl(const void* mpi_comm, int64_t chunk_bytes) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return fapl;
  herr_t rc = mpi_comm
                  ? H5Pset_fapl_mpio(fapl, *static_cast<const MPI_Comm*>(mpi_comm), MPI_INFO_NULL)
                  : std::min(H5Pset_file_locking(fapl, 0, 1), H5Pset_sieve_buf_size(fapl, 0));
  if (rc < 0 || H5Pset_alignment(fapl, static_cast<hsize_t>(chunk_bytes / 2),
                                 static_cast<hsize_t>(chunk_bytes)) < 0) {
    H5Pclose(fapl);
    return -1;
  }
  return fapl;
}

// Creates a dataset with early allocation, no fill, no timestamps (files are reproducible).
hid_t create_dataset(hid_t file, const char* name, hid_t type, const std::vector<hsize_t>& dims,
                     const std::vector<hsize_t>* chunk, const std::string& path) {
  Id space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (!space.ok() || !dcpl.ok() || H5Pset_obj_track_times(dcpl.get(), 0) < 0 ||
      H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER) < 0 ||
      H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY) < 0 ||
      (chunk && H5Pset_chunk(dcpl.get(), static_cast<int>(chunk->size()), chunk->data()) < 0)) {
    h5::fail_h5(path, strfmt("preparing dataset %s", name));
  }
  hid_t d = H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT);
  if (d < 0) h5::fail_h5(path, strfmt("creating dataset %s", name));
  return d;
}

void create_table(hid_t file, const char* name, hid_t type, const std::vector<hsize_t>& dims,
                  uint32_t crc, const std::string& path) {
  Id d(create_dataset(file, name, type, dims, nullptr, path));
  h5::write_attr_u32(d.get(), "crc32c", crc, path);
}

void write_root_attrs(hid_t file, const H5SplitLayout& L, const std::string& path) {
  h5::write_attr_str(file, "format", h5::kFormat, path);
  h5::write_attr_i64(file, "version", H5EmbeddingWriter::kFormatVersion, path);
  h5::write_attr_str(file, "command", L.command, path);
  h5::write_attr_str(file, "split", L.split, path);
  h5::write_attr_str(file, "model", L.model, path);
  h5::write_attr_str(file, "model_fingerprint", L.model_fingerprint, path);
  h5::write_attr_str(file, "checkpoint", L.checkpoint, path);
  h5::write_attr_str(file, "task", L.task, path);
  h5::write_attr_str(file, "params", L.params_json, path);
  h5::write_attr_str(file, "dtype", dtype_name(L.dtype), path);
  h5::write_attr_i64(file, "dim", L.dim, path);
  h5::write_attr_i64(file, "shard_rows", L.shard_rows, path);
  h5::write_attr_i64(file, "n_rows", L.n_rows(), path);
  h5::write_attr_i64(file, "n_positions", L.n_positions(), path);
  // 0 until finish() sets 1. Created now so that setting it later allocates nothing: a resumed
  // file ends with the same bytes as one written in one go.
  h5::write_attr_i64(file, "complete", 0, path);
}

// Every dataset of the layout, allocated now (parallel HDF5 allocates at creation anyway).
void create_datasets(hid_t file, const H5SplitLayout& L, const std::string& path) {
  const hsize_t n = static_cast<hsize_t>(L.n_rows());
  const hsize_t total = static_cast<hsize_t>(L.n_positions());
  const hsize_t dim = static_cast<hsize_t>(L.dim);
  Id type(h5::stored_type(L.dtype));
  if (!type.ok()) h5::fail_h5(path, "making the embedding type");
  const int64_t row_bytes = L.dim * static_cast<int64_t>(dtype_size(L.dtype));
  std::vector<hsize_t> chunk{static_cast<hsize_t>(std::max<int64_t>(1, L.chunk_bytes / row_bytes)),
                             dim};
  chunk[0] = std::min(chunk[0], std::max<hsize_t>(total, 1));
  {
    Id emb(create_dataset(file, h5::kEmbeddings, type.get(), {total, dim},
                          total > 0 ? &chunk : nullptr, path));
    h5::write_attr_str(emb.get(), "dtype", dtype_name(L.dtype), path);
  }
  create_table(file, h5::kOffsets, H5T_STD_I64LE, {n + 1}, L.crc_offsets, path);
  create_table(file, h5::kIndex, H5T_STD_I64LE, {n}, L.crc_index, path);
  Id str(h5::string_type(static_cast<size_t>(L.region_width)));
  create_table(file, h5::kRegion, str.get(), {n}, L.crc_region, path);
  hid_t label_type = L.labels_float ? H5T_IEEE_F32LE : H5T_STD_I64LE;
  if (L.labels_ragged) {
    create_table(file, h5::kLabels, label_type, {static_cast<hsize_t>(L.n_label_values)},
                 L.crc_labels, path);
    create_table(file, h5::kLabelOffsets, H5T_STD_I64LE, {n + 1}, L.crc_label_offsets, path);
    create_table(file, h5::kLabelShapes, H5T_STD_I64LE, {n, static_cast<hsize_t>(L.label_rank)},
                 L.crc_label_shapes, path);
  } else {
    std::vector<hsize_t> dims{n};
    for (int64_t d : L.label_row_shape) dims.push_back(static_cast<hsize_t>(d));
    create_table(file, h5::kLabels, label_type, dims, L.crc_labels, path);
  }
  Id crc(create_dataset(file, h5::kShardCrc, H5T_STD_U32LE, {static_cast<hsize_t>(L.n_shards())},
                        nullptr, path));
  if (!L.shard_offsets.empty()) {
    create_table(file, h5::kShardOffsets, H5T_STD_I64LE, {L.shard_offsets.size()},
                 L.crc_shard_offsets, path);
  }
  if (L.token_spans) {  // written with the rows; checked by the shard checksums
    Id spans(create_dataset(file, h5::kTokenSpans, H5T_STD_I64LE, {total, 2}, nullptr, path));
  }
  if (L.coords) {
    Id cstr(h5::string_type(static_cast<size_t>(L.chrom_width)));
    create_table(file, h5::kChrom, cstr.get(), {n}, L.crc_chrom, path);
    create_table(file, h5::kStart, H5T_STD_I64LE, {n}, L.crc_start, path);
    create_table(file, h5::kEnd, H5T_STD_I64LE, {n}, L.crc_end, path);
    if (L.has_bin_bp) create_table(file, h5::kBinBp, H5T_STD_I64LE, {n}, L.crc_bin_bp, path);
  }
}

// Writes `n_elems` elements of `mem_type` (all of a dataset, flattened) in pieces of <= 64 MiB.
void write_whole(hid_t file, const char* name, hid_t mem_type, const void* data, size_t n_elems,
                 hid_t dxpl, const std::string& path) {
  Id d(H5Dopen2(file, name, H5P_DEFAULT));
  if (!d.ok()) h5::fail_h5(path, strfmt("opening dataset %s", name));
  Id fspace(H5Dget_space(d.get()));
  const int rank = H5Sget_simple_extent_ndims(fspace.get());
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 1)));
  H5Sget_simple_extent_dims(fspace.get(), dims.data(), nullptr);
  hsize_t row_elems = 1;
  for (int i = 1; i < rank; ++i) row_elems *= dims[i];
  if (n_elems == 0 || row_elems == 0) return;
  BEND_ASSERT(n_elems == dims[0] * row_elems);
  const size_t elem_bytes = H5Tget_size(mem_type);
  const hsize_t step = std::max<hsize_t>(1, (64u << 20) / (row_elems * elem_bytes));
  for (hsize_t first = 0; first < dims[0]; first += step) {
    std::vector<hsize_t> start(dims.size(), 0), count(dims);
    start[0] = first;
    count[0] = std::min(step, dims[0] - first);
    // The memory space has the selection's shape: HDF5 then maps it to chunks without
    // visiting every element.
    Id mspace(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr));
    if (H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                            nullptr) < 0 ||
        H5Dwrite(d.get(), mem_type, mspace.get(), fspace.get(), dxpl,
                 static_cast<const char*>(data) + first * row_elems * elem_bytes) < 0) {
      h5::fail_h5(path, strfmt("writing dataset %s rows %llu..%llu", name,
                               (unsigned long long)first, (unsigned long long)(first + count[0])));
    }
  }
}

}  // namespace

std::unique_ptr<H5EmbeddingWriter> H5EmbeddingWriter::create(const std::string& path,
                                                             const void* mpi_comm,
                                                             const H5SplitLayout& layout) {
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  std::unique_ptr<H5EmbeddingWriter> w(new H5EmbeddingWriter());
  w->path_ = path;
  w->layout_ = layout;
  Id fapl(mpio_fapl(mpi_comm, layout.chunk_bytes));
  if (!fapl.ok()) h5::fail_h5(path, "setting up file access");
  Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()));
  if (!file.ok()) h5::fail_h5(path, "cannot create the HDF5 file");
  write_root_attrs(file.get(), layout, path);
  create_datasets(file.get(), layout, path);
  w->file_ = file.release();
  w->mpio_ = mpi_comm != nullptr;
  w->open_datasets();
  return w;
}

std::unique_ptr<H5EmbeddingWriter> H5EmbeddingWriter::reopen(const std::string& path,
                                                             const void* mpi_comm,
                                                             const H5SplitLayout& layout) {
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  std::unique_ptr<H5EmbeddingWriter> w(new H5EmbeddingWriter());
  w->path_ = path;
  w->layout_ = layout;
  Id fapl(mpio_fapl(mpi_comm, layout.chunk_bytes));
  if (!fapl.ok()) h5::fail_h5(path, "setting up file access");
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()));
  if (!file.ok()) h5::fail_h5(path, "cannot open the HDF5 file to resume");
  if (!h5::has_attr(file.get(), "version") ||
      h5::read_attr_i64(file.get(), "version", path) != H5EmbeddingWriter::kFormatVersion) {
    fail("%s: format version is not %lld (string attributes of another layout): cannot resume into it",
         path.c_str(), static_cast<long long>(H5EmbeddingWriter::kFormatVersion));
  }
  if (h5::read_attr_i64(file.get(), "dim", path) != layout.dim ||
      h5::read_attr_str(file.get(), "dtype", path) != dtype_name(layout.dtype) ||
      h5::read_attr_i64(file.get(), "n_positions", path) != layout.n_positions() ||
      h5::read_attr_i64(file.get(), "n_rows", path) != layout.n_rows()) {
    fail("%s: its layout (dim, dtype, rows, positions) differs from this run's; use --overwrite",
         path.c_str());
  }
  const bool was_complete =
      h5::has_attr(file.get(), "complete") && h5::read_attr_i64(file.get(), "complete", path) != 0;
  w->file_ = file.release();
  w->mpio_ = mpi_comm != nullptr;
  w->open_datasets();
  if (was_complete) {  // some shard is rewritten: the file stops counting as complete first
    h5::set_attr_i64(w->file_, "complete", 0, path);
    w->flush();
  }
  return w;
}

void H5EmbeddingWriter::open_datasets() {
  // No chunk cache: a written row goes to the file at once, and sync() makes it durable.
  Id dapl(H5Pcreate(H5P_DATASET_ACCESS));
  if (!dapl.ok() || H5Pset_chunk_cache(dapl.get(), 0, 0, H5D_CHUNK_CACHE_W0_DEFAULT) < 0) {
    h5::fail_h5(path_, "dataset access list");
  }
  embeddings_ = H5Dopen2(file_, h5::kEmbeddings, dapl.get());
  if (embeddings_ < 0) h5::fail_h5(path_, "opening dataset embeddings");
  if (layout_.token_spans) {
    spans_ = H5Dopen2(file_, h5::kTokenSpans, H5P_DEFAULT);
    if (spans_ < 0) h5::fail_h5(path_, "opening dataset token_spans");
  }
  mem_type_ = h5::stored_type(layout_.dtype);
  dxpl_ = H5Pcreate(H5P_DATASET_XFER);
  if (mem_type_ < 0 || dxpl_ < 0 || (mpio_ && H5Pset_dxpl_mpio(dxpl_, H5FD_MPIO_INDEPENDENT) < 0)) {
    h5::fail_h5(path_, "preparing independent transfers");
  }
  sync_fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (sync_fd_ < 0) fail("cannot open %s: %s", path_.c_str(), std::strerror(errno));
}

H5EmbeddingWriter::~H5EmbeddingWriter() {
  // No collective call here: an unfinished file is closed by HDF5 at MPI_Finalize (all ranks)
  // or not at all (MPI_Abort). Its `complete` attribute is absent either way.
  if (sync_fd_ >= 0) ::close(sync_fd_);
}

void H5EmbeddingWriter::write_tables(const H5RowTables& t) {
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  const H5SplitLayout& L = layout_;
  const std::string& p = path_;
  write_whole(file_, h5::kOffsets, H5T_NATIVE_INT64, L.offsets.data(), L.offsets.size(), dxpl_, p);
  write_whole(file_, h5::kIndex, H5T_NATIVE_INT64, t.index.data(), t.index.size(), dxpl_, p);
  {
    const std::string region = h5::pack_strings(t.regions, L.region_width);
    Id str(h5::string_type(static_cast<size_t>(L.region_width)));
    write_whole(file_, h5::kRegion, str.get(), region.data(), t.regions.size(), dxpl_, p);
  }
  if (!L.shard_offsets.empty()) {
    write_whole(file_, h5::kShardOffsets, H5T_NATIVE_INT64, L.shard_offsets.data(),
                L.shard_offsets.size(), dxpl_, p);
  }
  if (L.coords) {
    const std::string chrom = h5::pack_strings(t.chroms, L.chrom_width);
    Id cstr(h5::string_type(static_cast<size_t>(L.chrom_width)));
    write_whole(file_, h5::kChrom, cstr.get(), chrom.data(), t.chroms.size(), dxpl_, p);
    write_whole(file_, h5::kStart, H5T_NATIVE_INT64, t.start_bp.data(), t.start_bp.size(), dxpl_,
                p);
    write_whole(file_, h5::kEnd, H5T_NATIVE_INT64, t.end_bp.data(), t.end_bp.size(), dxpl_, p);
    if (L.has_bin_bp)
      write_whole(file_, h5::kBinBp, H5T_NATIVE_INT64, t.bin_bp.data(), t.bin_bp.size(), dxpl_, p);
  }
  if (t.labels_float) {
    write_whole(file_, h5::kLabels, H5T_NATIVE_FLOAT, t.label_floats.data(), t.label_floats.size(),
                dxpl_, p);
  } else {
    write_whole(file_, h5::kLabels, H5T_NATIVE_INT64, t.label_ints.data(), t.label_ints.size(),
                dxpl_, p);
  }
  if (!L.labels_ragged) return;
  std::vector<int64_t> offsets(1, 0), shapes;
  for (const auto& shape : t.label_shapes) {
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    offsets.push_back(offsets.back() + count);
    shapes.insert(shapes.end(), shape.begin(), shape.end());
  }
  write_whole(file_, h5::kLabelOffsets, H5T_NATIVE_INT64, offsets.data(), offsets.size(), dxpl_, p);
  write_whole(file_, h5::kLabelShapes, H5T_NATIVE_INT64, shapes.data(), shapes.size(), dxpl_, p);
}

void H5EmbeddingWriter::flush() {
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  h5::check(H5Fflush(file_, H5F_SCOPE_GLOBAL), path_, "flushing");
  sync();  // the POSIX driver's flush does not sync
}

uint64_t H5EmbeddingWriter::allocated_bytes() {
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  hsize_t size = 0;  // max(end of file, end of allocated space)
  h5::check(H5Fget_filesize(file_, &size), path_, "querying the allocated size");
  return static_cast<uint64_t>(size);
}

void H5EmbeddingWriter::write_positions(int64_t first_pos, int64_t n_pos, const void* data) {
  if (n_pos == 0) return;
  if (first_pos < 0 || first_pos + n_pos > layout_.n_positions()) {
    fail("%s: positions %lld..%lld are outside embeddings [%lld, %lld]", path_.c_str(),
         (long long)first_pos, (long long)(first_pos + n_pos), (long long)layout_.n_positions(),
         (long long)layout_.dim);
  }
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  if (!h5::transfer_rows(embeddings_, mem_type_, dxpl_, first_pos, n_pos, layout_.dim,
                         const_cast<void*>(data), true)) {
    h5::fail_h5(path_, strfmt("writing embeddings positions %lld..%lld", (long long)first_pos,
                              (long long)(first_pos + n_pos)));
  }
}

void H5EmbeddingWriter::write_spans(int64_t first_pos, int64_t n_pos, const int64_t* spans) {
  if (n_pos == 0) return;
  if (!layout_.token_spans)
    fail("%s: internal: token spans for a file without token_spans", path_.c_str());
  if (first_pos < 0 || first_pos + n_pos > layout_.n_positions()) {
    fail("%s: token spans %lld..%lld are outside token_spans [%lld, 2]", path_.c_str(),
         (long long)first_pos, (long long)(first_pos + n_pos), (long long)layout_.n_positions());
  }
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  if (!h5::transfer_rows(spans_, H5T_NATIVE_INT64, dxpl_, first_pos, n_pos, 2,
                         const_cast<int64_t*>(spans), true)) {
    h5::fail_h5(path_, strfmt("writing token_spans %lld..%lld", (long long)first_pos,
                              (long long)(first_pos + n_pos)));
  }
}

void H5EmbeddingWriter::sync() {
  if (::fdatasync(sync_fd_) != 0)
    fail("%s: fdatasync failed: %s", path_.c_str(), std::strerror(errno));
}

void H5EmbeddingWriter::finish(const std::vector<uint32_t>& shard_crc32c, bool is_root) {
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  if (is_root) {
    if (static_cast<int64_t>(shard_crc32c.size()) != layout_.n_shards()) {
      fail("%s: %zu shard checksums for %lld shards", path_.c_str(), shard_crc32c.size(),
           (long long)layout_.n_shards());
    }
    write_whole(file_, h5::kShardCrc, H5T_NATIVE_UINT32, shard_crc32c.data(), shard_crc32c.size(),
                dxpl_, path_);
  }
  // Everything durable first; `complete` last, then durable too.
  h5::check(H5Fflush(file_, H5F_SCOPE_GLOBAL), path_, "flushing");
  sync();
  h5::set_attr_i64(file_, "complete", 1, path_);
  h5::check(H5Fflush(file_, H5F_SCOPE_GLOBAL), path_, "flushing");
  sync();
  release();
}

void H5EmbeddingWriter::close() {
  LibraryLock lock(library_mutex());
  h5::Quiet quiet;
  release();
}

void H5EmbeddingWriter::release() {
  if (dxpl_ >= 0) H5Pclose(dxpl_);
  if (mem_type_ >= 0) H5Tclose(mem_type_);
  if (embeddings_ >= 0) H5Dclose(embeddings_);
  if (spans_ >= 0) H5Dclose(spans_);
  herr_t rc = file_ >= 0 ? H5Fclose(file_) : 0;
  dxpl_ = mem_type_ = embeddings_ = spans_ = file_ = -1;
  if (rc < 0) h5::fail_h5(path_, "closing");
}

}  // namespace bend
