// Verifying and summarising embedding shards: every record's CRCs are checked and every
// Example is decoded. Used by `bend inspect` and by the manifest check.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace bend {

// What one shard holds. Lengths and dim are over all its records (0 and "" when empty).
struct ShardSummary {
  std::string path;
  uint64_t n_records = 0;
  uint64_t file_bytes = 0;           // size of the file as stored (compressed size)
  uint32_t file_crc32c = 0;          // CRC32C of the file's bytes, as TFRecordWriter::file_crc32c()
  int64_t min_len = 0, max_len = 0;  // embedding rows per record
  int64_t dim = 0;
  std::string dtype;
  int64_t n_vectors = 0;    // embedding rows stored, all records
  int64_t n_positions = 0;  // rows bend train sees: token-level records (token_spans) upsampled
                            // to their nucleotides, other records = their rows
  int64_t n_token_level = 0;  // records with token_spans
};

// How inspect_shard prints records.
enum class InspectFormat { kText, kJson };

// Reads the shard at `path` (compression from its suffix, see compression_from_path) to the
// end, checking CRCs, decoding each embedding Example and checking that dim and dtype agree
// across records. With list_records, prints one line per record to `out` (text: tab-separated
// shard, record, index, region, shape, dtype, outputs_shape, positions; json: one object per
// line). Token-level records' spans are checked (contiguous, >= 1 bp, one per vector).
// Throws bend::Error "path: record N at byte offset X: <what>" on any problem.
ShardSummary inspect_shard(const std::string& path, bool list_records, FILE* out,
                           InspectFormat fmt = InspectFormat::kText);

// The same for a `bend embed --format hdf5` file (`<split>.h5`): refuses an incomplete file,
// checks every table's and every shard's CRC32C (h5_embeddings.hpp) and summarises it; records
// are its rows (record = row number). file_bytes is the file's size, file_crc32c the CRC32C of
// all embedding bytes. Throws bend::Error naming the file and the dataset or shard.
ShardSummary inspect_h5_file(const std::string& path, bool list_records, FILE* out,
                             InspectFormat fmt = InspectFormat::kText);

// Header line for the text summary table (no newline), and one row for `s` (no newline).
std::string shard_summary_header();
std::string shard_summary_text(const ShardSummary& s);
// The summary as one JSON object on one line (no newline): keys path, records, bytes,
// crc32c (8 hex digits), dim, dtype, min_len, max_len, vectors, positions, token_level_records.
std::string shard_summary_json(const ShardSummary& s);
// Header line for the text record listing (no newline).
std::string record_listing_header();

}  // namespace bend
