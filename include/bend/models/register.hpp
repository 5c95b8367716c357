// Registration of the LibTorch models. Only the torch build of bend (`bend-torch`) links
// bend_models; its main() calls register_torch_embedders() once before parsing the command line,
// so `bend` itself starts without loading LibTorch (docs/architecture.md, "Two executables").
#pragma once

namespace bend {

// Adds every LibTorch embedder (resnetlm, ...) to the registry of bend/embed/embedder.hpp.
// Idempotent; not thread-safe (call before starting threads).
void register_torch_embedders();

}  // namespace bend
