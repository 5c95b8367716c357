// CUDA autocast around an Embedder (include/bend/models/precision.hpp).
#include "bend/models/precision.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <utility>

#include "bend/core/error.hpp"

// LibTorch 2.4 made the autocast API device-generic and deprecated the CUDA-only calls.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define BEND_AUTOCAST_BY_DEVICE 1
#endif

namespace bend {

namespace {

// CUDA autocast to `dtype` on this thread for the scope's lifetime; the previous state after it.
class AutocastScope {
 public:
  explicit AutocastScope(at::ScalarType dtype) {
#ifdef BEND_AUTOCAST_BY_DEVICE
    was_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    was_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, dtype);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    was_enabled_ = at::autocast::is_enabled();
    was_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(true);
#endif
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#ifdef BEND_AUTOCAST_BY_DEVICE
    at::autocast::set_autocast_enabled(at::kCUDA, was_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, was_dtype_);
#else
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(was_dtype_);
#endif
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
};

// Every call forwarded to `inner`; the two that run the model under autocast.
class AutocastEmbedder : public Embedder {
 public:
  AutocastEmbedder(std::unique_ptr<Embedder> inner, at::ScalarType dtype, std::string precision)
      : inner_(std::move(inner)), dtype_(dtype), precision_(std::move(precision)) {}
  std::string name() const override { return inner_->name(); }
  int64_t dim() const override { return inner_->dim(); }
  void tokenize(const std::string& seq, std::vector<int32_t>& ids) const override { inner_->tokenize(seq, ids); }
  int64_t output_length(int64_t len_bp, int64_t n_tokens) const override {
    return inner_->output_length(len_bp, n_tokens);
  }
  void embed(const std::vector<const std::vector<int32_t>*>& tokens, const std::vector<int64_t>& len_bp,
             std::vector<std::vector<float>>& out) override {
    AutocastScope scope(dtype_);
    inner_->embed(tokens, len_bp, out);
  }
  void embed_tokens(const std::vector<const std::vector<int32_t>*>& tokens, const std::vector<int64_t>& len_bp,
                    std::vector<std::vector<float>>& out, std::vector<std::vector<VectorSpan>>& spans) override {
    AutocastScope scope(dtype_);
    inner_->embed_tokens(tokens, len_bp, out, spans);
  }
  int64_t token_level_rows(const std::vector<int32_t>& ids, int64_t len_bp) const override {
    return inner_->token_level_rows(ids, len_bp);
  }
  // Other vectors than float32's: a resume must not mix them.
  std::string fingerprint() const override { return inner_->fingerprint() + ";precision=" + precision_; }

 private:
  std::unique_ptr<Embedder> inner_;
  at::ScalarType dtype_;
  std::string precision_;
};

}  // namespace

std::unique_ptr<Embedder> with_precision(std::unique_ptr<Embedder> model, const EmbedderOptions& opts) {
  if (opts.precision == "fp32") return model;
  BEND_ASSERT(opts.use_cuda);
  if (opts.precision == "bf16") return std::make_unique<AutocastEmbedder>(std::move(model), at::kBFloat16, "bf16");
  if (opts.precision == "fp16") return std::make_unique<AutocastEmbedder>(std::move(model), at::kHalf, "fp16");
  fail("unknown --precision '%s' (expected fp32, bf16 or fp16)", opts.precision.c_str());
}

}  // namespace bend
