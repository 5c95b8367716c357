#include <algorithm>
#include <map>
#include <mutex>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
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

// --precision: fp32 anywhere; bf16 / fp16 (CUDA autocast) only for LibTorch models on CUDA.
// On CPU bend refuses them: LibTorch 1.13's CPU autocast knows bfloat16 only, bend's CPU kernels
// (oneDNN convolutions standing in for Linear) bypass it, and CPUs without bf16 units gain nothing.
static void check_precision(const EmbedderInfo& info, const EmbedderOptions& opts) {
  const std::string& p = opts.precision;
  if (p == "fp32") return;
  if (p != "bf16" && p != "fp16") fail("--precision '%s': expected fp32, bf16 or fp16", p.c_str());
  if (!opts.use_cuda) {
    fail("--precision %s needs --cuda: on CPU bend computes in float32 only (see docs/cli.md)", p.c_str());
  }
  if (!info.needs_checkpoint) {
    fail("--precision %s: model '%s' has no network to run in reduced precision; use fp32", p.c_str(),
         info.name.c_str());
  }
}

// --output, --tokenizer and --precision against what the model supports.
static void check_model_options(const EmbedderInfo& info, const EmbedderOptions& opts) {
  check_precision(info, opts);
  if (opts.rules != "bend" && opts.rules != "corrected")
    fail("--rules '%s': expected bend or corrected", opts.rules.c_str());
  const std::string& out = opts.output;
  if (out != "hidden" && out != "logits" && out != "loss" && !out.empty())
    fail("--output '%s': expected hidden, logits or loss", out.c_str());
  if ((out == "logits" || out == "loss") && !info.lm_outputs) {
    std::string lms;
    for (const auto& kv : registry()) {
      if (kv.second.lm_outputs) lms += (lms.empty() ? "" : ", ") + kv.first;
    }
    fail(
        "model '%s' has no language-model head: --output %s needs a masked or causal LM "
        "(%s); use --output hidden",
        info.name.c_str(), out.c_str(),
        lms.empty() ? "see the --output line of `bend models`" : lms.c_str());
  }
  if (!opts.tokenizer.empty() && !info.named_tokenizer) {
    fail(
        "model '%s' reads its tokenizer from the checkpoint; --tokenizer (here '%s') is only "
        "for torchscript",
        info.name.c_str(), opts.tokenizer.c_str());
  }
}

void register_embedder(EmbedderInfo info) { registry()[info.name] = std::move(info); }

// A Hugging Face download often holds only pytorch_model.bin (a pickle, which bend never reads):
// say how to convert it before the model's loader reports a missing file.
static void check_weights_format(const EmbedderInfo& info, const std::string& dir) {
  if (dir.empty() || info.files.find("model.safetensors") == std::string::npos) return;
  const std::string weights = path_join(dir, "model.safetensors");
  const std::string pickle = path_join(dir, "pytorch_model.bin");
  if (path_exists(weights) || path_exists(weights + ".index.json") || !path_exists(pickle)) return;
  fail("%s holds pytorch_model.bin but no model.safetensors: bend reads weights only as safetensors "
       "(a pickle can run code). Convert it once with bend's converter (needs python3-torch):\n"
       "  python3 tools/bin_to_safetensors.py %s %s",
       dir.c_str(), pickle.c_str(), weights.c_str());
}

std::unique_ptr<Embedder> make_embedder(const EmbedderOptions& opts) {
  register_builtins();
  auto it = registry().find(opts.model);
  if (it == registry().end()) {
    std::string known;
    for (const auto& kv : registry()) known += (known.empty() ? "" : ", ") + kv.first;
    fail("unknown model '%s' (known: %s)", opts.model.c_str(), known.c_str());
  }
  check_model_options(it->second, opts);
  if (it->second.needs_checkpoint && opts.checkpoint_dir.empty()) {
    fail("model '%s' needs --checkpoint DIR (config.json + model.safetensors)", opts.model.c_str());
  }
  check_weights_format(it->second, opts.checkpoint_dir);
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
