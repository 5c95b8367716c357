// What the writer stage stores per row beyond the plain model output: optional mean pooling
// (`bend genome --reduce`) and the coordinate features of `bend genome` records
// (docs/formats.md, "Outputs of bend genome"). Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

struct EmbeddingRecord;

// Pooling of one record's vectors, in positions (= nucleotides for per-nucleotide models).
constexpr int64_t kReduceNone = 0;   // store every vector
constexpr int64_t kReduceMean = -1;  // one mean vector per record
// "none" -> kReduceNone, "mean" -> kReduceMean, "bin:N" (N >= 1) -> N. Throws bend::Error naming
// --reduce and the accepted forms otherwise.
int64_t parse_reduce(const std::string& spec);

// Means over bins of `bin_len` positions: in [length, dim] -> out [n_bins, dim] (resized), bin i
// covering positions [i * bin_len, min((i + 1) * bin_len, length)), so the last bin may be
// shorter. Sums in double, each mean rounded to float once. Returns n_bins (0 when length is 0).
int64_t mean_bins(const float* in, int64_t length, int64_t dim, int64_t bin_len, std::vector<float>& out);

// A `bend genome` record: every feature of encode_embedding_example(rec) plus `chrom` (bytes),
// `start` and `end` (int64 [1], 0-based half-open window) and, when bin_len > 0, `bin_bp`
// (int64 [1]: positions per stored vector). Appended to `out`; keys sorted like protobuf's
// deterministic serialization. Throws bend::Error like encode_embedding_example.
void encode_genome_example(const EmbeddingRecord& rec, const std::string& chrom, int64_t start_bp, int64_t end_bp,
                           int64_t bin_len, std::string& out);

}  // namespace bend
