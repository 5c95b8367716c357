#include "bend/pipeline/scheduler.hpp"

#include <chrono>
#include <iterator>
#include <thread>

#include "bend/core/bytes.hpp"
#include "bend/core/log.hpp"
#include "bend/core/stop.hpp"
#include "bend/dist/comm.hpp"

namespace bend {

enum : int { kTagRequest = 101, kTagAssign = 102, kTagFinal = 103 };
enum : uint8_t { kAssignNone = 0, kAssignShard = 1, kAssignStopping = 2 };  // ASSIGN flags

Dispatcher::Dispatcher(Comm& comm, std::vector<ShardSpec> todo, BuildFn build, DoneFn on_done,
                       ProgressMeter& progress, const RankCounters& local)
    : comm_(comm),
      todo_(std::make_move_iterator(todo.begin()), std::make_move_iterator(todo.end())),
      build_(std::move(build)),
      on_done_(std::move(on_done)),
      progress_(progress),
      local_(local) {}

void Dispatcher::stop(int signal_number, int from_rank) {
  if (stopping_.exchange(true)) return;
  stop_signal_ = signal_number;
  log_info("stop requested by %s (rank %d): no new shards; the shards being embedded finish "
           "(a second SIGINT/SIGTERM exits at once)", signal_name(signal_number).c_str(), from_rank);
}

bool Dispatcher::stopping() const { return stopping_ || stop_requested(); }

size_t Dispatcher::n_left() {
  std::lock_guard<std::mutex> lock(mutex_);
  return todo_.size();
}

bool Dispatcher::take(ShardSpec& spec) {
  if (!stopping_ && stop_requested()) stop(stop_signal(), comm_.rank());
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_ || todo_.empty()) return false;
  spec = std::move(todo_.front());
  todo_.pop_front();
  return true;
}

bool Dispatcher::next(ShardWork& out) {
  ShardSpec spec;
  if (!take(spec)) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  out = build_(spec);
  return true;
}

void Dispatcher::report(const ShardDone& done) {
  std::lock_guard<std::mutex> lock(mutex_);
  on_done_(done);
}

void Dispatcher::handle_reports(int rank, const std::string& msg, bool final_msg) {
  ByteReader in(msg.data(), msg.size());
  int64_t rows_done = in.get<int64_t>();
  int64_t bp_done = in.get<int64_t>();
  int32_t remote_stop = in.get<int32_t>();
  if (remote_stop != 0) stop(remote_stop, rank);
  uint64_t n = in.get<uint64_t>();
  for (uint64_t i = 0; i < n; ++i) {
    ShardDone d = decode_done(in);
    std::lock_guard<std::mutex> lock(mutex_);
    on_done_(d);
  }
  progress_.update(rank, rows_done, bp_done);
}

void Dispatcher::serve() {
  int n_remote_active = comm_.size() - 1;
  std::string msg;
  int src = 0;
  while (n_remote_active > 0 || !local_done_) {
    bool idle = true;
    if (comm_.try_recv_any(kTagRequest, src, msg)) {  // protocol steps 1-2
      idle = false;
      handle_reports(src, msg, false);
      std::string reply;
      ByteWriter bw(reply);
      ShardSpec spec;
      if (take(spec)) {
        bw.put<uint8_t>(kAssignShard);
        ShardWork work;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          work = build_(spec);
        }
        encode_work(work, reply);
      } else if (stopping_) {
        bw.put<uint8_t>(kAssignStopping);
        bw.put<int32_t>(stop_signal_);
      } else {
        bw.put<uint8_t>(kAssignNone);
      }
      comm_.send(src, kTagAssign, reply);
    }
    if (comm_.try_recv_any(kTagFinal, src, msg)) {  // protocol step 3
      idle = false;
      handle_reports(src, msg, true);
      --n_remote_active;
    }
    if (!stopping_ && stop_requested()) stop(stop_signal(), 0);
    progress_.update(0, local_.rows_done, local_.bp_done);
    progress_.maybe_print();
    if (idle) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  progress_.update(0, local_.rows_done, local_.bp_done);
}

std::string RemoteSource::take_message() {
  std::string msg;
  ByteWriter bw(msg);
  bw.put<int64_t>(counters_.rows_done);
  bw.put<int64_t>(counters_.bp_done);
  bw.put<int32_t>(stop_signal());  // this rank's own stop request (protocol step 1)
  std::lock_guard<std::mutex> lock(mutex_);
  bw.put<uint64_t>(pending_.size());
  for (const ShardDone& d : pending_) encode_done(d, msg);
  pending_.clear();
  return msg;
}

bool RemoteSource::next(ShardWork& out) {
  comm_.send(0, kTagRequest, take_message());
  std::string reply = comm_.recv(0, kTagAssign);
  ByteReader in(reply.data(), reply.size());
  uint8_t flag = in.get<uint8_t>();
  if (flag == kAssignStopping) stop_signal_ = in.get<int32_t>();
  if (flag != kAssignShard) return false;
  out = decode_work(reply.substr(1));
  return true;
}

bool RemoteSource::stopping() const { return stop_signal_ != 0 || stop_requested(); }

void RemoteSource::report(const ShardDone& done) {
  std::lock_guard<std::mutex> lock(mutex_);
  pending_.push_back(done);
}

void RemoteSource::finish() { comm_.send(0, kTagFinal, take_message()); }

}  // namespace bend
