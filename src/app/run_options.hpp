// Options that several distributed commands share, declared once so their names, choices and
// help stay the same everywhere (`bend embed`, `genome`, `variants`, `bench forward`).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace bend {

// `--progress auto|bar|lines|none` and `--progress-interval S` (pipeline/progress.hpp).
inline void add_progress_options(CLI::App* c, std::string& mode, double& interval_s) {
  c->add_option("--progress", mode,
                "auto (a live bar when stderr reaches a terminal, also under mpirun; else lines) | bar | "
                "lines | none")
      ->check(CLI::IsMember({"auto", "bar", "lines", "none"}))
      ->capture_default_str();
  c->add_option("--progress-interval", interval_s, "Seconds between progress lines (--progress lines)")
      ->capture_default_str();
}

// `--precision fp32|bf16|fp16`: CUDA autocast of the LibTorch models (refused on CPU).
inline void add_precision_option(CLI::App* c, std::string& precision) {
  c->add_option("--precision", precision, "fp32, or bf16 / fp16 (CUDA autocast, with --cuda)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}))
      ->capture_default_str();
}

// `--rules bend|corrected`: BEND's embedders.py rules, quirks included, or bend's corrected ones
// (EmbedderOptions::rules; docs/differences.md).
inline void add_rules_option(CLI::App* c, std::string& rules) {
  c->add_option("--rules", rules,
                "bend (vectors as BEND's embedders.py computes them, quirks included) | corrected "
                "(bend's rules: balanced chunks with special tokens each, centred k-mers, loss over "
                "the whole vocabulary); docs/differences.md")
      ->check(CLI::IsMember({"bend", "corrected"}))
      ->capture_default_str();
}

}  // namespace bend
