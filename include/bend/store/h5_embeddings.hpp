// One split's embeddings in one HDF5 file (`bend embed|genome --format hdf5`): written by every
// rank of an MPI job at once with parallel HDF5 over MPI-IO, read back serially (inspect, train,
// h5py).
// Ragged rows without padding: `embeddings [total_positions, dim]` plus `offsets [n_rows + 1]`.
// The layout is in docs/formats.md ("HDF5 output"). Every HDF5 call holds library_mutex().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bend/core/half.hpp"

namespace bend {

// The shape of a split file, known before any embedding is computed. Identical on every rank.
struct H5SplitLayout {
  std::string split;
  std::string command = "embed";  // root attribute `command`: "embed" or "genome"
  int64_t dim = 0;                // embedding width
  DType dtype = DType::kFloat32;  // stored element type
  int64_t shard_rows = 0;         // shard k = rows [k * shard_rows, (k + 1) * shard_rows)
  // [n_shards + 1] first row of each shard, then n_rows, when shards differ in size (bend genome:
  // a shard never spans two sequences); dataset `shard_offsets`. Empty: every shard_rows rows.
  std::vector<int64_t> shard_offsets;
  std::vector<int64_t> offsets;  // [n_rows + 1] first position of each row; back() = total
  // Token-level output: dataset `token_spans [n_positions, 2]` int64, (start_bp, len_bp) of each
  // vector within its row's sequence; part of each shard's checksum (after its embedding bytes).
  bool token_spans = false;
  // bend genome: datasets `chrom` (fixed-length strings, chrom_width bytes), `start`, `end`
  // [n_rows] int64 and, with --reduce, `bin_bp` [n_rows] int64.
  bool coords = false;
  bool has_bin_bp = false;
  int64_t chrom_width = 1;
  int64_t chunk_bytes = 1 << 20;  // target bytes of one `embeddings` chunk (and alignment)
  // Attributes of the root group (same on every rank).
  std::string model, model_fingerprint, checkpoint, task, params_json;
  // Labels: `labels [n_rows, *label_row_shape]` when every row has the same shape, else ragged:
  // `labels [n_label_values]`, `label_offsets [n_rows + 1]`, `label_shapes [n_rows, label_rank]`.
  bool labels_float = false;  // float32, else int64
  bool labels_ragged = false;
  std::vector<int64_t> label_row_shape;  // fixed: shape of every row ([0] without labels)
  int64_t n_label_values = 0;            // ragged: values over all rows
  int64_t label_rank = 0;                // ragged: dimensions of each row's labels
  int64_t region_width = 1;              // bytes of each fixed-length `region` string
  // CRC32C of each table's stored bytes, attribute `crc32c` of each dataset (h5_plan_tables).
  uint32_t crc_offsets = 0, crc_index = 0, crc_region = 0, crc_labels = 0;
  uint32_t crc_label_offsets = 0, crc_label_shapes = 0;
  uint32_t crc_shard_offsets = 0, crc_chrom = 0, crc_start = 0, crc_end = 0, crc_bin_bp = 0;

