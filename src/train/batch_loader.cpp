#include "batch_loader.hpp"

#include <algorithm>

namespace bend {

void GlobalPadding::put(int64_t max_len, int64_t label_len, double* v) const {
  std::fill(v, v + n_values(), 0.0);
  if (size_ <= 1) return;
  v[2 * rank_] = static_cast<double>(max_len);  // exact: lengths are far below 2^53
  v[2 * rank_ + 1] = static_cast<double>(label_len);
}

void GlobalPadding::take(const double* v) {
  len_ = label_len_ = 0;
  for (int r = 0; r < n_values() / 2; ++r) {
    len_ = std::max(len_, static_cast<int64_t>(v[2 * r]));
    label_len_ = std::max(label_len_, static_cast<int64_t>(v[2 * r + 1]));
  }
}

void GlobalPadding::pad(Batch& b) const {
  if (size_ > 1) pad_batch_to(b, len_, label_len_);
}

Batch BatchPool::take() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (kept_.empty()) return Batch();
  Batch b = std::move(kept_.back());
  kept_.pop_back();
  return b;
}

void BatchPool::give(Batch&& b) {
  if (b.inputs.empty()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (kept_.size() < kMaxKept) kept_.push_back(std::move(b));
}

BatchLoader::BatchLoader(SplitReader& reader, std::vector<RecordRef> order, int64_t batch_size, int rank,
                         int size, BatchPool& pool, int64_t first_batch, ParallelRows parallel)
    : reader_(reader),
      order_(std::move(order)),
      batch_size_(batch_size),
      n_batches_((static_cast<int64_t>(order_.size()) + batch_size - 1) / batch_size),
      first_batch_(first_batch),
      rank_(rank),
      size_(size),
      pool_(pool),
      parallel_(std::move(parallel)) {
  // Tell the reader what this rank will read, in order, so compressed shards are inflated once.
  std::vector<RecordRef> mine;
  for (int64_t b = first_batch_; b < n_batches_; ++b) {
    int64_t end = std::min<int64_t>(static_cast<int64_t>(order_.size()), (b + 1) * batch_size_);
    auto slice = rank_slice(b * batch_size_, end, rank_, size_);
    mine.insert(mine.end(), order_.begin() + slice.first, order_.begin() + slice.second);
  }
  reader_.plan(mine);
  thread_ = std::thread([this] { run(); });
}

BatchLoader::~BatchLoader() {
  queue_.close(true);
  thread_.join();
}

void BatchLoader::run() {
  try {
    Sample sample;  // one record at a time, written into the batch (or deferred)
    HeadBatchBuilder builder;
    // Deferred only where the builder would copy them unchanged (not transposed).
    const bool defer = !channels_first_for_dim(reader_.dim());
    for (int64_t b = first_batch_; b < n_batches_; ++b) {
      int64_t end = std::min<int64_t>(static_cast<int64_t>(order_.size()), (b + 1) * batch_size_);
      auto slice = rank_slice(b * batch_size_, end, rank_, size_);
      Loaded l;
      l.batch = pool_.take();
      builder.begin(slice.second - slice.first, l.batch, &l.deferred);
      for (int64_t i = slice.first; i < slice.second; ++i) {
        reader_.read(order_[i], sample, /*borrow=*/true, defer);
        builder.add(sample);
      }
      builder.finish();
      if (!queue_.push(std::move(l))) return;
    }
  } catch (...) {
    error_ = std::current_exception();
  }
  queue_.close();
}

// Copies and checks the deferred rows on the compute threads; the first bad row (in batch order,
// whatever the threads did) is the error.
void BatchLoader::fill_deferred(Loaded& l) {
  const int64_t n = static_cast<int64_t>(l.deferred.size());
  if (n == 0) return;
  std::vector<uint32_t> crc(static_cast<size_t>(n), 0);
  auto body = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) crc[i] = fill_deferred_row(l.batch, l.deferred[i]);
  };
  if (parallel_) {
    parallel_(n, body);
  } else {
    body(0, n);
  }
  for (int64_t i = 0; i < n; ++i) l.deferred[i].unchecked.check(crc[i]);  // the record's CRC error
  l.deferred.clear();  // lets go of the mappings
}

bool BatchLoader::peek_shape(int64_t& max_len, int64_t& label_len) {
  max_len = label_len = 0;
  if (!has_peeked_) has_peeked_ = queue_.pop(peeked_);
  if (!has_peeked_) {
    if (error_) std::rethrow_exception(error_);
    return false;
  }
  const Batch& b = peeked_.batch;
  if (b.n > 0) {
    max_len = b.max_len;
    label_len = b.label_shape.size() >= 2 ? b.label_shape[1] : 0;
  }
  return true;
}

bool BatchLoader::next(Batch& out) {
  pool_.give(std::move(out));
  out = Batch();
  Loaded l;
  bool got = has_peeked_;
  if (got) {
    l = std::move(peeked_);
    peeked_ = Loaded();
    has_peeked_ = false;
  } else {
    got = queue_.pop(l);
  }
  if (got) {
    fill_deferred(l);
    out = std::move(l.batch);
    return true;
  }
  if (error_) std::rethrow_exception(error_);
  return false;
}

}  // namespace bend
