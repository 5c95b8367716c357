// The head's speed-ups give LibTorch's own results: avg_pool_windows against at::avg_pool1d
// (forward and gradient, bit for bit), and forward (channels-last first convolution) against
// forward_channels_first (torch's Conv1d) on the transposed input, logits and every parameter
// gradient up to float rounding.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "../../src/train/head.hpp"
#include "bend/core/error.hpp"

namespace {

bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() && torch::equal(a, b);
}

}  // namespace

TEST_CASE("avg_pool_windows equals at::avg_pool1d, gradient included", "[head]") {
  torch::manual_seed(5);
  for (int64_t w : {1, 2, 3, 7, 10, 64}) {
    for (int64_t len : {w, 3 * w, 3 * w + 2, int64_t{64}}) {
      if (len < w) continue;
      INFO("window " << w << " len " << len);
      const torch::Tensor x0 = torch::randn({3, 4, len});
      const torch::Tensor g = torch::randn({3, 4, len / w}) * 3.7;
      torch::Tensor xa = x0.clone().requires_grad_(true), xb = x0.clone().requires_grad_(true);
      torch::Tensor ya = torch::avg_pool1d(xa, {w}, {w}), yb = bend::avg_pool_windows(xb, w);
      CHECK(same_bits(ya, yb));
      ya.backward(g);
      yb.backward(g);
      CHECK(same_bits(xa.grad(), xb.grad()));
    }
  }
  SECTION("one window over the whole sequence, as the benchmark's head pools") {
    const torch::Tensor x0 = torch::randn({8, 16, 512});
    const torch::Tensor g = torch::randn({8, 16, 1});
    torch::Tensor xa = x0.clone().requires_grad_(true), xb = x0.clone().requires_grad_(true);
    torch::avg_pool1d(xa, {512}, {512}).backward(g);
    bend::avg_pool_windows(xb, 512).backward(g);
    CHECK(same_bits(xa.grad(), xb.grad()));
  }
}

TEST_CASE("forward (channels-last first convolution) equals forward_channels_first (Conv1d)", "[head]") {
  // Two convolution kernels: equal up to float rounding, logits and every parameter gradient.
  for (int64_t dim : {5, 256}) {
    for (int64_t window : {0, 4, 32}) {
      INFO("dim " << dim << " window " << window);
      bend::HeadConfig cfg;
      cfg.input_dim = dim;
      cfg.hidden = 8;
      cfg.output_window = window;
      cfg.n_out = 3;
      bend::Head a(cfg, 3), b(cfg, 3);
      torch::manual_seed(9);
      const torch::Tensor x = torch::rand({4, 32, dim});  // [batch, len, dim]
      const torch::Tensor la = a->forward(x);
      const torch::Tensor lb = b->forward_channels_first(x.transpose(1, 2).contiguous());
      REQUIRE(la.sizes() == lb.sizes());
      CHECK(torch::allclose(la, lb, 1e-5, 1e-6));
      (la * la).sum().backward();
      (lb * lb).sum().backward();
      auto pa = bend::head_named_parameters(a), pb = bend::head_named_parameters(b);
      for (size_t i = 0; i < pa.size(); ++i) {
        INFO(pa[i].first);
        CHECK(torch::allclose(pa[i].second.grad(), pb[i].second.grad(), 1e-4, 1e-6));
      }
      CHECK(torch::equal(la, b->forward(x)));  // deterministic: same seed, same bits
    }
  }
  SECTION("errors name the channels-first layout") {
    bend::HeadConfig cfg;
    cfg.input_dim = 5;
    cfg.n_out = 2;
    cfg.output_window = 8;
    bend::Head h(cfg, 1);
    CHECK_THROWS_WITH(h->forward_channels_first(torch::rand({2, 4, 16})),
                      Catch::Contains("expected [batch, 5, len]"));
    CHECK_THROWS_WITH(h->forward_channels_first(torch::rand({2, 5, 6})),
                      Catch::Contains("shorter than the output window"));
  }
}
