// Test tool for the supervised baselines, driven by test_baseline_reference.py.
//   [mpirun -np N] tool_baseline IN.safetensors OUT.safetensors
// IN metadata: model (resnet-supervised | basset-supervised), seed, criterion, training (0/1),
// epoch, step, global_batch; resnet: in_dim, hidden, n_layers, kernel, head_hidden, head_kernel,
// output_window, n_out; basset: in_dim, input_len, channels, kernels, pools (3 comma-separated
// values each), fc, dropout, n_out. Optional "lengths" (comma-separated, one per row).
// IN tensors: "x" [batch, len, in_dim], "target" (float; -100 = ignore).
// Each rank takes its rank_slice of the rows (as bend train does), computes loss sum / global
// denominator and backward; gradients are summed over ranks. Rank 0 writes: "init.<name>" (the
// seeded weights), "grad.<name>", "buffer.<name>" (after the forward), "logits" (its own rows),
// "loss" (global), and for basset in training "mask0"/"mask1" (the dropout masks of all rows).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../src/train/baselines.hpp"
#include "../../src/train/batch_loader.hpp"  // rank_slice
#include "../../src/train/losses.hpp"
#include "bend/core/error.hpp"
#include "bend/dist/comm.hpp"
#include "bend/models/safetensors.hpp"

namespace {

const std::string& meta(const bend::SafetensorsFile& f, const std::string& key) {
  auto it = f.metadata().find(key);
  if (it == f.metadata().end()) bend::fail("%s: metadata %s missing", f.path().c_str(), key.c_str());
  return it->second;
}
int64_t meta_i(const bend::SafetensorsFile& f, const std::string& key) { return std::atoll(meta(f, key).c_str()); }

std::vector<int64_t> meta_list(const bend::SafetensorsFile& f, const std::string& key) {
  std::vector<int64_t> out;
  const std::string& s = meta(f, key);
  for (size_t pos = 0; pos < s.size();) {
    size_t end = s.find(',', pos);
    if (end == std::string::npos) end = s.size();
    out.push_back(std::atoll(s.substr(pos, end - pos).c_str()));
    pos = end + 1;
  }
  return out;
}

torch::Tensor read_tensor(const bend::SafetensorsFile& f, const std::string& name) {
  std::vector<float> v = f.read_f32(name);
  return torch::from_blob(v.data(), f.info(name).shape, torch::kFloat).clone();
}

bend::F32Tensor to_f32(const std::string& name, const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kFloat).contiguous();
  bend::F32Tensor out;
  out.name = name;
  out.shape.assign(c.sizes().begin(), c.sizes().end());
  out.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return out;
}

std::unique_ptr<bend::TrainModel> build(const bend::SafetensorsFile& in, bend::Comm& comm) {
  const std::string model = meta(in, "model");
  const uint64_t seed = std::strtoull(meta(in, "seed").c_str(), nullptr, 10);
  if (model == "resnet-supervised") {
    bend::ResNetSupervisedConfig c;
    c.in_dim = meta_i(in, "in_dim");
    c.hidden = meta_i(in, "hidden");
    c.n_layers = meta_i(in, "n_layers");
    c.kernel = meta_i(in, "kernel");
    c.head = {c.hidden, meta_i(in, "head_hidden"), meta_i(in, "head_kernel"), meta_i(in, "output_window"),
              meta_i(in, "n_out")};
    return bend::make_resnet_supervised(c, seed);
  }
  bend::BassetConfig c;
  c.in_dim = meta_i(in, "in_dim");
  c.input_len = meta_i(in, "input_len");
  std::vector<int64_t> ch = meta_list(in, "channels"), k = meta_list(in, "kernels"), p = meta_list(in, "pools");
  for (int j = 0; j < 3; ++j) {
    c.channels[j] = ch.at(j);
    c.kernels[j] = k.at(j);
    c.pools[j] = p.at(j);
  }
  c.fc = meta_i(in, "fc");
  c.dropout = std::strtod(meta(in, "dropout").c_str(), nullptr);
  c.n_out = meta_i(in, "n_out");
  bend::Comm* cp = &comm;
  bend::SumOverRanks sum;  // as bend train builds it: none on one rank (no collectives)
  if (comm.size() > 1) sum = [cp](double* v, int64_t n) { cp->allreduce_sum(v, static_cast<int>(n)); };
  return bend::make_basset(c, seed, std::move(sum));
}

