#include "batch_loader.hpp"

namespace bend {

BatchLoader::BatchLoader(SplitReader& reader, std::vector<RecordRef> order, int64_t batch_size, int rank,
                         int size, int64_t first_batch)
    : reader_(reader),
      order_(std::move(order)),
      batch_size_(batch_size),
      n_batches_((static_cast<int64_t>(order_.size()) + batch_size - 1) / batch_size),
      first_batch_(first_batch),
      rank_(rank),
      size_(size) {
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
    std::vector<Sample> samples;
    for (int64_t b = first_batch_; b < n_batches_; ++b) {
      int64_t end = std::min<int64_t>(static_cast<int64_t>(order_.size()), (b + 1) * batch_size_);
      auto slice = rank_slice(b * batch_size_, end, rank_, size_);
      samples.resize(static_cast<size_t>(slice.second - slice.first));
      for (int64_t i = slice.first; i < slice.second; ++i) reader_.read(order_[i], samples[i - slice.first]);
      Batch batch;
      if (!samples.empty()) collate(samples, batch);
      if (!queue_.push(std::move(batch))) return;
    }
  } catch (...) {
    error_ = std::current_exception();
  }
  queue_.close();
}

bool BatchLoader::next(Batch& out) {
  if (queue_.pop(out)) return true;
  if (error_) std::rethrow_exception(error_);
  return false;
}

}  // namespace bend
