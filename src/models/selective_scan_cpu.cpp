// Mamba's selective scan on CPU (src/models/selective_scan.hpp). Torch-free. The channel loop
// is the hot loop of the Caduceus model; it is compiled with -O3 and finite math (no NaN/inf
// checks in fmax) so GCC vectorizes it at the build's baseline ISA.
#include <cstring>
#include <vector>

#include "selective_scan.hpp"

#pragma GCC optimize("O3", "finite-math-only")

namespace bend {

namespace {

// exp(x) for x <= ~0: 2^k p(r) with k = round(x / ln 2), r = x - k ln 2 (two-part ln 2) and
// Cephes' expf polynomial; x below -87 is clamped (result ~1e-38 instead of 0).
inline float poly_exp(float x) {
  x = __builtin_fmaxf(x, -87.0f);
  const float shifted = x * 1.44269504088896341f + 12582912.0f;  // 1.5 * 2^23: round to nearest
  const float k = shifted - 12582912.0f;
  int32_t k_bits;
  std::memcpy(&k_bits, &shifted, sizeof(k_bits));
  const int32_t k_int = k_bits - 0x4B400000;
  float r = x - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  const float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  const int32_t scale_bits = (k_int + 127) << 23;
  float scale;
  std::memcpy(&scale, &scale_bits, sizeof(scale));
  return p * scale;
}

// log(1 + e) for e in [0, 1]: Cephes' logf polynomial on 1 + e reduced to [sqrt(1/2), sqrt(2)),
// with e itself as the argument below sqrt(2) (no rounding of 1 + e there). Branch-free.
inline float log1p_unit(float e) {
  const float ex = __builtin_fminf(1.0f, __builtin_fmaxf(0.0f, (e - 0.41421356237f) * 1e30f));
  const float x = e - ex * (0.5f * e + 0.5f);  // ex = 1: (1 + e) / 2 - 1
  const float z = x * x;
  float y = 7.0376836292e-2f;
  y = y * x - 1.1514610310e-1f;
  y = y * x + 1.1676998740e-1f;
  y = y * x - 1.2420140846e-1f;
  y = y * x + 1.4249322787e-1f;
  y = y * x - 1.6668057665e-1f;
  y = y * x + 2.0000714765e-1f;
  y = y * x - 2.4999993993e-1f;
  y = y * x + 3.3333331174e-1f;
  y = y * x * z;
  y += -2.12194440e-4f * ex;
  y += -0.5f * z;
  return x + y + 0.693359375f * ex;
}

// softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)) (torch's threshold 20 returns x
// there; this differs from it by < 1 ulp). Relative error < 2.5e-7.
inline float softplus(float x) {
  return __builtin_fmaxf(x, 0.0f) + log1p_unit(poly_exp(-__builtin_fabsf(x)));
}

// One position: delta = softplus(dt), du = delta u, y = 0 over `w` channels.
void scan_inputs(float* __restrict dl, float* __restrict du, float* __restrict y,
                 const float* __restrict dt, const float* __restrict u, int64_t w) {
  for (int64_t d = 0; d < w; d++) {
    dl[d] = softplus(dt[d]);
    du[d] = dl[d] * u[d];
    y[d] = 0.0f;
  }
}

// One position, one state index: h = exp(dl a) h + du bn; y += h cn over `w` channels.
void scan_step(float* __restrict h, float* __restrict y, const float* __restrict dl,
               const float* __restrict a, const float* __restrict du, float bn, float cn,
               int64_t w) {
  for (int64_t d = 0; d < w; d++) {
    h[d] = poly_exp(dl[d] * a[d]) * h[d] + du[d] * bn;
    y[d] += h[d] * cn;
  }
}

}  // namespace

void selective_scan_rows(const ScanShape& s, const float* u, const float* dt, const float* a_t,
                         const float* bm, const float* cm, float* y, int64_t b, int64_t d0,
                         int64_t d1) {
  const int64_t w = d1 - d0;
  std::vector<float> h(size_t(s.n * w), 0.0f);    // [n, w] state
  std::vector<float> dl(static_cast<size_t>(w));  // delta_t
  std::vector<float> du(static_cast<size_t>(w));  // delta_t u_t
  for (int64_t t = 0; t < s.len; t++) {
    const int64_t row = (b * s.len + t) * s.di + d0;
    float* yt = y + row;
    scan_inputs(dl.data(), du.data(), yt, dt + row, u + row, w);
    const float* bt = bm + (b * s.len + t) * s.n;
    const float* ct = cm + (b * s.len + t) * s.n;
    for (int64_t k = 0; k < s.n; k++)
      scan_step(&h[size_t(k * w)], yt, dl.data(), a_t + k * s.di + d0, du.data(), bt[k], ct[k], w);
  }
}

}  // namespace bend