void run(const std::string& in_path, const std::string& out_path) {
  bend::Comm comm;
  bend::SafetensorsFile in(in_path);
  std::unique_ptr<bend::TrainModel> model = build(in, comm);
  std::vector<bend::F32Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(to_f32("init." + p.first, p.second));

  const torch::Tensor x_all = read_tensor(in, "x");  // [batch, len, in_dim]
  const torch::Tensor t_all = read_tensor(in, "target");
  const int64_t n_all = x_all.size(0);
  std::vector<int64_t> len_all(static_cast<size_t>(n_all), x_all.size(1));
  if (in.metadata().count("lengths")) len_all = meta_list(in, "lengths");
  const auto slice = bend::rank_slice(0, n_all, comm.rank(), comm.size());
  const int64_t lo = slice.first, n = slice.second - slice.first;
  // channels first, as the BatchLoader hands one-hot (dim 5) batches to the model
  const torch::Tensor x = x_all.narrow(0, lo, n).transpose(1, 2).contiguous();
  torch::Tensor target = t_all.narrow(0, lo, n);
  std::vector<int64_t> lengths(len_all.begin() + lo, len_all.begin() + lo + n);

  bend::LossConfig lc;
  lc.criterion = bend::parse_criterion(meta(in, "criterion"));
  if (lc.criterion == bend::Criterion::kCrossEntropy) target = target.to(torch::kLong);
  const bool training = meta(in, "training") == "1";
  model->set_training(training);
  bend::StepInfo info;
  info.seed = std::strtoull(meta(in, "seed").c_str(), nullptr, 10);
  info.epoch = static_cast<int>(meta_i(in, "epoch"));
  info.step = meta_i(in, "step");
  info.row_offset = lo;
  info.global_batch = meta_i(in, "global_batch");
  model->set_step(info);

  torch::Tensor logits = model->forward(x, true, lengths);
  bend::LossParts parts = bend::loss_parts(logits, target, lc);
  double sums[2] = {parts.sum.item<double>(), parts.denom};
  comm.allreduce_sum(sums, 2);
  (parts.sum / sums[1]).backward();
  for (auto& p : model->parameters()) {
    torch::Tensor g = p.second.grad().contiguous();
    comm.allreduce_sum(g.data_ptr<float>(), g.numel());
    out.push_back(to_f32("grad." + p.first, g));
  }
  for (const auto& b : model->buffers()) out.push_back(to_f32("buffer." + b.first, b.second));
  out.push_back(to_f32("logits", logits));
  out.push_back(to_f32("loss", torch::full({1}, sums[0] / sums[1])));
  if (std::string(model->name()) == "basset-supervised" && training) {
    bend::StepInfo all = info;
    all.row_offset = 0;
    const int64_t fc = meta_i(in, "fc");
    const double p = std::strtod(meta(in, "dropout").c_str(), nullptr);
    out.push_back(to_f32("mask0", bend::basset_dropout_mask(all, 0, n_all, fc, p)));
    out.push_back(to_f32("mask1", bend::basset_dropout_mask(all, 1, n_all, fc, p)));
  }
  if (comm.rank() == 0) bend::write_safetensors(out_path, out, {{"rows", std::to_string(n)}});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: tool_baseline IN.safetensors OUT.safetensors\n");
    return 2;
  }
  try {
    run(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tool_baseline: %s\n", e.what());
    return 1;
  }
  return 0;
}
