// ShardCache: random access to TFRecord records (see shard_reader.hpp).
#include "shard_reader.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "bend/core/bytes.hpp"
#include "bend/core/crc32c.hpp"
#include "bend/core/error.hpp"
#include "bend/core/mapped_file.hpp"
#include "bend/store/tfrecord.hpp"

namespace bend {
namespace {

constexpr int kMaxMapped = 128;  // uncompressed shards kept mapped at once (LRU beyond)
constexpr size_t kHeaderBytes = 12;  // uint64 length + uint32 masked crc of it
constexpr size_t kFooterBytes = 4;   // uint32 masked crc of the data



unsigned long long ull(uint64_t v) { return static_cast<unsigned long long>(v); }

[[noreturn]] void data_crc_mismatch(const char* path, int64_t record, uint64_t offset, uint32_t stored,
                                    uint32_t computed, uint64_t n_bytes) {
  fail("%s: record %lld at byte offset %llu: data crc32c mismatch (stored 0x%08x, computed "
       "0x%08x; %llu data bytes)",
       path, static_cast<long long>(record), ull(offset), stored, computed, ull(n_bytes));
}

}  // namespace

uint32_t UncheckedRecord::crc() const { return crc32c(data, n_bytes); }

void UncheckedRecord::check(uint32_t computed) const {
  if (computed != stored_crc) {
    data_crc_mismatch(path ? path->c_str() : "?", record, offset, stored_crc, computed, n_bytes);
  }
}

// In blocks that stay in the L1/L2 cache between the CRC and the copy: one trip through memory
// instead of two (the copy of a wide batch is memory-bound).
uint32_t UncheckedRecord::copy_and_crc(const char* values, size_t n_values_bytes, void* dst) const {
  BEND_ASSERT(values >= data && n_values_bytes <= n_bytes &&
              static_cast<size_t>(values - data) <= n_bytes - n_values_bytes);
  constexpr size_t kBlock = 64 << 10;
  const size_t v0 = static_cast<size_t>(values - data), v1 = v0 + n_values_bytes;
  char* out = static_cast<char*>(dst);
  uint32_t crc = 0;
  for (size_t b0 = 0; b0 < n_bytes; b0 += kBlock) {
    const size_t b1 = std::min(n_bytes, b0 + kBlock);
    crc = crc32c_extend(crc, data + b0, b1 - b0);
    const size_t c0 = std::max(b0, v0), c1 = std::min(b1, v1);
    if (c0 < c1) std::memcpy(out + (c0 - v0), data + c0, c1 - c0);
  }
  return crc;
}

ShardCache::ShardCache(std::vector<ShardInfo> shards, int capacity)
    : shards_(std::move(shards)), capacity_(capacity < 1 ? 1 : capacity) {
  compressed_.resize(shards_.size());
  plain_.resize(shards_.size());
  for (size_t i = 0; i < shards_.size(); ++i) {
    compressed_[i] = compression_from_path(shards_[i].path) != Compression::kNone;
  }
}

ShardCache::~ShardCache() = default;

const char* ShardCache::get(int32_t shard, int64_t record, size_t& n_bytes, UncheckedRecord* defer) {
  BEND_ASSERT(shard >= 0 && static_cast<size_t>(shard) < shards_.size());
  BEND_ASSERT(record >= 0 && record < shards_[shard].n_records);
  ++clock_;
  if (defer) *defer = UncheckedRecord();
  return compressed_[shard] ? get_packed(shard, record, n_bytes)
                            : get_plain(shard, record, n_bytes, defer);
}

// Maps the shard's file (its manifest size), unmapping the least recently used one when too
// many are mapped.
const MappedFile& ShardCache::mapped(int32_t shard) {
  Plain& p = plain_[shard];
  if (p.map) return *p.map;
  if (n_mapped_ >= kMaxMapped) {
    Plain* oldest = nullptr;
    for (Plain& q : plain_) {
      if (q.map && (!oldest || q.last_use < oldest->last_use)) oldest = &q;
    }
    oldest->map.reset();
    --n_mapped_;
  }
  p.map = std::make_shared<MappedFile>(shards_[shard].path, static_cast<uint64_t>(shards_[shard].file_bytes));
  ++n_mapped_;
  return *p.map;
}

// Hops over the record headers of an uncompressed shard, checking each length CRC, and
// records where every record starts. The record count must match the manifest.
void ShardCache::build_index(int32_t shard) {
  const ShardInfo& info = shards_[shard];
  Plain& p = plain_[shard];
  const MappedFile& m = mapped(shard);
  const uint64_t size = m.size();
  std::vector<uint64_t> offsets;
  offsets.reserve(static_cast<size_t>(info.n_records) + 1);
  uint64_t off = 0;
  while (off < size) {
    const int64_t rec = static_cast<int64_t>(offsets.size());
    if (size - off < kHeaderBytes) {
      fail("%s: record %lld at byte offset %llu: truncated record header (%llu of %zu bytes)",
           info.path.c_str(), static_cast<long long>(rec), ull(off), ull(size - off), kHeaderBytes);
    }
    const char* header = m.data() + off;
    if (crc32c_mask(crc32c(header, 8)) != load_le32(header + 8)) {
      fail("%s: record %lld at byte offset %llu: length crc32c mismatch (corrupt length field)",
           info.path.c_str(), static_cast<long long>(rec), ull(off));
    }
    const uint64_t len = load_le64(header);
    if (len > size - off - kHeaderBytes || size - off - kHeaderBytes - len < kFooterBytes) {
      fail("%s: record %lld at byte offset %llu: truncated record: length %llu but only %llu "
           "bytes left in the file",
           info.path.c_str(), static_cast<long long>(rec), ull(off), ull(len),
           ull(size - off - kHeaderBytes));
    }
    offsets.push_back(off);
    off += kHeaderBytes + len + kFooterBytes;
  }
  if (static_cast<int64_t>(offsets.size()) != info.n_records) {
    fail("%s: has %zu records but manifest.json records %lld (shard changed after bend embed? "
         "rerun bend embed)",
         info.path.c_str(), offsets.size(), static_cast<long long>(info.n_records));
  }
  offsets.push_back(size);
  p.offsets.swap(offsets);
  ++n_loads_;
}

// The record's bytes where they lie in the page cache (no copy), both CRCs checked (the data
// CRC left to the caller with `defer`).
const char* ShardCache::get_plain(int32_t shard, int64_t record, size_t& n_bytes, UncheckedRecord* defer) {
  Plain& p = plain_[shard];
  p.last_use = clock_;
  if (p.offsets.empty()) build_index(shard);
  const MappedFile& m = mapped(shard);
  const uint64_t off = p.offsets[record];
  const size_t total = static_cast<size_t>(p.offsets[record + 1] - off);
  const char* rec = m.data() + off;
  // Start reading the whole record in at once when it is not cached (page faults alone would
  // read it a readahead window at a time); nearly free when it is.
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t first = reinterpret_cast<uintptr_t>(rec) & ~(page - 1);
  ::madvise(reinterpret_cast<void*>(first), reinterpret_cast<uintptr_t>(rec) + total - first, MADV_WILLNEED);
  const char* path = shards_[shard].path.c_str();
  const uint64_t len = load_le64(rec);
  if (crc32c_mask(crc32c(rec, 8)) != load_le32(rec + 8) || len != total - kHeaderBytes - kFooterBytes) {
    fail("%s: record %lld at byte offset %llu: length field changed since the shard was indexed",
         path, static_cast<long long>(record), ull(off));
  }
  const char* data = rec + kHeaderBytes;
  const uint32_t stored = crc32c_unmask(load_le32(data + len));
  n_bytes = static_cast<size_t>(len);
  if (defer) {
    defer->data = data;
    defer->n_bytes = n_bytes;
    defer->stored_crc = stored;
    defer->keep = p.map;
    defer->path = &shards_[shard].path;
    defer->record = record;
    defer->offset = off;
    return data;
  }
  const uint32_t computed = crc32c(data, n_bytes);
  if (stored != computed) data_crc_mismatch(path, record, off, stored, computed, len);
  return data;
}

void ShardCache::plan(const std::vector<RecordRef>& reads) {
  planned_.assign(shards_.size(), Planned{});
  for (const RecordRef& r : reads) {
    BEND_ASSERT(r.shard >= 0 && static_cast<size_t>(r.shard) < shards_.size());
    BEND_ASSERT(r.record >= 0 && r.record < shards_[r.shard].n_records);
    if (!compressed_[r.shard]) continue;
    Planned& p = planned_[r.shard];
    if (p.wanted.empty()) p.wanted.assign(static_cast<size_t>(shards_[r.shard].n_records), 0);
    if (!p.wanted[r.record]) {
      p.wanted[r.record] = 1;
      ++p.n_wanted;
    }
  }
}

int64_t ShardCache::n_held_records() const {
  int64_t n = 0;
  for (const Planned& p : planned_) {
    if (p.loaded) n += p.n_wanted;
  }
  for (const Unpacked& u : unpacked_) {
    if (u.shard >= 0) n += static_cast<int64_t>(u.records.size());
  }
  return n;
}

// Reads every record of a compressed shard into `out` (TFRecordReader checks every CRC), only
// those with keep[i] != 0 when `keep` is given; the count must match the manifest.
void ShardCache::unpack(int32_t shard, std::vector<std::string>& out,
                        const std::vector<char>* keep) {
  const ShardInfo& info = shards_[shard];
  out.clear();
  out.resize(static_cast<size_t>(info.n_records));
  TFRecordReader reader(info.path, compression_from_path(info.path));
  std::string scratch;
  for (int64_t i = 0; i < info.n_records; ++i) {
    std::string& dst = !keep || (*keep)[i] ? out[static_cast<size_t>(i)] : scratch;
    if (!reader.next(dst)) {
      fail("%s: has %lld records but manifest.json records %lld (shard changed after bend "
           "embed? rerun bend embed)",
           info.path.c_str(), static_cast<long long>(i), static_cast<long long>(info.n_records));
    }
  }
  if (reader.next(scratch)) {
    fail("%s: has more than the %lld records manifest.json records (shard changed after bend "
         "embed? rerun bend embed)",
         info.path.c_str(), static_cast<long long>(info.n_records));
  }
  ++n_loads_;
}

// A planned, not yet read record: moved into buf_ (decompressing its shard on first use) and
// freed from the plan; the shard's memory goes when its last planned record is read.
bool ShardCache::take_planned(int32_t shard, int64_t record) {
  if (planned_.empty()) return false;
  Planned& p = planned_[shard];
  if (p.wanted.empty() || !p.wanted[record]) return false;
  if (!p.loaded) {
    unpack(shard, p.records, &p.wanted);
    p.loaded = true;
  }
  buf_.swap(p.records[record]);
  std::string().swap(p.records[record]);
  p.wanted[record] = 0;
  if (--p.n_wanted == 0) {
    std::vector<std::string>().swap(p.records);
    std::vector<char>().swap(p.wanted);
    p.loaded = false;
  }
  return true;
}

// Planned records first; otherwise the whole shard in the least recently used cache slot.
const char* ShardCache::get_packed(int32_t shard, int64_t record, size_t& n_bytes) {
  if (take_planned(shard, record)) {
    n_bytes = buf_.size();
    return buf_.data();
  }
  Unpacked* slot = nullptr;
  for (Unpacked& u : unpacked_) {
    if (u.shard == shard) slot = &u;
  }
  if (!slot) {
    if (static_cast<int>(unpacked_.size()) < capacity_) {
      unpacked_.emplace_back();
      slot = &unpacked_.back();
    } else {
      slot = &unpacked_[0];
      for (Unpacked& u : unpacked_) {
        if (u.last_use < slot->last_use) slot = &u;
      }
    }
    slot->shard = -1;  // invalid until fully read
    unpack(shard, slot->records, nullptr);
    slot->shard = shard;
  }
  slot->last_use = clock_;
  const std::string& rec = slot->records[static_cast<size_t>(record)];
  n_bytes = rec.size();
  return rec.data();
}

}  // namespace bend
