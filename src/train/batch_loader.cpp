#include "batch_loader.hpp"

#include "head_batch.hpp"

namespace bend {

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
                         int size, BatchPool& pool, int64_t first_batch)
    : reader_(reader),
      order_(std::move(order)),
      batch_size_(batch_size),
      n_batches_((static_cast<int64_t>(order_.size()) + batch_size - 1) / batch_size),
      first_batch_(first_batch),
      rank_(rank),
      size_(size),
      pool_(pool) {
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
    Sample sample;  // one record at a time, written into the batch
    HeadBatchBuilder builder;
    for (int64_t b = first_batch_; b < n_batches_; ++b) {
      int64_t end = std::min<int64_t>(static_cast<int64_t>(order_.size()), (b + 1) * batch_size_);
      auto slice = rank_slice(b * batch_size_, end, rank_, size_);
      Batch batch = pool_.take();
      builder.begin(slice.second - slice.first, batch);
      for (int64_t i = slice.first; i < slice.second; ++i) {
        reader_.read(order_[i], sample, /*borrow=*/true);  // copied into the batch at once
        builder.add(sample);
      }
      builder.finish();
      if (!queue_.push(std::move(batch))) return;
    }
  } catch (...) {
    error_ = std::current_exception();
  }
  queue_.close();
}

bool BatchLoader::next(Batch& out) {
  pool_.give(std::move(out));
  out = Batch();
  if (queue_.pop(out)) return true;
  if (error_) std::rethrow_exception(error_);
  return false;
}

}  // namespace bend
