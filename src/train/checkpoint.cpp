#include "checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/models/safetensors.hpp"

namespace bend {

std::string checkpoint_path(const std::string& out_dir, int epoch) {
  return path_join(out_dir, strfmt("checkpoints/epoch_%d.safetensors", epoch));
}

std::string partial_checkpoint_path(const std::string& out_dir) {
  return path_join(out_dir, "checkpoints/partial.safetensors");
}

int latest_checkpoint_epoch(const std::string& out_dir) {
  std::string dir = path_join(out_dir, "checkpoints");
  if (!path_exists(dir)) return 0;
  int best = 0;
  for (const std::string& name : list_dir(dir)) {
    int e = 0;
    char tail[32] = {0};
    if (std::sscanf(name.c_str(), "epoch_%d.safetensor%31s", &e, tail) == 2 && std::string(tail) == "s") {
      best = std::max(best, e);
    }
  }
  return best;
}

static F32Tensor to_f32(const std::string& name, const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  F32Tensor out;
  out.name = name;
  out.shape.assign(c.sizes().begin(), c.sizes().end());
  out.values.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  return out;
}

void save_checkpoint(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& params,
                     const AdamW* opt, const CheckpointMeta& meta) {
  std::vector<F32Tensor> tensors;
  for (const auto& p : params) tensors.push_back(to_f32(p.first, p.second));
  if (opt) {
    for (const auto& s : opt->state()) tensors.push_back(to_f32("optimizer." + s.first, s.second));
  }
  nlohmann::json history = nlohmann::json::array();
  for (const EpochRecord& r : meta.history) {
    history.push_back({r.epoch, r.train_loss, r.val_loss, r.val_metric});
  }
  std::map<std::string, std::string> md = {{"format", "bend-train-checkpoint"},
                                           {"epoch", std::to_string(meta.epoch)},
                                           {"n_steps", std::to_string(meta.n_steps)},
                                           {"history", history.dump()},
                                           {"config", meta.config_json}};
  if (meta.epoch_step > 0) {  // mid-epoch: the loss sum in hex so the resumed mean is exact
    md["epoch_step"] = std::to_string(meta.epoch_step);
    md["epoch_loss_sum"] = strfmt("%a", meta.epoch_loss_sum);
  }
  make_dirs(dir_name(path));
  write_safetensors(path, tensors, md);
}

static torch::Tensor read_tensor(const SafetensorsFile& f, const std::string& name, const torch::Tensor& like) {
  auto it = f.tensors().find(name);
  if (it == f.tensors().end()) fail("%s: tensor '%s' is missing", f.path().c_str(), name.c_str());
  std::vector<int64_t> want(like.sizes().begin(), like.sizes().end());
  if (it->second.shape != want) fail("%s: tensor '%s' has the wrong shape", f.path().c_str(), name.c_str());
  std::vector<float> v = f.read_f32(name);
  return torch::from_blob(v.data(), like.sizes(), torch::kFloat32).clone();
}

static CheckpointMeta parse_meta(const std::string& path, const std::map<std::string, std::string>& md) {
  auto get = [&](const char* key) {
    auto it = md.find(key);
    if (it == md.end()) fail("%s: not a bend training checkpoint (no '%s' metadata)", path.c_str(), key);
    return it->second;
  };
  if (get("format") != "bend-train-checkpoint") fail("%s: not a bend training checkpoint", path.c_str());
  CheckpointMeta meta;
  meta.epoch = std::stoi(get("epoch"));
  meta.n_steps = std::stoll(get("n_steps"));
  meta.config_json = get("config");
  for (const auto& r : nlohmann::json::parse(get("history"))) {
    meta.history.push_back({r[0].get<int>(), r[1].get<double>(), r[2].get<double>(),
                            r[3].is_null() ? std::nan("") : r[3].get<double>()});
  }
  if (md.count("epoch_step")) {
    meta.epoch_step = std::stoll(get("epoch_step"));
    meta.epoch_loss_sum = std::strtod(get("epoch_loss_sum").c_str(), nullptr);
  }
  return meta;
}

CheckpointMeta load_checkpoint_meta(const std::string& path) {
  SafetensorsFile f(path);
  return parse_meta(path, f.metadata());
}

CheckpointMeta load_checkpoint(const std::string& path,
                               std::vector<std::pair<std::string, torch::Tensor>>& params, AdamW* opt) {
  SafetensorsFile f(path);
  CheckpointMeta meta = parse_meta(path, f.metadata());
  torch::NoGradGuard no_grad;
  for (auto& p : params) p.second.copy_(read_tensor(f, p.first, p.second));
  if (opt) {
    std::vector<std::pair<std::string, torch::Tensor>> state = opt->state();
    for (auto& s : state) s.second = read_tensor(f, "optimizer." + s.first, s.second);
    opt->load_state(state);
    opt->set_n_steps(meta.n_steps);
  }
  return meta;
}

}  // namespace bend
