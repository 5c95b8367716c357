// Label sources. HDF5 rows are read one at a time with a hyperslab (files may be GBs); every
// HDF5 call runs under one process-wide mutex with HDF5's own error printing silenced.
#include "bend/task/labels.hpp"

#include <hdf5.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <mutex>

#include "bend/core/error.hpp"
#include "bend/core/library_lock.hpp"
#include "bend/task/bed.hpp"

namespace bend {

LabelSource::~LabelSource() = default;

namespace {

// ---- label column --------------------------------------------------------

class ColumnLabels : public LabelSource {
 public:
  ColumnLabels(const BedTable& bed, int32_t depth)
      : path_(bed.path), depth_(depth), offsets_(bed.label_offsets), ids_(bed.label_ids) {
    if (!bed.has_label) {
      fail("BED '%s': has no label column; give the labels in an HDF5 file instead",
           bed.path.c_str());
    }
    if (depth <= 0) fail("BED '%s': label_depth must be > 0, got %d", bed.path.c_str(), depth);
    BEND_ASSERT(offsets_.size() == bed.rows.size() + 1);
    for (size_t i = 0; i < bed.rows.size(); ++i) {
      for (int64_t k = offsets_[i]; k < offsets_[i + 1]; ++k) {
        if (ids_[k] >= depth) {
          fail("%s:%lld: label id %d is >= label_depth %d", path_.c_str(),
               static_cast<long long>(bed.line_of(static_cast<int64_t>(i))), ids_[k], depth);
        }
      }
    }
  }

  void read(int64_t row, LabelRow& out) override {
    const int64_t n_rows = static_cast<int64_t>(offsets_.size()) - 1;
    if (row < 0 || row >= n_rows) {
      fail("%s: label row %lld out of range (%lld data rows)", path_.c_str(),
           static_cast<long long>(row), static_cast<long long>(n_rows));
    }
    out.is_float = false;
    out.floats.clear();
    out.shape.assign(1, depth_);
    out.ints.assign(static_cast<size_t>(depth_), 0);
    for (int64_t k = offsets_[row]; k < offsets_[row + 1]; ++k) out.ints[ids_[k]] = 1;
  }

  std::string describe() const override {
    return strfmt("label column of %s (multi-hot, depth %d)", path_.c_str(), depth_);
  }

