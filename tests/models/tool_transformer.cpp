// Test tool for the transformer encoders and their Embedders, driven by
// test_transformer_reference.py.
//   tool_transformer init ARCH DIR SEED CONFIG_JSON [KEY=JSON ...] [--file NAME=PATH ...]
//       writes a seeded checkpoint of ARCH (bert | esm | mosaic-bert) from CONFIG_JSON with the
//       given keys replaced, copying each --file into it as NAME
//   tool_transformer forward ARCH DIR IDS_TXT OUT_BIN [--batch | --alone N] [--threads N]
//                          [--output hidden|logits|loss]
//       runs each line of IDS_TXT (token ids, one model input) alone, all lines as one padded
//       batch with --batch, or the first N lines alone and the others as one batch with
//       --alone N; writes every input's [n_ids, dim] float32 states (or masked-LM logits /
//       per-token cross-entropy with --output), in order
//   tool_transformer embed MODEL DIR SEQS_TXT OUT_BIN [--batch | --alone N] [--threads N]
//                          [--tokens TXT] [--output hidden|logits|loss] [--rules bend|corrected]
//       builds registry model MODEL (bend::make_embedder), tokenizes each line of SEQS_TXT and
//       embeds it (alone, all lines in one batch, or the first N alone and the rest batched);
//       writes every sequence's [len_bp, dim] float32 vectors, in order; --tokens writes each
//       packed token vector as a line
//   tool_transformer script FILE
//       runs each line of FILE (tab-separated arguments of one of the commands above) in one
//       process: "@@ <line>" before and "@@ ok" / "@@ error: <message>" after each command
//   Prints "dim <d>" (and "max_tokens <n>" / "fingerprint <fp>") on stdout.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/embed/embedder.hpp"
#include "bend/models/register.hpp"
#include "bend/models/transformer.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: tool_transformer init ARCH DIR SEED CONFIG_JSON [KEY=JSON ...] "
               "[--file NAME=PATH ...]\n"
               "       tool_transformer forward ARCH DIR IDS_TXT OUT_BIN [--batch | --alone N] "
               "[--threads N]\n"
               "       tool_transformer embed MODEL DIR SEQS_TXT OUT_BIN [--batch | --alone N] "
               "[--threads N] [--tokens TXT]\n");
  return 2;
}

bend::TransformerArch parse_arch(const std::string& s) {
  if (s == "bert") return bend::TransformerArch::kBert;
  if (s == "esm") return bend::TransformerArch::kEsm;
  if (s == "mosaic-bert") return bend::TransformerArch::kMosaicBert;
  bend::fail("unknown architecture '%s'", s.c_str());
}

std::vector<std::vector<int32_t>> read_int_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) bend::fail("%s: cannot open", path.c_str());
  std::vector<std::vector<int32_t>> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ss(line);
    std::vector<int32_t> v;
    for (long x; ss >> x;) v.push_back(static_cast<int32_t>(x));
    out.push_back(std::move(v));
  }
  return out;
}

void write_floats(const std::string& path, const std::vector<std::vector<float>>& rows) {
  std::ofstream bin(path, std::ios::binary);
  for (const auto& v : rows) bin.write(reinterpret_cast<const char*>(v.data()), 4 * v.size());
  bin.close();
  if (!bin) bend::fail("%s: write failed", path.c_str());
}

int run_init(int argc, char** argv) {
  std::map<std::string, std::string> keys, files;
  for (int i = 6; i < argc; i++) {
    std::string a = argv[i];
    const bool is_file = a == "--file" && i + 1 < argc;
    if (is_file) a = argv[++i];
    const size_t eq = a.find('=');
    if (eq == std::string::npos) return usage();
    if (is_file) {
      files[a.substr(0, eq)] = bend::read_file(a.substr(eq + 1));
    } else {
      keys[a.substr(0, eq)] = a.substr(eq + 1);
    }
  }
  const std::string text = bend::override_config_json(bend::read_file(argv[5]), keys, argv[5]);
  bend::write_seeded_transformer_checkpoint(argv[3], parse_arch(argv[2]), text,
                                            std::strtoull(argv[4], nullptr, 10), files);
  return 0;
}

struct RunFlags {
  bool batch = false;
  long n_alone = -1;  // forward: inputs run one at a time before the batch (-1: all)
  int n_threads = 1;
  std::string tokens_path;        // embed: where to write the packed token vectors
  std::string output = "hidden";  // hidden | logits | loss
  std::string rules = "bend";     // embed: EmbedderOptions::rules
};

bool parse_flags(int argc, char** argv, RunFlags& f) {
  for (int i = 6; i < argc; i++) {
    const std::string a = argv[i];
    if (a == "--batch") {
      f.batch = true;
    } else if (a == "--threads" && i + 1 < argc) {
      f.n_threads = std::atoi(argv[++i]);
    } else if (a == "--alone" && i + 1 < argc) {
      f.n_alone = std::atol(argv[++i]);
    } else if (a == "--tokens" && i + 1 < argc) {
      f.tokens_path = argv[++i];
    } else if (a == "--output" && i + 1 < argc) {
      f.output = argv[++i];
    } else if (a == "--rules" && i + 1 < argc) {
      f.rules = argv[++i];
    } else {
      return false;
    }
  }
  return true;
}

