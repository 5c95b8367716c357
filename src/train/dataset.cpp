// The training data layer: manifest-driven shard lists, record decoding, epoch orders,
// cross-validation folds, BEND's collate and data/config checks (see dataset.hpp).
#include "bend/train/dataset.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/half.hpp"
#include "bend/core/log.hpp"
#include "bend/pipeline/manifest_check.hpp"
#include "bend/store/example.hpp"
#include "bend/store/h5_embeddings.hpp"
#include "bend/train/upsample.hpp"
#include "shard_reader.hpp"

namespace bend {
namespace {

using nlohmann::json;

long long ll(int64_t v) { return static_cast<long long>(v); }

// "[a, b, c]"
std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// manifest.json of `dir`, checked to be a complete bend embed output.
json load_manifest(const std::string& dir) {
  const std::string path = path_join(dir, "manifest.json");
  if (!path_exists(dir)) fail("embedding directory %s does not exist", dir.c_str());
  if (!path_exists(path)) {
    fail("%s has no manifest.json: not an output directory of bend embed (run bend embed --out %s)",
         dir.c_str(), dir.c_str());
  }
  json doc;
  try {
    doc = json::parse(read_file(path));
  } catch (const json::exception& e) {
    fail("%s: not valid JSON: %s", path.c_str(), e.what());
  }
  if (!doc.is_object() || doc.value("format", "") != "bend-embed-manifest") {
    fail("%s: not a bend embed manifest (\"format\" is not \"bend-embed-manifest\")", path.c_str());
  }
  const std::string status = doc.value("status", "");
  if (status != "complete") {
    fail("embedding in %s is not complete (manifest status \"%s\"): rerun bend embed", dir.c_str(),
         status.c_str());
  }
  check_manifest(doc, path);  // planned = recorded shards, splits and totals agree
  return doc;
}

// The split names a manifest knows, sorted.
std::vector<std::string> manifest_splits(const json& doc) {
  std::vector<std::string> names;
  if (doc.contains("splits") && doc["splits"].is_object()) {
    for (auto it = doc["splits"].begin(); it != doc["splits"].end(); ++it) names.push_back(it.key());
  }
  return names;
}

bool is_h5_path(const std::string& p) { return p.size() > 3 && p.compare(p.size() - 3, 3, ".h5") == 0; }

// Checks that a shard file is there, readable and of the recorded size.
void check_shard_file(const ShardInfo& s) {
  const int64_t size = file_size_or_neg(s.path);
  if (size < 0) {
    fail("shard %s listed in manifest.json is missing (rerun bend embed to rewrite it)",
         s.path.c_str());
  }
  int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot read shard %s: %s", s.path.c_str(), std::strerror(errno));
  ::close(fd);
  if (size != s.file_bytes) {
    fail("shard %s has %lld bytes but manifest.json records %lld (changed after bend embed? "
         "rerun bend embed)",
         s.path.c_str(), ll(size), ll(s.file_bytes));
  }
}

}  // namespace

// ---- SplitReader ----------------------------------------------------------------------------

SplitReader::SplitReader(const std::string& embed_dir, const std::vector<std::string>& splits,
                         int cache_shards)
    : dir_(embed_dir), splits_(splits) {
  if (splits.empty()) fail("%s: no splits given to read", embed_dir.c_str());
  const std::string mpath = path_join(embed_dir, "manifest.json");
  try {
    const json doc = load_manifest(embed_dir);
    model_ = doc.at("model").at("name").get<std::string>();
    dim_ = doc.at("model").at("dim").get<int64_t>();
    std::map<std::string, std::vector<ShardInfo>> by_split;
    for (const json& j : doc.at("shards")) {
      const ShardEntry e = parse_shard_entry(j, mpath);  // checked by load_manifest already
      ShardInfo s;
      s.split = e.split;
      s.path = path_join(embed_dir, e.file_name);
      s.shard_id = e.shard_id;
      s.n_records = e.n_records;
      s.file_bytes = static_cast<int64_t>(e.file_bytes);
      s.crc32c = e.file_crc32c;
      by_split[s.split].push_back(s);
    }
    for (size_t i = 0; i < splits.size(); ++i) {
      const std::string& name = splits[i];
      if (std::count(splits.begin(), splits.begin() + i, name)) {
        fail("split '%s' given twice for %s", name.c_str(), embed_dir.c_str());
      }
      std::vector<ShardInfo>& list = by_split[name];
      if (list.empty()) {
        fail("embedding in %s has no shards for split '%s' (splits there: %s)", embed_dir.c_str(),
             name.c_str(), join(manifest_splits(doc), ", ").c_str());
      }
      std::sort(list.begin(), list.end(),
                [](const ShardInfo& a, const ShardInfo& b) { return a.shard_id < b.shard_id; });
      for (const ShardInfo& s : list) shards_.push_back(s);
    }
  } catch (const json::exception& e) {
    fail("%s: malformed manifest: %s", mpath.c_str(), e.what());
  }
  if (dim_ <= 0) fail("%s: model dim %lld is not positive", mpath.c_str(), ll(dim_));
  if (shards_.size() > static_cast<size_t>(INT32_MAX)) fail("%s: too many shards", mpath.c_str());
  for (const ShardInfo& s : shards_) {
    if (s.n_records < 0 || s.n_records > INT32_MAX) {
      fail("%s: shard %s has %lld records (must be 0..%d)", mpath.c_str(), s.path.c_str(),
           ll(s.n_records), INT32_MAX);
    }
    if (!is_h5_path(s.path)) check_shard_file(s);
    records_per_shard_.push_back(s.n_records);
    n_records_ += s.n_records;
  }
  open_h5_files();
  cache_ = std::make_unique<ShardCache>(shards_, cache_shards);
}

// The shards of one `<split>.h5` are consecutive row ranges in shard-id order.
void SplitReader::open_h5_files() {
  h5_of_shard_.assign(shards_.size(), -1);
  std::map<std::string, int32_t> by_path;
  std::vector<int64_t> next_row;
  std::vector<std::vector<uint32_t>> shard_crcs;  // per file: its stored shard checksums
  std::vector<size_t> n_shards_seen;
  for (size_t i = 0; i < shards_.size(); ++i) {
    ShardInfo& s = shards_[i];
    if (!is_h5_path(s.path)) continue;
    auto it = by_path.find(s.path);
    if (it == by_path.end()) {
      if (!path_exists(s.path)) {
        fail("%s listed in manifest.json is missing (rerun bend embed to write it)", s.path.c_str());
      }
      h5_files_.push_back(std::make_unique<H5EmbeddingReader>(s.path, true));
      // Every table's and shard's CRC32C, as bend inspect checks them: altered embeddings or
      // labels are an error, not trained on (one streamed read of the file; docs/formats.md).
      const double t0 = wall_seconds();
      h5_files_.back()->verify();
      const double mib = static_cast<double>(file_size_or_neg(s.path)) / (1 << 20);
      log_info("verified %s: every checksum, %.1f MiB in %.3f s", s.path.c_str(), mib,
                wall_seconds() - t0);
      it = by_path.emplace(s.path, static_cast<int32_t>(h5_files_.size() - 1)).first;
      next_row.push_back(0);
      shard_crcs.push_back(h5_files_.back()->shard_crc32c());
      n_shards_seen.push_back(0);
    }
    h5_of_shard_[i] = it->second;
    // The file's k-th shard must carry the manifest's checksum (the file is not another run's).
    const std::vector<uint32_t>& stored = shard_crcs[it->second];
    const size_t k = n_shards_seen[it->second]++;
    if (k >= stored.size() || stored[k] != s.crc32c) {
      fail("%s: shard %zu (manifest shard %d): CRC32C %s, manifest.json says %08x (changed after "
           "bend embed? rerun bend embed)", s.path.c_str(), k, s.shard_id,
           k < stored.size() ? strfmt("%08x", stored[k]).c_str() : "(none)", s.crc32c);
    }
    s.first_row = next_row[it->second];
    next_row[it->second] += s.n_records;
  }
  for (size_t f = 0; f < h5_files_.size(); ++f) {
    const H5SplitLayout& L = h5_files_[f]->layout();
    if (next_row[f] != L.n_rows() || L.dim != dim_ || n_shards_seen[f] != shard_crcs[f].size()) {
      fail("%s: %lld rows of dim %lld, but manifest.json lists %lld rows of dim %lld (changed "
           "after bend embed? rerun bend embed)", h5_files_[f]->path().c_str(), ll(L.n_rows()),
           ll(L.dim), ll(next_row[f]), ll(dim_));
    }
  }
}

void SplitReader::read_h5(RecordRef r, Sample& out) {
  H5EmbeddingReader& file = *h5_files_[h5_of_shard_[r.shard]];
  const int64_t row = shards_[r.shard].first_row + r.record;
  std::string raw;
  H5Row meta;
  file.read_row_embedding(row, raw);
  file.read_row(row, meta);
  const H5SplitLayout& L = file.layout();
  out.index = meta.index;
  out.dim = L.dim;
  out.length = L.offsets[row + 1] - L.offsets[row];
  const size_t n_values = static_cast<size_t>(out.length * out.dim);
  out.inputs.resize(n_values);
  decode_floats(raw.data(), n_values, L.dtype, out.inputs.data());
  if (L.token_spans) {  // --token-level: each vector repeated over its span, as from TFRecord
    std::vector<int64_t> spans;
    file.read_row_spans(row, spans);
    try {
      upsample_token_level(spans, out);
    } catch (const Error& e) {
      fail("%s: row %lld: %s", file.path().c_str(), ll(row), e.what());
    }
  }
  if (meta.labels_float) {
    out.labels.assign(meta.label_floats.begin(), meta.label_floats.end());
  } else {
    out.labels.resize(meta.label_ints.size());
    for (size_t i = 0; i < meta.label_ints.size(); ++i) out.labels[i] = static_cast<float>(meta.label_ints[i]);
  }
  out.label_shape = meta.label_shape;
}

SplitReader::~SplitReader() = default;

int64_t SplitReader::n_shard_loads() const { return cache_->n_loads(); }

int64_t SplitReader::n_held_records() const { return cache_->n_held_records(); }

// True when `r` names an existing record.
bool SplitReader::has(RecordRef r) const {
  return r.shard >= 0 && static_cast<size_t>(r.shard) < shards_.size() && r.record >= 0 &&
         r.record < records_per_shard_[r.shard];
}

void SplitReader::plan(const std::vector<RecordRef>& reads) {
  for (const RecordRef& r : reads) {
    if (!has(r)) {
      fail("%s: cannot plan a read of (shard %d, record %d): %zu shards of splits %s",
           dir_.c_str(), r.shard, r.record, shards_.size(), join(splits_, ",").c_str());
    }
  }
  cache_->plan(reads);
}

std::string SplitReader::where(RecordRef r) const {
  if (r.shard < 0 || static_cast<size_t>(r.shard) >= shards_.size()) {
    return strfmt("%s: shard %d", dir_.c_str(), r.shard);
  }
  return strfmt("%s: record %d", shards_[r.shard].path.c_str(), r.record);
}

void SplitReader::read(RecordRef r, Sample& out, bool borrow, bool defer_crc) {
  out.borrowed_f32 = nullptr;
  out.unchecked = UncheckedRecord();
  if (!has(r)) {
    fail("%s: no record (shard %d, record %d): %zu shards of splits %s", dir_.c_str(), r.shard,
         r.record, shards_.size(), join(splits_, ",").c_str());
  }
  if (h5_of_shard_[r.shard] >= 0) {
    read_h5(r, out);
    check_labels(r, out);
    return;
  }
  size_t n_bytes = 0;
  UncheckedRecord unchecked;  // pending only with defer_crc on an uncompressed shard
  const char* data = cache_->get(r.shard, r.record, n_bytes, borrow && defer_crc ? &unchecked : nullptr);
  EmbeddingRecord view;
  try {
    decode_embedding_view(data, n_bytes, view);
  } catch (const Error& e) {
    if (unchecked.pending()) unchecked.check();  // corrupt bytes: say so, not what they broke
    fail("%s: %s", where(r).c_str(), e.what());
  }
  if (view.dim != dim_) {
    if (unchecked.pending()) unchecked.check();
    fail("%s: embedding dim %lld but manifest.json says %lld", where(r).c_str(), ll(view.dim),
         ll(dim_));
  }
  const DType dtype = parse_dtype(view.dtype);
  const bool borrowed = borrow && dtype == DType::kFloat32 && view.token_spans.empty() &&
                        __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
  if (unchecked.pending() && !borrowed) unchecked.check();  // decoded here: checked first
  out.index = view.index;
  out.length = view.length;
  out.dim = view.dim;
  const size_t n_values = static_cast<size_t>(view.length * view.dim);
  if (borrowed) {
    out.inputs.clear();
    out.borrowed_f32 = view.inputs;  // decode_floats would only copy them
    if (unchecked.pending()) out.unchecked = std::move(unchecked);
  } else {
    out.inputs.resize(n_values);
    decode_floats(view.inputs, n_values, dtype, out.inputs.data());
  }
  if (!view.token_spans.empty()) upsample_token_level(view.token_spans, out);  // --token-level
  if (view.outputs_is_float) {
    out.labels.assign(view.outputs_float.begin(), view.outputs_float.end());
  } else {
    out.labels.resize(view.outputs_int.size());
    for (size_t i = 0; i < view.outputs_int.size(); ++i) {
      out.labels[i] = static_cast<float>(view.outputs_int[i]);
    }
  }
  out.label_shape = view.outputs_shape;
  check_labels(r, out);
}

void SplitReader::set_label_range(float lo, float hi, bool integral) {
  check_labels_ = true;
  label_lo_ = lo;
  label_hi_ = hi;
  label_integral_ = integral;
}

void SplitReader::check_labels(RecordRef r, const Sample& s) const {
  if (!check_labels_) return;
  for (size_t i = 0; i < s.labels.size(); ++i) {
    const float v = s.labels[i];
    if (v == kLabelPad) continue;
    if (std::isfinite(v) && v >= label_lo_ && v <= label_hi_ && (!label_integral_ || v == std::floor(v))) continue;
    fail("%s: BED row %lld, label value %zu is %g; the training config's criterion needs %s in "
         "%g..%g (corrupt labels, or labels of another task)",
         where(r).c_str(), ll(s.index), i, static_cast<double>(v),
         label_integral_ ? "class ids" : "values", static_cast<double>(label_lo_),
         static_cast<double>(label_hi_));
  }
}

// ---- order ----------------------------------------------------------------------------------

uint64_t splitmix64(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ull;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

ShuffleRng::ShuffleRng(uint64_t seed, uint64_t stream) {
  uint64_t st = stream;
  uint64_t x = seed ^ splitmix64(st);
  for (uint64_t& s : s_) s = splitmix64(x);
}

uint64_t ShuffleRng::next() {
  auto rotl = [](uint64_t v, int k) { return (v << k) | (v >> (64 - k)); };
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t ShuffleRng::below(uint64_t n) {
  BEND_ASSERT(n > 0);
  unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

std::vector<RecordRef> epoch_order(const std::vector<int64_t>& records_per_shard, uint64_t seed,
                                   int64_t epoch, int64_t buffer) {
  if (buffer < 1) fail("shuffle buffer must hold at least 1 record, got %lld", ll(buffer));
  ShuffleRng rng(seed, static_cast<uint64_t>(epoch));
  // 1. The shards in a seeded permutation (Fisher-Yates from the back).
  std::vector<int32_t> perm(records_per_shard.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int32_t>(i);
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.below(i)]);
  // 2. Their records in file order through the buffer: once it is full, each incoming record
  //    takes the slot of a uniformly chosen one, which is emitted.
  int64_t total = 0;
  for (int64_t n : records_per_shard) total += n;
  std::vector<RecordRef> out;
  out.reserve(static_cast<size_t>(total));
  std::vector<RecordRef> buf;
  buf.reserve(static_cast<size_t>(std::min(buffer, total)));
  for (int32_t shard : perm) {
    for (int64_t rec = 0; rec < records_per_shard[shard]; ++rec) {
      const RecordRef in{shard, static_cast<int32_t>(rec)};
      if (static_cast<int64_t>(buf.size()) < buffer) {
        buf.push_back(in);
        continue;
      }
      const size_t j = rng.below(buf.size());
      out.push_back(buf[j]);
      buf[j] = in;
    }
  }
  // 3. Drain: emit uniformly chosen entries until the buffer is empty.
  while (!buf.empty()) {
    const size_t j = rng.below(buf.size());
    out.push_back(buf[j]);
    buf[j] = buf.back();
    buf.pop_back();
  }
  return out;
}

std::vector<RecordRef> sequential_order(const std::vector<int64_t>& records_per_shard) {
  std::vector<RecordRef> out;
  for (size_t s = 0; s < records_per_shard.size(); ++s) {
    for (int64_t r = 0; r < records_per_shard[s]; ++r) {
      out.push_back(RecordRef{static_cast<int32_t>(s), static_cast<int32_t>(r)});
    }
  }
  return out;
}

SplitNames cv_fold_splits(int fold, int n_parts) {
  if (n_parts < 3) fail("cross-validation needs at least 3 parts, got %d", n_parts);
  if (fold < 1 || fold > n_parts) {
    fail("cross-validation fold %d is outside 1..%d (fold k tests on part k)", fold, n_parts);
  }
  const int valid = fold == n_parts ? 1 : fold + 1;
  SplitNames s;
  s.test.push_back("part" + std::to_string(fold));
  s.valid.push_back("part" + std::to_string(valid));
  for (int k = 1; k <= n_parts; ++k) {
    if (k != fold && k != valid) s.train.push_back("part" + std::to_string(k));
  }
  return s;
}

// ---- batches --------------------------------------------------------------------------------

// Checks that `s` agrees with `ref` (the batch's first sample) in dim and label layout.
void check_same_layout(const Sample& ref, const Sample& s) {
  if (s.dim != ref.dim) {
    fail("collate: BED row %lld has embedding dim %lld but BED row %lld has %lld", ll(s.index),
         ll(s.dim), ll(ref.index), ll(ref.dim));
  }
  bool same = s.label_shape.size() == ref.label_shape.size();
  for (size_t d = 1; same && d < s.label_shape.size(); ++d) {
    same = s.label_shape[d] == ref.label_shape[d];
  }
  if (!same) {
    fail("collate: BED row %lld has label shape %s but BED row %lld has %s (only the first "
         "dimension may differ)",
         ll(s.index), shape_str(s.label_shape).c_str(), ll(ref.index),
         shape_str(ref.label_shape).c_str());
  }
  int64_t n_labels = 1;
  for (int64_t d : s.label_shape) n_labels *= d;
  if (n_labels != static_cast<int64_t>(s.labels.size()) ||
      (!s.borrowed_f32 && s.length * s.dim != static_cast<int64_t>(s.inputs.size()))) {
    fail("collate: BED row %lld: %zu inputs for shape [%lld, %lld], %zu labels for shape %s",
         ll(s.index), s.inputs.size(), ll(s.length), ll(s.dim), s.labels.size(),
         shape_str(s.label_shape).c_str());
  }
}

void collate(const std::vector<Sample>& samples, Batch& out) {
  out.n = static_cast<int64_t>(samples.size());
  out.max_len = 0;
  out.dim = samples.empty() ? 0 : samples[0].dim;
  out.channels_first = false;
  out.lengths.clear();
  out.indices.clear();
  out.label_shape.assign(1, out.n);
  if (samples.empty()) {
    out.inputs.clear();
    out.labels.clear();
    return;
  }
  const Sample& ref = samples[0];
  const size_t rank = ref.label_shape.size();
  int64_t label_len_max = 0, rest = 1;  // first label dim (padded), product of the others
  for (size_t d = 1; d < rank; ++d) rest *= ref.label_shape[d];
  for (const Sample& s : samples) {
    check_same_layout(ref, s);
    out.max_len = std::max(out.max_len, s.length);
    if (rank > 0) label_len_max = std::max(label_len_max, s.label_shape[0]);
    out.lengths.push_back(s.length);
    out.indices.push_back(s.index);
  }
  const int64_t label_row = rank > 0 ? label_len_max * rest : 1;  // label values per sample
  out.inputs.assign(static_cast<size_t>(out.n * out.max_len * out.dim), 0.0f);
  out.labels.assign(static_cast<size_t>(out.n * label_row), kLabelPad);
  for (int64_t i = 0; i < out.n; ++i) {
    const Sample& s = samples[static_cast<size_t>(i)];
    std::copy(s.inputs.begin(), s.inputs.end(), out.inputs.begin() + i * out.max_len * out.dim);
    std::copy(s.labels.begin(), s.labels.end(), out.labels.begin() + i * label_row);
  }
  if (rank > 0) {
    out.label_shape.push_back(label_len_max);
    out.label_shape.insert(out.label_shape.end(), ref.label_shape.begin() + 1, ref.label_shape.end());
  }
}

// ---- checks ---------------------------------------------------------------------------------

namespace {

// Class ids must be integers in [0, n_classes) or the padding value.
void check_class_ids(const SplitReader& r, const Sample& s, int64_t n_classes) {
  for (float v : s.labels) {
    if (v == kLabelPad) continue;
    if (v < 0 || v >= static_cast<float>(n_classes) || v != std::floor(v)) {
      fail("labels in %s: BED row %lld has class id %g, outside 0..%lld for the training "
           "config's %lld classes",
           r.dir().c_str(), ll(s.index), static_cast<double>(v), ll(n_classes - 1), ll(n_classes));
    }
  }
}

}  // namespace

void check_compatible(const SplitReader& r, const Sample& first, const DataExpectation& want) {
  const char* dir = r.dir().c_str();
  if (want.input_dim > 0 && r.dim() != want.input_dim) {
    fail("embeddings in %s have dim %lld (model %s) but the training config expects input dim %lld",
         dir, ll(r.dim()), r.model().c_str(), ll(want.input_dim));
  }
  if (first.dim != r.dim()) {
    fail("embeddings in %s: BED row %lld has dim %lld but manifest.json says %lld", dir,
         ll(first.index), ll(first.dim), ll(r.dim()));
  }
  if (want.n_outputs <= 0) return;
  int64_t n_labels = first.label_shape.empty() ? 0 : 1;
  for (int64_t d : first.label_shape) n_labels *= d;
  if (n_labels == 0) {
    fail("embeddings in %s have no labels (BED row %lld: label shape %s) but the training config "
         "needs %lld outputs: embed a BED with a label column or HDF5 labels",
         dir, ll(first.index), shape_str(first.label_shape).c_str(), ll(want.n_outputs));
  }
  const int64_t n_pos = want.output_window > 0 ? first.length / want.output_window : first.length;
  if (n_pos < 1) {
    fail("embeddings in %s: BED row %lld has length %lld, shorter than the output window %lld",
         dir, ll(first.index), ll(first.length), ll(want.output_window));
  }
  // Label shapes a head of n_pos positions x n_outputs values accepts (BEND squeezes size-1 dims).
  std::vector<std::vector<int64_t>> ok;
  if (want.class_ids) {
    ok.push_back({n_pos});
  } else {
    ok.push_back({n_pos, want.n_outputs});
    if (n_pos == 1) ok.push_back({want.n_outputs});
    if (want.n_outputs == 1) ok.push_back({n_pos});
  }
  if (std::find(ok.begin(), ok.end(), first.label_shape) == ok.end()) {
    std::vector<std::string> names;
    for (const auto& s : ok) names.push_back(shape_str(s));
    fail("labels in %s do not fit the training config: BED row %lld has labels %s but the head "
         "gives %lld position(s) (length %lld, output window %lld) of %lld %s, so labels must be %s",
         dir, ll(first.index), shape_str(first.label_shape).c_str(), ll(n_pos), ll(first.length),
         ll(want.output_window), ll(want.n_outputs),
         want.class_ids ? "class(es) (one class id per position)" : "output(s) (label_depth)",
         join(names, " or ").c_str());
  }
  if (want.class_ids) check_class_ids(r, first, want.n_outputs);
}

}  // namespace bend