 private:
  std::string path_;
  int32_t depth_;
  std::vector<int64_t> offsets_;  // [n_rows + 1]
  std::vector<int32_t> ids_;
};

// ---- no labels -----------------------------------------------------------

class NoLabels : public LabelSource {
 public:
  void read(int64_t row, LabelRow& out) override {
    out.is_float = false;
    out.ints.clear();
    out.floats.clear();
    out.shape.assign(1, 0);
  }
  std::string describe() const override { return "no labels"; }
};

// ---- HDF5 ----------------------------------------------------------------

// HDF5 shares the process-wide library lock with MPI (parallel HDF5 calls into MPI, and the
// embed writer thread writes HDF5 output while rank 0 reads labels).
std::recursive_mutex& hdf5_mutex() { return library_mutex(); }

// Turns HDF5's automatic error-stack printing off while alive; restores it after.
class QuietHdf5 {
 public:
  QuietHdf5() {
    saved_ok_ = H5Eget_auto2(H5E_DEFAULT, &func_, &data_) >= 0;
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5() {
    if (saved_ok_) H5Eset_auto2(H5E_DEFAULT, func_, data_);
  }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
  bool saved_ok_ = false;
};

// Owns one HDF5 identifier and closes it with the matching H5xclose.
class H5Handle {
 public:
  H5Handle() = default;
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Handle() { reset(); }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  void reset(hid_t id = -1, herr_t (*close)(hid_t) = nullptr) {
    if (id_ >= 0 && close_) close_(id_);
    id_ = id;
    close_ = close;
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// A label row longer than this is refused before it is read (corrupt shapes and lengths made
// one row gigabytes); per-nucleotide labels of BEND rows are ~10^4 values.
constexpr hsize_t kMaxRowValues = hsize_t(1) << 26;

bool is_hdf5_file(const std::string& path) {
#if H5_VERSION_GE(1, 12, 0)
  return H5Fis_accessible(path.c_str(), H5P_DEFAULT) > 0;
#else
  return H5Fis_hdf5(path.c_str()) > 0;
#endif
}

class Hdf5Labels : public LabelSource {
 public:
  Hdf5Labels(const std::string& path, const std::string& dataset, int64_t n_bed_rows,
             const std::string& bed_path, int32_t label_depth);
  ~Hdf5Labels() override;
  void read(int64_t row, LabelRow& out) override;
  std::string describe() const override;

 private:
  void open_file(int64_t n_bed_rows, const std::string& bed_path);
  void open_dataset();
  void close_all();
  void read_fixed(LabelRow& out);
  void read_vlen(LabelRow& out);
  void check_range(const LabelRow& out) const;
  std::string where() const { return path_ + ":/" + dataset_; }

  std::string path_, dataset_;
  int32_t label_depth_ = 0;  // > 0: integer labels must be < max(label_depth, 2)
  H5Handle file_, dset_, file_space_, mem_space_, vlen_type_;
  bool vlen_ = false;
  bool is_float_ = false;
  std::vector<hsize_t> dims_;           // dataset shape [n_rows, ...]
  std::vector<hsize_t> start_, count_;  // hyperslab of one row
  std::vector<int64_t> row_shape_;      // dims_[1..] (fixed datasets)
  int64_t row_elems_ = 0;
};

Hdf5Labels::Hdf5Labels(const std::string& path, const std::string& dataset, int64_t n_bed_rows,
                       const std::string& bed_path, int32_t label_depth)
    : path_(path), dataset_(dataset), label_depth_(label_depth) {
  LibraryLock lock(hdf5_mutex());
  QuietHdf5 quiet;
  try {
    open_file(n_bed_rows, bed_path);
  } catch (...) {
    close_all();  // under the mutex, before the members go away
    throw;
  }
}

Hdf5Labels::~Hdf5Labels() {
  LibraryLock lock(hdf5_mutex());
  close_all();
}

void Hdf5Labels::close_all() {
  vlen_type_.reset();
  mem_space_.reset();
  file_space_.reset();
  dset_.reset();
  file_.reset();
}

void Hdf5Labels::open_file(int64_t n_bed_rows, const std::string& bed_path) {
  const std::string& path = path_;
  const std::string& dataset = dataset_;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    fail("%s: cannot open HDF5 label file: %s", path.c_str(), std::strerror(errno));
  }
  if (!is_hdf5_file(path)) fail("%s: not an HDF5 file", path.c_str());
  file_.reset(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file_.ok()) fail("%s: cannot open HDF5 file", path.c_str());
  open_dataset();
  if (static_cast<int64_t>(dims_[0]) != n_bed_rows) {
    std::string bed = bed_path.empty() ? "the BED file" : "BED " + bed_path;
    fail("%s: dataset '%s' has %lld rows but %s has %lld data rows", path.c_str(), dataset.c_str(),
         (long long)dims_[0], bed.c_str(), (long long)n_bed_rows);
  }
}

void Hdf5Labels::open_dataset() {
  const char* p = path_.c_str();
  const char* d = dataset_.c_str();
  H5Handle dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  if (!dapl.ok() || H5Pset_chunk_cache(dapl.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 64 << 20,
                                       H5D_CHUNK_CACHE_W0_DEFAULT) < 0) {
    fail("%s: cannot set up HDF5 dataset access properties", p);
  }
  dset_.reset(H5Dopen2(file_.get(), d, dapl.get()), H5Dclose);
  if (!dset_.ok()) {
    // The file's names are not listed: on a corrupt file that walks the damaged group B-tree
    // and crashed inside libhdf5 (H5Gget_info -> H5G__node_sumup: SIGSEGV), even where the
    // lookup of this one name failed cleanly (a fuzzing finding, tests/fuzz/corpus/h5_labels).
    const htri_t exists = H5Lexists(file_.get(), d, H5P_DEFAULT);
    if (exists > 0) fail("%s: dataset '%s' exists but cannot be opened (corrupt file?)", p, d);
    fail("%s: dataset '%s' not found or unreadable (h5ls %s lists the file's datasets; give "
         "--labels-dataset)", p, d, p);
  }
  H5Handle type(H5Dget_type(dset_.get()), H5Tclose);
  if (!type.ok()) fail("%s: cannot read the type of dataset '%s'", p, d);
  H5T_class_t cls = H5Tget_class(type.get());
  size_t elem_bytes = H5Tget_size(type.get());
  if (cls == H5T_VLEN) {
    vlen_ = true;
    H5Handle base(H5Tget_super(type.get()), H5Tclose);
    cls = base.ok() ? H5Tget_class(base.get()) : H5T_NO_CLASS;
    elem_bytes = base.ok() ? H5Tget_size(base.get()) : 0;
  }
  // A corrupt type can claim elements of gigabytes, which libhdf5 then converts for minutes.
  if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && (elem_bytes == 0 || elem_bytes > 8)) {
    fail("%s: dataset '%s' has %zu-byte elements; labels are integers or floats of 1-8 bytes "
         "(corrupt file?)", p, d, elem_bytes);
  }
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
    fail(
        "%s: dataset '%s' has an unsupported element type (HDF5 class %d); labels must be "
        "integers or floats, fixed shape or 1-D variable length",
        p, d, static_cast<int>(cls));
  }
  is_float_ = cls == H5T_FLOAT;