  int64_t n_rows() const { return offsets.empty() ? 0 : static_cast<int64_t>(offsets.size()) - 1; }
  int64_t n_positions() const { return offsets.empty() ? 0 : offsets.back(); }
  int64_t n_shards() const {
    if (!shard_offsets.empty()) return static_cast<int64_t>(shard_offsets.size()) - 1;
    return shard_rows > 0 ? (n_rows() + shard_rows - 1) / shard_rows : 0;
  }
  // Rows [shard_first_row(k), shard_end_row(k)) form shard k (0 <= k < n_shards()).
  int64_t shard_first_row(int64_t k) const {
    return shard_offsets.empty() ? k * shard_rows : shard_offsets[static_cast<size_t>(k)];
  }
  int64_t shard_end_row(int64_t k) const {
    if (!shard_offsets.empty()) return shard_offsets[static_cast<size_t>(k + 1)];
    return (k + 1) * shard_rows < n_rows() ? (k + 1) * shard_rows : n_rows();
  }
};

// The per-row tables written once, by one rank, when a file is created.
struct H5RowTables {
  std::vector<int64_t> index;                      // [n_rows] BED data row
  std::vector<std::string> regions;                // [n_rows] "chrom:start-end(strand)"
  bool labels_float = false;                       // float32 labels, else int64
  std::vector<int64_t> label_ints;                 // every row's labels, row-major, concatenated
  std::vector<float> label_floats;                 // the same when labels_float
  std::vector<std::vector<int64_t>> label_shapes;  // [n_rows] shape of each row's labels
  // bend genome (layout.coords): each row's window; bin_bp only with --reduce, else empty.
  std::vector<std::string> chroms;        // [n_rows] sequence name
  std::vector<int64_t> start_bp, end_bp;  // [n_rows] 0-based half-open
  std::vector<int64_t> bin_bp;            // [n_rows] nucleotides per stored vector
};

// Fills the label layout, region_width, coordinate fields and crc_* fields of `layout` from
// `tables`, exactly as the writer will store them (offsets and shard_offsets must be set; coords
// is set when tables.chroms is not empty). Throws bend::Error when the row counts disagree or
// the label rows differ in rank or type.
void h5_plan_tables(const H5RowTables& tables, H5SplitLayout& layout);

// A split file open for parallel writing. Create/reopen/finish/close are collective over the
// communicator; write_positions/sync are independent (each rank its own rows). Not copyable.
// Destroying it without finish()/close() leaves the file to HDF5's shutdown (MPI_Finalize): no
// collective call is made, so a failing rank can abort the job without hanging in HDF5.
class H5EmbeddingWriter {
 public:
  // The root `version` attribute it writes: 2 since string attributes are variable-length UTF-8
  // (h5py reads them as str); version 1 files (fixed-length) are read, never resumed into.
  static constexpr int64_t kFormatVersion = 2;
  // Collective over *mpi_comm (Comm::native_handle()): creates `path` (truncating it) with every
  // dataset and attribute allocated, `complete` = 0. mpi_comm == nullptr: one writer
  // process, HDF5's POSIX driver without HDF5's own file lock (the caller holds the file's
  // lock) and no MPI. Throws bend::Error naming the path and HDF5's message.
  static std::unique_ptr<H5EmbeddingWriter> create(const std::string& path, const void* mpi_comm,
                                                   const H5SplitLayout& layout);
  // Collective: opens an existing file of the same layout (offsets, dim, dtype checked) to
  // write the rows still missing; sets its `complete` attribute to 0 first.
  static std::unique_ptr<H5EmbeddingWriter> reopen(const std::string& path, const void* mpi_comm,
                                                   const H5SplitLayout& layout);
  ~H5EmbeddingWriter();
  H5EmbeddingWriter(const H5EmbeddingWriter&) = delete;
  H5EmbeddingWriter& operator=(const H5EmbeddingWriter&) = delete;

  const std::string& path() const { return path_; }
  const H5SplitLayout& layout() const { return layout_; }
  // Independent (one rank, after create): writes the per-row tables planned by h5_plan_tables.
  void write_tables(const H5RowTables& tables);
  // Collective: writes HDF5's metadata and makes the file durable (fdatasync).
  void flush();
  // Bytes the file will occupy (HDF5's end of allocated space): what to reserve on disk.
  uint64_t allocated_bytes();
  // Independent, any thread: stores n_pos positions from `data` ([n_pos, dim] elements of the
  // layout's dtype, little-endian) at position first_pos. Throws naming the file and positions.
  void write_positions(int64_t first_pos, int64_t n_pos, const void* data);
  // Independent, any thread (layout.token_spans): stores `spans` ([n_pos, 2] int64: start_bp,
  // len_bp) of positions [first_pos, first_pos + n_pos) in `token_spans`. Throws like above.
  void write_spans(int64_t first_pos, int64_t n_pos, const int64_t* spans);
  // Independent: makes this rank's writes durable (fdatasync of the file).
  void sync();
  // Collective: writes `shard_crc32c` ([n_shards], given by the rank with is_root), then sets
  // the `complete` attribute to 1, then closes. Only then does the file count as complete.
  void finish(const std::vector<uint32_t>& shard_crc32c, bool is_root);
  // Collective: closes without marking the file complete (a stopped run).
  void close();

 private:
  H5EmbeddingWriter() = default;
  void open_datasets();
  void release();

