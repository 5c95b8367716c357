#include <algorithm>
#include <map>
#include <mutex>

#include "bend/core/error.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/embed/onehot.hpp"

namespace bend {

static std::map<std::string, EmbedderInfo>& registry() {
  static std::map<std::string, EmbedderInfo> reg;
  return reg;
}

// Torch-free built-in models. LibTorch models register themselves through
// register_torch_embedders() (bend/models/register.hpp), called by bend-torch's main().
static void register_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    EmbedderInfo onehot;
    onehot.name = "onehot";
    onehot.description = "BEND one-hot: codes A=0 C=1 G=2 N=3 T=4, dim 5, 1 vector per nt";
    onehot.make = make_onehot_embedder;
    onehot.dim = "5";
    onehot.tokenizer = "none (nucleotide codes)";
    onehot.max_input = "any length";
    onehot.files = "-";
    register_embedder(std::move(onehot));
  });
}

void register_embedder(EmbedderInfo info) { registry()[info.name] = std::move(info); }

std::unique_ptr<Embedder> make_embedder(const EmbedderOptions& opts) {
  register_builtins();
  auto it = registry().find(opts.model);
  if (it == registry().end()) {
    std::string known;
    for (const auto& kv : registry()) known += (known.empty() ? "" : ", ") + kv.first;
    fail("unknown model '%s' (known: %s)", opts.model.c_str(), known.c_str());
  }
  if (it->second.needs_checkpoint && opts.checkpoint_dir.empty()) {
    fail("model '%s' needs --checkpoint DIR (config.json + model.safetensors)", opts.model.c_str());
  }
  try {
    return it->second.make(opts);
  } catch (const Error& e) {
    rethrow_with_stage(e, "loading model '" + opts.model + "'");
  }
}

bool has_embedder(const std::string& name) {
  register_builtins();
  return registry().count(name) > 0;
}

std::vector<EmbedderInfo> list_embedders() {
  register_builtins();
  std::vector<EmbedderInfo> out;
  for (const auto& kv : registry()) out.push_back(kv.second);
  return out;
}

}  // namespace bend