int run_forward(int argc, char** argv) {
  RunFlags f;
  if (!parse_flags(argc, argv, f)) return usage();
  bend::TransformerRunOptions opts;
  opts.n_threads = f.n_threads;
  opts.output = bend::parse_lm_output(f.output, "tool_transformer");
  bend::TransformerEncoder enc(argv[3], parse_arch(argv[2]), opts);
  const std::vector<std::vector<int32_t>> ids = read_int_lines(argv[4]);
  std::vector<const std::vector<int32_t>*> ptrs;
  for (const auto& v : ids) ptrs.push_back(&v);
  size_t n_alone = f.batch ? 0 : ptrs.size();
  if (f.n_alone >= 0) n_alone = std::min(ptrs.size(), size_t(f.n_alone));
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < n_alone; i++) {
    std::vector<std::vector<float>> one;
    enc.forward({ptrs[i]}, one);
    out.push_back(std::move(one[0]));
  }
  if (n_alone < ptrs.size()) {
    std::vector<std::vector<float>> batch;
    enc.forward({ptrs.begin() + long(n_alone), ptrs.end()}, batch);
    for (auto& v : batch) out.push_back(std::move(v));
  }
  write_floats(argv[5], out);
  std::printf("dim %lld\nmax_tokens %lld\n", (long long)enc.output_dim(),
              (long long)enc.max_tokens());
  return 0;
}

int run_embed(int argc, char** argv) {
  RunFlags f;
  if (!parse_flags(argc, argv, f)) return usage();
  bend::register_torch_embedders();
  bend::EmbedderOptions opts;
  opts.model = argv[2];
  opts.checkpoint_dir = argv[3];
  opts.n_threads = f.n_threads;
  opts.output = f.output;
  opts.rules = f.rules;
  std::unique_ptr<bend::Embedder> model = bend::make_embedder(opts);
  std::ifstream in(argv[4]);
  if (!in) bend::fail("%s: cannot open", argv[4]);
  std::vector<std::vector<int32_t>> packed;
  std::vector<int64_t> lens;
  for (std::string line; std::getline(in, line);) {
    packed.emplace_back();
    model->tokenize(line, packed.back());
    lens.push_back(static_cast<int64_t>(line.size()));
  }
  if (!f.tokens_path.empty()) {
    std::ofstream tok(f.tokens_path);
    for (const auto& v : packed) {
      for (size_t i = 0; i < v.size(); i++) tok << (i ? " " : "") << v[i];
      tok << "\n";
    }
    if (!tok) bend::fail("%s: write failed", f.tokens_path.c_str());
  }
  std::vector<const std::vector<int32_t>*> ptrs;
  for (const auto& v : packed) ptrs.push_back(&v);
  size_t n_alone = f.batch ? 0 : ptrs.size();
  if (f.n_alone >= 0) n_alone = std::min(ptrs.size(), size_t(f.n_alone));
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < n_alone; i++) {
    std::vector<std::vector<float>> one;
    model->embed({ptrs[i]}, {lens[i]}, one);
    out.push_back(std::move(one[0]));
  }
  if (n_alone < ptrs.size()) {
    std::vector<std::vector<float>> batch;
    model->embed({ptrs.begin() + long(n_alone), ptrs.end()},
                 {lens.begin() + long(n_alone), lens.end()}, batch);
    for (auto& v : batch) out.push_back(std::move(v));
  }
  write_floats(argv[5], out);
  std::printf("dim %lld\nfingerprint %s\n", (long long)model->dim(), model->fingerprint().c_str());
  return 0;
}

int dispatch(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string cmd = argv[1];
  if (cmd == "init" && argc >= 6) return run_init(argc, argv);
  if (cmd == "forward" && argc >= 6) return run_forward(argc, argv);
  if (cmd == "embed" && argc >= 6) return run_embed(argc, argv);
  return usage();
}

// Runs each line of `path` (tab-separated arguments of one command) in this process, so a test
// pays LibTorch's start-up once: prints "@@ <line>" before each command's output and
// "@@ ok" or "@@ error: <message>" after it.
int run_script(const std::string& path) {
  std::ifstream in(path);
  if (!in) bend::fail("%s: cannot open", path.c_str());
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    line_no++;
    std::vector<std::string> args = {"tool_transformer"};
    for (size_t b = 0; b <= line.size();) {
      const size_t e = std::min(line.find('\t', b), line.size());
      args.push_back(line.substr(b, e - b));
      b = e + 1;
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(&a[0]);
    std::printf("@@ %d\n", line_no);
    std::fflush(stdout);
    try {
      const int rc = dispatch(static_cast<int>(argv.size()), argv.data());
      std::printf(rc == 0 ? "@@ ok\n" : "@@ error: exit code %d\n", rc);
    } catch (const bend::Error& e) {
      std::printf("@@ error: %s\n", e.what());
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 3 && std::string(argv[1]) == "script") return run_script(argv[2]);
    return dispatch(argc, argv);
  } catch (const bend::Error& e) {
    std::fprintf(stderr, "tool_transformer: error: %s\n", e.what());
    return 1;
  }
}