  std::string path_;
  H5SplitLayout layout_;
  int64_t file_ = -1, embeddings_ = -1, spans_ = -1, mem_type_ = -1, dxpl_ = -1;  // hid_t
  int sync_fd_ = -1;
  bool mpio_ = false;  // MPI-IO driver (else POSIX)
};

// One row's tables as stored.
struct H5Row {
  int64_t index = 0;
  std::string region;
  bool labels_float = false;
  std::vector<int64_t> label_ints;
  std::vector<float> label_floats;
  std::vector<int64_t> label_shape;  // [0] when the run had no labels
  // bend genome files (layout().coords): the window; bin_bp 0 without --reduce.
  std::string chrom;
  int64_t start_bp = 0, end_bp = 0, bin_bp = 0;
};

// Serial read access to a split file. `locking` takes HDF5's shared file lock (so a file that
// bend embed is writing is refused); false only for bend embed's own check while it holds the
// lock. Not thread-safe (one per thread); every call holds library_mutex().
class H5EmbeddingReader {
 public:
  // Opens `path` read-only and reads its layout. Throws bend::Error when it is not a bend
  // embeddings file, is locked by a writer, or (with require_complete) is not complete.
  H5EmbeddingReader(const std::string& path, bool require_complete, bool locking = true);
  ~H5EmbeddingReader();
  H5EmbeddingReader(const H5EmbeddingReader&) = delete;
  H5EmbeddingReader& operator=(const H5EmbeddingReader&) = delete;

  const std::string& path() const { return path_; }
  // Layout and attributes as stored (crc_* included).
  const H5SplitLayout& layout() const { return layout_; }
  bool complete() const { return complete_; }
  // The root `version` attribute: 2 (variable-length string attributes), 1 (fixed-length).
  int64_t format_version() const { return format_version_; }
  // Raw bytes (stored dtype, little-endian) of positions [first_pos, first_pos + n_pos).
  void read_positions(int64_t first_pos, int64_t n_pos, std::string& out);
  // The raw embedding bytes of row `row` ([length, dim]); length = offsets[row+1] - offsets[row].
  void read_row_embedding(int64_t row, std::string& out);
  // Index, region, labels (and coordinates of bend genome files) of row `row`.
  void read_row(int64_t row, H5Row& out);
  // Token-level files (layout().token_spans): row `row`'s spans, [length * 2] int64 (start_bp,
  // len_bp of each vector), into `out`. Throws naming the file when it has none.
  void read_row_spans(int64_t row, std::vector<int64_t>& out);
  // CRC32C and byte count of the embeddings of rows [first_row, end_row), then of their
  // token_spans when the file has them (a shard's checksum), streamed.
  uint32_t rows_crc32c(int64_t first_row, int64_t end_row, uint64_t& n_bytes);
  // The stored `shard_crc32c` dataset ([n_shards]; zeros until the file is complete).
  std::vector<uint32_t> shard_crc32c();
  // Checks every table's CRC32C and every shard's embedding CRC32C. Throws bend::Error naming
  // the file, the dataset or shard (rows), and both values.
  void verify();

 private:
  void read_layout();
  void read_labels_layout();
  void read_genome_layout();
  void read_spans(int64_t first_pos, int64_t n_pos, std::vector<int64_t>& out);
  void close_all();
  uint32_t table_crc(const char* name);

  std::string path_;
  H5SplitLayout layout_;
  bool complete_ = false;
  int64_t format_version_ = 0;
  int64_t file_ = -1, embeddings_ = -1, file_type_ = -1, spans_ = -1;  // hid_t
  std::vector<int64_t> index_;                                         // [n_rows]
  std::vector<char> chroms_;                   // bend genome: [n_rows * chrom_width]
  std::vector<int64_t> start_, end_, bin_bp_;  // bend genome: [n_rows] (bin_bp_ with --reduce)
  std::vector<char> regions_;                  // [n_rows * region_len_]
  size_t region_len_ = 0;
  bool labels_ragged_ = false, labels_float_ = false;
  std::vector<int64_t> label_row_shape_;  // fixed labels: shape of every row
  std::vector<int64_t> label_offsets_;    // ragged: [n_rows + 1]
  std::vector<int64_t> label_shapes_;     // ragged: [n_rows * label_rank_]
  int64_t label_rank_ = 0;
};

}  // namespace bend
