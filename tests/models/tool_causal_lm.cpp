// Test tool for the HyenaDNA, AWD-LSTM and TorchScript embedders, driven by
// test_hyenadna_reference.py, test_awdlstm_reference.py and test_torchscript.py.
//   tool_causal_lm init ARCH DIR SEED CONFIG_JSON [KEY=JSON ...]
//       writes a seeded checkpoint of ARCH (hyenadna | awdlstm) from CONFIG_JSON ("-": the
//       awdlstm defaults) with the given keys replaced ("a.b" for nested keys)
//   tool_causal_lm embed MODEL DIR SEQS_TXT OUT_BIN [--batch | --alone N] [--threads N]
//                        [--output hidden|logits|loss] [--tokenizer KIND] [--rules bend|corrected]
//       builds registry model MODEL (bend::make_embedder), tokenizes each line of SEQS_TXT and
//       embeds it (alone, all lines as one batch, or the first N alone and the rest batched);
//       writes every sequence's [len_bp, dim] float32 vectors, in order; prints "dim <d>" and
//       "fingerprint <fp>"
//   tool_causal_lm check-archive PATH
//       bend::check_torchscript_archive(PATH); prints "ok"
// Errors go to stderr as "tool_causal_lm: error: <message>", exit status 1.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/models/causal_lm_init.hpp"
#include "bend/models/register.hpp"
#include "bend/models/torchscript.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: tool_causal_lm init ARCH DIR SEED CONFIG_JSON [KEY=JSON ...]\n"
               "       tool_causal_lm embed MODEL DIR SEQS_TXT OUT_BIN [--batch | --alone N] "
               "[--threads N]\n"
               "       tool_causal_lm check-archive PATH\n");
  return 2;
}

int run_init(int argc, char** argv) {
  bend::CausalLmInitRequest r;
  r.arch = argv[2];
  r.out_dir = argv[3];
  r.seed = std::strtoull(argv[4], nullptr, 10);
  r.config_path = std::string(argv[5]) == "-" ? "" : argv[5];
  for (int i = 6; i < argc; i++) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    if (eq == std::string::npos) return usage();
    r.set[a.substr(0, eq)] = a.substr(eq + 1);
  }
  std::printf("%s\n", bend::init_causal_lm_checkpoint(r).c_str());
  return 0;
}

int run_embed(int argc, char** argv) {
  bool batch = false;
  long n_alone = -1;
  bend::EmbedderOptions opts;
  opts.model = argv[2];
  opts.checkpoint_dir = argv[3];
  for (int i = 6; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--batch") {
      batch = true;
    } else if (a == "--threads" && i + 1 < argc) {
      opts.n_threads = std::atoi(argv[++i]);
    } else if (a == "--alone" && i + 1 < argc) {
      n_alone = std::atol(argv[++i]);
    } else if (a == "--output" && i + 1 < argc) {
      opts.output = argv[++i];
    } else if (a == "--tokenizer" && i + 1 < argc) {
      opts.tokenizer = argv[++i];
    } else if (a == "--rules" && i + 1 < argc) {
      opts.rules = argv[++i];
    } else {
      return usage();
    }
  }
  bend::register_torch_embedders();
  std::unique_ptr<bend::Embedder> model = bend::make_embedder(opts);
  std::ifstream in(argv[4]);
  if (!in) bend::fail("%s: cannot open", argv[4]);
  std::vector<std::vector<int32_t>> ids;
  std::vector<int64_t> lens;
  for (std::string line; std::getline(in, line);) {
    ids.emplace_back();
    model->tokenize(line, ids.back());
    lens.push_back(static_cast<int64_t>(line.size()));
  }
  std::vector<const std::vector<int32_t>*> ptrs;
  for (const auto& v : ids) ptrs.push_back(&v);
  size_t first_batched = batch ? 0 : ptrs.size();
  if (n_alone >= 0) first_batched = std::min(ptrs.size(), size_t(n_alone));
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < first_batched; i++) {
    std::vector<std::vector<float>> one;
    model->embed({ptrs[i]}, {lens[i]}, one);
    out.push_back(std::move(one[0]));
  }
  if (first_batched < ptrs.size()) {
    std::vector<std::vector<float>> rest;
    model->embed({ptrs.begin() + long(first_batched), ptrs.end()},
                 {lens.begin() + long(first_batched), lens.end()}, rest);
    for (auto& v : rest) out.push_back(std::move(v));
  }
  std::ofstream bin(argv[5], std::ios::binary);
  for (const auto& v : out) bin.write(reinterpret_cast<const char*>(v.data()), 4 * v.size());
  bin.close();
  if (!bin) bend::fail("%s: write failed", argv[5]);
  std::printf("dim %lld\nfingerprint %s\n", (long long)model->dim(), model->fingerprint().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) return usage();
    const std::string cmd = argv[1];
    if (cmd == "init" && argc >= 6) return run_init(argc, argv);
    if (cmd == "embed" && argc >= 6) return run_embed(argc, argv);
    if (cmd == "check-archive" && argc == 3) {
      bend::check_torchscript_archive(argv[2]);
      std::printf("ok\n");
      return 0;
    }
    return usage();
  } catch (const bend::Error& e) {
    std::fprintf(stderr, "tool_causal_lm: error: %s\n", e.what());
    return 1;
  }
}
