// `bend embed --precision`: the LibTorch models under CUDA autocast (bf16 / fp16) or in full
// float32. Wraps any Embedder; the pipeline still sees float32 vectors.
#pragma once

#include <memory>
#include <string>

#include "bend/embed/embedder.hpp"

namespace bend {

// `model` itself for opts.precision "fp32"; otherwise an Embedder that runs model's embed() and
// embed_tokens() with CUDA autocast to bfloat16 ("bf16") or float16 ("fp16") on the calling
// thread (autocast state is per thread) and returns float32 vectors. The caller has checked the
// options (check_precision: non-fp32 only with use_cuda).
std::unique_ptr<Embedder> with_precision(std::unique_ptr<Embedder> model, const EmbedderOptions& opts);

}  // namespace bend