  file_space_.reset(H5Dget_space(dset_.get()), H5Sclose);
  int rank = file_space_.ok() ? H5Sget_simple_extent_ndims(file_space_.get()) : -1;
  if (rank < 0) fail("%s: cannot read the shape of dataset '%s'", p, d);
  if (rank == 0) fail("%s: dataset '%s' is a scalar; expected one row per BED row", p, d);
  if (vlen_ && rank != 1) {
    fail("%s: variable-length dataset '%s' has rank %d; expected 1-D [n_rows]", p, d, rank);
  }
  dims_.assign(static_cast<size_t>(rank), 0);
  if (H5Sget_simple_extent_dims(file_space_.get(), dims_.data(), nullptr) < 0) {
    fail("%s: cannot read the shape of dataset '%s'", p, d);
  }
  start_.assign(dims_.size(), 0);
  count_ = dims_;
  count_[0] = 1;
  row_shape_.assign(dims_.begin() + 1, dims_.end());
  row_elems_ = 1;
  for (int64_t v : row_shape_) {
    // A corrupt shape made one row tens of GB (a 2^31-value vector filled for minutes).
    if (v < 0 || (v > 0 && row_elems_ > static_cast<int64_t>(kMaxRowValues) / v)) {
      fail("%s: dataset '%s' has rows of more than %llu values (corrupt file?)", p, d,
           (unsigned long long)kMaxRowValues);
    }
    row_elems_ *= v;
  }
  mem_space_.reset(H5Screate_simple(rank, count_.data(), nullptr), H5Sclose);
  if (!mem_space_.ok()) fail("%s: cannot create an HDF5 dataspace", p);
  if (vlen_) {
    vlen_type_.reset(H5Tvlen_create(is_float_ ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT64), H5Tclose);
    if (!vlen_type_.ok()) fail("%s: cannot create an HDF5 vlen type", p);
  }
}

void Hdf5Labels::read(int64_t row, LabelRow& out) {
  LibraryLock lock(hdf5_mutex());
  QuietHdf5 quiet;
  if (row < 0 || row >= static_cast<int64_t>(dims_[0])) {
    fail("%s: label row %lld out of range (%lld rows)", where().c_str(), (long long)row,
         (long long)dims_[0]);
  }
  out.is_float = is_float_;
  out.ints.clear();
  out.floats.clear();
  start_[0] = static_cast<hsize_t>(row);
  if (H5Sselect_hyperslab(file_space_.get(), H5S_SELECT_SET, start_.data(), nullptr, count_.data(),
                          nullptr) < 0) {
    fail("%s: cannot select row %lld", where().c_str(), (long long)row);
  }
  if (vlen_) {
    read_vlen(out);
  } else {
    read_fixed(out);
  }
  check_range(out);
}

// With --label-depth, labels are class ids or 0/1 flags as in the BED label column: never
// negative (-1 is what corrupt bytes or a fill value look like), below max(label_depth, 2).
// Floats must always be finite. (bend train checks every label against its criterion again.)
void Hdf5Labels::check_range(const LabelRow& out) const {
  if (label_depth_ > 0) {
    const int64_t limit = std::max<int64_t>(label_depth_, 2);
    for (size_t i = 0; i < out.ints.size(); ++i) {
      const int64_t v = out.ints[i];
      if (v < 0 || v >= limit) {
        fail("%s: row %lld, value %zu: label %lld is outside 0..%lld for label_depth %d (labels "
             "are class ids or 0/1; the file is corrupt or not this task's)",
             where().c_str(), (long long)start_[0], i, (long long)v, (long long)(limit - 1),
             label_depth_);
      }
    }
  }
  for (size_t i = 0; i < out.floats.size(); ++i) {
    const float v = out.floats[i];
    if (!std::isfinite(v)) {
      fail("%s: row %lld, value %zu: label %g is not finite (the file is corrupt)",
           where().c_str(), (long long)start_[0], i, static_cast<double>(v));
    }
  }
}

void Hdf5Labels::read_fixed(LabelRow& out) {
  out.shape = row_shape_;
  if (row_elems_ == 0) return;
  herr_t rc;
  if (is_float_) {
    out.floats.resize(static_cast<size_t>(row_elems_));
    rc = H5Dread(dset_.get(), H5T_NATIVE_FLOAT, mem_space_.get(), file_space_.get(), H5P_DEFAULT,
                 out.floats.data());
  } else {
    out.ints.resize(static_cast<size_t>(row_elems_));
    rc = H5Dread(dset_.get(), H5T_NATIVE_INT64, mem_space_.get(), file_space_.get(), H5P_DEFAULT,
                 out.ints.data());
  }
  if (rc < 0) fail("%s: reading row %lld failed", where().c_str(), (long long)start_[0]);
}


void Hdf5Labels::read_vlen(LabelRow& out) {
  hsize_t n_bytes = 0;
  if (H5Dvlen_get_buf_size(dset_.get(), vlen_type_.get(), file_space_.get(), &n_bytes) < 0) {
    fail("%s: cannot read the length of row %lld (corrupt file?)", where().c_str(), (long long)start_[0]);
  }
  if (n_bytes / sizeof(int64_t) > kMaxRowValues) {
    fail("%s: row %lld claims %llu bytes of labels, more than %llu values (corrupt file?)",
         where().c_str(), (long long)start_[0], (unsigned long long)n_bytes,
         (unsigned long long)kMaxRowValues);
  }
  hvl_t v{0, nullptr};
  if (H5Dread(dset_.get(), vlen_type_.get(), mem_space_.get(), file_space_.get(), H5P_DEFAULT, &v) <
      0) {
    fail("%s: reading row %lld failed", where().c_str(), (long long)start_[0]);
  }
  out.shape.assign(1, static_cast<int64_t>(v.len));
  if (is_float_) {
    const float* p = static_cast<const float*>(v.p);
    out.floats.assign(p, p + v.len);
  } else {
    const int64_t* p = static_cast<const int64_t*>(v.p);
    out.ints.assign(p, p + v.len);
  }
#if H5_VERSION_GE(1, 12, 0)
  herr_t rc = H5Treclaim(vlen_type_.get(), mem_space_.get(), H5P_DEFAULT, &v);
#else
  herr_t rc = H5Dvlen_reclaim(vlen_type_.get(), mem_space_.get(), H5P_DEFAULT, &v);
#endif
  if (rc < 0) fail("%s: freeing row %lld failed", where().c_str(), (long long)start_[0]);
}

std::string Hdf5Labels::describe() const {
  std::string shape;
  for (size_t i = 0; i < dims_.size(); ++i) {
    shape += strfmt("%s%llu", i ? ", " : "", (unsigned long long)dims_[i]);
  }
  if (vlen_) shape += ", len_i";
  return strfmt("HDF5 %s %s%s [%s]", where().c_str(), vlen_ ? "vlen " : "",
                is_float_ ? "float32" : "int64", shape.c_str());
}

}  // namespace

std::unique_ptr<LabelSource> labels_from_column(const BedTable& bed, int32_t label_depth) {
  return std::unique_ptr<LabelSource>(new ColumnLabels(bed, label_depth));
}

std::unique_ptr<LabelSource> labels_from_hdf5(const std::string& path, const std::string& dataset,
                                              int64_t n_bed_rows, const std::string& bed_path,
                                              int32_t label_depth) {
  return std::unique_ptr<LabelSource>(new Hdf5Labels(path, dataset, n_bed_rows, bed_path, label_depth));
}

std::unique_ptr<LabelSource> labels_none() {
  return std::unique_ptr<LabelSource>(new NoLabels);
}

}  // namespace bend
