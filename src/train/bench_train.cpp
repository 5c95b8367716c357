#include "bend/train/bench_train.hpp"

#include <torch/torch.h>

#include <vector>

#include "adamw.hpp"
#include "bend/core/alloc_tuning.hpp"
#include "head_batch.hpp"
#include "bend/core/log.hpp"
#include "head.hpp"
#include "losses.hpp"

namespace bend {

TrainBenchResult bench_train_steps(const TrainBenchSettings& s) {
  validate_head_config(s.head);
  torch::set_num_threads(s.threads);
  tune_allocator_for_batches();
  Head head(s.head, s.seed);
  AdamW::Options o;
  o.lr = s.lr;
  o.weight_decay = 0.01;
  AdamW opt(head_named_parameters(head), o);
  torch::manual_seed(s.seed);
  const int64_t t_out = head->output_length(s.len);
  const bool channels_first = channels_first_for_dim(s.head.input_dim);
  std::vector<torch::Tensor> xs, ys;
  for (int i = 0; i < 4; ++i) {
    // in the layout bend train's BatchLoader hands batches to the head
    xs.push_back(torch::rand({s.batch_rows, s.len, s.head.input_dim}));
    if (channels_first) xs.back() = xs.back().transpose(1, 2).contiguous();
    if (s.loss.criterion == Criterion::kCrossEntropy) {
      ys.push_back(torch::randint(0, s.head.n_out, {s.batch_rows, t_out}, torch::kInt64));
    } else {
      ys.push_back(torch::randint(0, 2, {s.batch_rows, t_out, s.head.n_out}).to(torch::kFloat32));
    }
  }
  auto step = [&](size_t i) {
    const torch::Tensor& x = xs[i % 4];
    LossParts lp = loss_parts(channels_first ? head->forward_channels_first(x) : head->forward(x), ys[i % 4], s.loss);
    (lp.sum / lp.denom).backward();
    opt.step();
    opt.zero_grad();
  };
  step(0);  // warm-up: allocations, kernel selection
  TrainBenchResult r;
  const double t0 = wall_seconds();
  do {
    step(static_cast<size_t>(r.steps));
    ++r.steps;
    r.wall_s = wall_seconds() - t0;
  } while (r.wall_s < s.min_seconds);
  r.rows_per_s = double(r.steps * s.batch_rows) / r.wall_s;
  return r;
}

}  // namespace bend
