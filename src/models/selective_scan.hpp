// Private to src/models: Mamba's selective scan on CPU in plain C++ (the recurrence of
// mamba_ssm's selective_scan_ref), used by the Caduceus model. Torch-free.
#pragma once

#include <cstdint>

namespace bend {

// Sizes of one scan: batch rows, positions, channels (d_inner), state size (d_state).
struct ScanShape {
  int64_t nb = 0, len = 0, di = 0, n = 0;
};

// For batch row b and channels [d0, d1), all float32 row-major:
//   u, dt [nb, len, di] (dt = dt_proj output incl. its bias, before softplus); a_t [n, di] = A
//   transposed (A = -exp(A_log) <= 0); bm, cm [nb, len, n]; y [nb, len, di] (written for row b,
//   channels d0 .. d1-1): delta_t = softplus(dt_t), h_t = exp(delta_t A) h_{t-1} +
//   delta_t u_t B_t (h_{-1} = 0), y_t = C_t . h_t.
// exp and log1p are polynomials (Cephes expf / logf; relative error < 1e-7 for exp arguments in
// [-87, 0], clamped below -87; softplus < 2.5e-7) written so the compiler vectorizes the channel
// loops: LibTorch's own softplus and exp run scalar in this build. Thread-safe for disjoint
// (b, channel) ranges.
void selective_scan_rows(const ScanShape& s, const float* u, const float* dt, const float* a_t,
                         const float* bm, const float* cm, float* y, int64_t b, int64_t d0,
                         int64_t d1);

}  // namespace bend
