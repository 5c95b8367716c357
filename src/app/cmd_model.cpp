// `bend model init`: writes a seeded (untrained) checkpoint; `bend models`: lists the registry.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/core/log.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/models/causal_lm_init.hpp"
#include "bend/models/lm_embedders.hpp"
#include "bend/models/resnetlm.hpp"
#include "commands.hpp"
#include "torch_exec.hpp"

namespace bend {

namespace {

// What `bend model init` was given. Integer flags override the --config file only when given.
struct ModelInitArgs {
  std::string arch = "resnetlm";
  std::string out_dir;
  std::string config_path;
  uint64_t seed = 0;
  ResNetLMConfig flags;  // values of the --hidden-size ... flags
  std::vector<std::pair<CLI::Option*, int64_t ResNetLMConfig::*>> int_flags;
  CLI::Option* init_range_flag = nullptr;
  std::vector<std::string> sets;  // transformers: KEY=JSON config overrides
  std::string tokenizer_dir;      // transformers: tokenizer files to copy
};

#ifdef BEND_TORCH_BUILD
// The transformer models (lm_embedders.hpp): --config plus --set / the size flags that apply.
void run_lm_init(const ModelInitArgs& a, double t0) {
  LmInitRequest r{a.arch, a.out_dir, a.config_path, {}, a.tokenizer_dir, a.seed};
  for (const std::string& kv : a.sets) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      fail("bend model init: --set %s: expected KEY=JSON", kv.c_str());
    r.set[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& f : a.int_flags) {
    if (f.first->count() == 0) continue;
    const std::string name = f.first->get_name();
    const char* key = name == "--vocab-size"    ? "vocab_size"
                      : name == "--hidden-size" ? "hidden_size"
                      : name == "--n-layers"    ? "num_hidden_layers"
                                                : nullptr;
    if (key == nullptr)
      fail("bend model init: %s does not apply to --arch %s", name.c_str(), a.arch.c_str());
    r.set[key] = std::to_string(a.flags.*(f.second));
  }
  if (a.init_range_flag->count() > 0)
    r.set["initializer_range"] = strfmt("%.17g", a.flags.initializer_range);
  const std::string summary = init_lm_checkpoint(r);
  std::printf("bend model init: wrote %s (%s) in %s\n", a.out_dir.c_str(), summary.c_str(),
              human_duration(wall_seconds() - t0).c_str());
}

// HyenaDNA and the AWD-LSTM (causal_lm_init.hpp): --config plus --set (size flags do not apply).
void run_causal_init(const ModelInitArgs& a, double t0) {
  CausalLmInitRequest r{a.arch, a.out_dir, a.config_path, {}, a.seed};
  for (const std::string& kv : a.sets) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      fail("bend model init: --set %s: expected KEY=JSON", kv.c_str());
    r.set[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& f : a.int_flags) {
    if (f.first->count() > 0) {
      fail("bend model init: %s does not apply to --arch %s; use --set KEY=VALUE",
           f.first->get_name().c_str(), a.arch.c_str());
    }
  }
  if (a.init_range_flag->count() > 0)
    r.set["initializer_range"] = strfmt("%.17g", a.flags.initializer_range);
  const std::string summary = init_causal_lm_checkpoint(r);
  std::printf("bend model init: wrote %s (%s) in %s\n", a.out_dir.c_str(), summary.c_str(),
              human_duration(wall_seconds() - t0).c_str());
}

void run_model_init(const ModelInitArgs& a) {
  const double t0 = wall_seconds();
  if (a.arch == "hyenadna" || a.arch == "awdlstm" || a.arch == "caduceus" || a.arch == "gpn")
    return run_causal_init(a, t0);
  if (a.arch != "resnetlm") return run_lm_init(a, t0);
  ResNetLMConfig cfg;  // BEND's resnetlm defaults
  if (!a.config_path.empty()) cfg = read_resnetlm_config(a.config_path);
  for (const auto& f : a.int_flags) {
    if (f.first->count() > 0) cfg.*(f.second) = a.flags.*(f.second);
  }
  if (a.init_range_flag->count() > 0) cfg.initializer_range = a.flags.initializer_range;
  validate_resnetlm_config(cfg, "bend model init");
  write_seeded_resnetlm_checkpoint(a.out_dir, cfg, a.seed);
  int64_t n_params = 0;
  for (const auto& t : resnetlm_tensor_shapes(cfg)) {
    int64_t n = 1;
    for (int64_t d : t.second) n *= d;
    n_params += n;
  }
  std::printf(
      "bend model init: wrote %s (resnetlm: hidden_size %lld, n_layers %lld, kernel_size "
      "%lld, %s parameters, seed %llu) in %s\n",
      a.out_dir.c_str(), (long long)cfg.hidden_size, (long long)cfg.n_layers,
      (long long)cfg.kernel_size, human_count(double(n_params)).c_str(), (unsigned long long)a.seed,
      human_duration(wall_seconds() - t0).c_str());
}

void run_list_models() {
  for (const EmbedderInfo& info : list_embedders()) {
    std::printf("%-12s %s\n", info.name.c_str(), info.description.c_str());
    std::printf("  dim: %s; causal: %s; tokenizer: %s\n", info.dim.c_str(), info.causal ? "yes" : "no",
                info.tokenizer.c_str());
    std::printf("  max input: %s\n  checkpoint: %s\n", info.max_input.c_str(),
                info.needs_checkpoint ? info.files.c_str() : "none");
    std::printf("  --output: %s%s\n", info.lm_outputs ? "hidden, logits, loss" : "hidden",
                info.named_tokenizer ? "; --tokenizer KIND" : "");
  }
}
#endif  // BEND_TORCH_BUILD

}  // namespace

void add_model_command(CLI::App& app) {
  auto args = std::make_shared<ModelInitArgs>();
  CLI::App* model = app.add_subcommand("model", "Create model checkpoints");
  model->require_subcommand(1);
  CLI::App* init = model->add_subcommand(
      "init",
      "Write a checkpoint directory (config.json, tokenizer.json, model.safetensors) with "
      "seeded random weights, identical on every machine for the same seed");
  init->add_option("--arch", args->arch,
                   "resnetlm (BEND's ResNet LM: the flags below, or --config) | dnabert | nt | "
                   "dnabert2 | gena-lm | grover (transformers: --config with --set, --vocab-size, "
                   "--hidden-size, --n-layers) | hyenadna, caduceus, gpn (--config with --set) | awdlstm "
                   "(--config optional, --set)")
      ->check(CLI::IsMember({"resnetlm", "dnabert", "nt", "dnabert2", "gena-lm", "grover",
                             "hyenadna", "awdlstm", "caduceus", "gpn"}))
      ->capture_default_str();
  init->add_option("--out", args->out_dir,
                   "Checkpoint directory to create (must not exist or be empty)")
      ->required();
  init->add_option("--config", args->config_path,
                   "config.json to start from (the flags below override its values)")
      ->check(CLI::ExistingFile);
  init->add_option("--seed", args->seed, "Seed of the weights")->capture_default_str();
  init->add_option("--set", args->sets,
                   "Transformer, hyenadna, awdlstm, caduceus and gpn models: replace a config.json key, KEY=JSON "
                   "(repeatable), e.g. --set num_attention_heads=4, --set layer.l_max=258");
  init->add_option("--tokenizer", args->tokenizer_dir,
                   "Transformer models: directory whose vocab.txt / tokenizer.json is copied "
                   "(needed for dnabert2, gena-lm and grover)")
      ->check(CLI::ExistingDirectory);
  ResNetLMConfig& f = args->flags;
  const struct {
    const char* name;
    int64_t* value;
    int64_t ResNetLMConfig::*field;
    const char* help;
  } int_flags[] = {
      {"--vocab-size", &f.vocab_size, &ResNetLMConfig::vocab_size,
       "Vocabulary size (resnetlm; transformers: vocab_size)"},
      {"--hidden-size", &f.hidden_size, &ResNetLMConfig::hidden_size,
       "Channels = embedding dim (resnetlm; transformers: hidden_size)"},
      {"--n-layers", &f.n_layers, &ResNetLMConfig::n_layers,
       "Residual blocks (resnetlm; transformers: num_hidden_layers)"},
      {"--kernel-size", &f.kernel_size, &ResNetLMConfig::kernel_size, "Convolution width (resnetlm)"},
      {"--dilation-double-every", &f.dilation_double_every, &ResNetLMConfig::dilation_double_every,
       "Layers per dilation doubling (resnetlm)"},
      {"--dilation-max", &f.dilation_max, &ResNetLMConfig::dilation_max, "Largest dilation (resnetlm)"},
      {"--dilation-cycle", &f.dilation_cycle, &ResNetLMConfig::dilation_cycle,
       "Layers after which the dilation restarts at 1 (resnetlm)"},
  };
  for (const auto& flag : int_flags) {
    CLI::Option* opt = init->add_option(flag.name, *flag.value, flag.help)->capture_default_str();
    args->int_flags.push_back({opt, flag.field});
  }
  args->init_range_flag =
      init->add_option("--initializer-range", f.initializer_range, "Std of the weight matrices and embeddings (every arch)")
          ->capture_default_str();
  init->callback([args] { BEND_RUN_WITH_TORCH("bend model init", run_model_init(*args)); });

  CLI::App* models = app.add_subcommand("models", "List the models `bend embed --model` accepts");
  models->callback([] { BEND_RUN_WITH_TORCH("bend models", run_list_models()); });
}

}  // namespace bend
