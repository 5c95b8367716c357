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

}  // namespace bend
