// `--precision` (bend/models/precision.hpp): fp32 leaves the model alone; bf16 / fp16 run the
// model's embed calls under CUDA autocast of that dtype on the calling thread and restore the
// previous state after, forward everything else, and mark the fingerprint. On this CPU-only
// LibTorch the autocast state is observed from inside a recording model (the numerical effect
// on a GPU is tests/gpu/test_cuda_models.py's).
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/models/precision.hpp"

namespace {

bool cuda_autocast_on() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::is_autocast_enabled(at::kCUDA);
#else
  return at::autocast::is_enabled();
#endif
}

at::ScalarType cuda_autocast_dtype() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::get_autocast_dtype(at::kCUDA);
#else
  return at::autocast::get_autocast_gpu_dtype();
#endif
}

// A model that records the CUDA autocast state its embed calls ran under.
class Recorder : public bend::Embedder {
 public:
  std::string name() const override { return "recorder"; }
  int64_t dim() const override { return 3; }
  void tokenize(const std::string& seq, std::vector<int32_t>& ids) const override {
    ids.assign(seq.size(), 7);
  }
  int64_t output_length(int64_t len_bp, int64_t n_tokens) const override { return len_bp + n_tokens; }
  void embed(const std::vector<const std::vector<int32_t>*>& tokens, const std::vector<int64_t>& len_bp,
             std::vector<std::vector<float>>& out) override {
    seen_on.push_back(cuda_autocast_on());
    seen_dtype.push_back(cuda_autocast_dtype());
    out.assign(tokens.size(), std::vector<float>(3, 1.5f));
  }
  int64_t token_level_rows(const std::vector<int32_t>& ids, int64_t len_bp) const override { return 42; }
  std::string fingerprint() const override { return "recorder:1"; }
  std::vector<bool> seen_on;
  std::vector<at::ScalarType> seen_dtype;
};

}  // namespace

TEST_CASE("fp32 returns the model itself") {
  auto rec = std::make_unique<Recorder>();
  bend::Embedder* raw = rec.get();
  bend::EmbedderOptions o;
  o.precision = "fp32";
  auto m = bend::with_precision(std::move(rec), o);
  CHECK(m.get() == raw);
}

TEST_CASE("bf16 and fp16 run embed under CUDA autocast of that dtype and restore the state after") {
  const std::vector<std::pair<std::string, at::ScalarType>> cases = {{"bf16", at::kBFloat16}, {"fp16", at::kHalf}};
  for (const auto& c : cases) {
    auto rec = std::make_unique<Recorder>();
    Recorder* r = rec.get();
    bend::EmbedderOptions o;
    o.use_cuda = true;
    o.precision = c.first;
    auto m = bend::with_precision(std::move(rec), o);
    REQUIRE(m.get() != r);
    const bool was_on = cuda_autocast_on();
    const at::ScalarType was_dtype = cuda_autocast_dtype();
    std::vector<int32_t> ids;
    m->tokenize("ACG", ids);
    std::vector<std::vector<float>> out;
    m->embed({&ids}, {3}, out);
    std::vector<std::vector<bend::VectorSpan>> spans;
    m->embed_tokens({&ids}, {3}, out, spans);  // default implementation: embed() again
    REQUIRE(r->seen_on.size() == 2);
    CHECK(r->seen_on[0]);
    CHECK(r->seen_dtype[0] == c.second);
    CHECK(r->seen_on[1]);
    CHECK(cuda_autocast_on() == was_on);
    CHECK(cuda_autocast_dtype() == was_dtype);
    // everything else is the model's own
    CHECK(ids == std::vector<int32_t>{7, 7, 7});
    CHECK(out.size() == 1);
    CHECK(out[0] == std::vector<float>(3, 1.5f));
    CHECK(m->name() == "recorder");
    CHECK(m->dim() == 3);
    CHECK(m->output_length(10, 4) == 14);
    CHECK(m->token_level_rows(ids, 3) == 42);
    CHECK(m->fingerprint() == "recorder:1;precision=" + c.first);
  }
}
