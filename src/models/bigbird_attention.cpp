// BigBird block-sparse attention (layout and Hugging Face facts: bigbird_attention.hpp).
// Each query block attends to its own list of key blocks; the five query groups (first,
// second, middle, second-last, last) each run as one batched product over heads (and over the
// middle blocks), with the keys of a group concatenated and one softmax per query row.
#include "bigbird_attention.hpp"

#include <cmath>
#include <initializer_list>
#include <vector>

#include "bend/core/error.hpp"

namespace bend {

namespace {

// Hugging Face's additive score for padding keys (BigBirdBlockSparseAttention).
constexpr double kMaskPenalty = -10000.0;

// Batched a b^T through oneDNN: a [g, m, k], b [g, n, k] -> the transpose [g, n, m], as a
// grouped 1x1 convolution (group i: kernel b_i over the m pixels of a_i).
at::Tensor onednn_bmm_nt_transposed(const at::Tensor& a, const at::Tensor& b) {
  const int64_t g = a.size(0), m = a.size(1), k = a.size(2), n = b.size(1);
  const at::Tensor x = a.transpose(1, 2).reshape({1, g * k, 1, m});  // [1, g k, 1, m]
  const at::Tensor w = b.reshape({g * n, k, 1, 1});                  // [g n, k, 1, 1]
  return at::mkldnn_convolution(x, w, {}, {0, 0}, {1, 1}, {1, 1}, g).view({g, n, m});
}

// softmax(q k^T / sqrt(d) + penalty) v. q [..., m, d], k / v [..., n, d], penalty broadcast
// to [..., m, n]. Returns [..., m, d]. `onednn`: the products through oneDNN (CPU).
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const at::Tensor& penalty, double scale, bool onednn) {
  if (!onednn) {
    const at::Tensor s = at::matmul(q, k.transpose(-1, -2)) * scale + penalty;  // [..., m, n]
    return at::matmul(at::softmax(s, -1), v);
  }
  const int64_t m = q.size(-2), d = q.size(-1), n = k.size(-2);
  const int64_t g = q.numel() / (m * d);
  std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end());  // [..., m, d]
  const at::Tensor st = onednn_bmm_nt_transposed(q.reshape({g, m, d}), k.reshape({g, n, d}));
  shape.back() = n;
  // [g, n, m] -> [..., m, n], scaled and masked
  const at::Tensor s = st.transpose(1, 2).reshape(shape) * scale + penalty;
  const at::Tensor p = at::softmax(s, -1).reshape({g, m, n});  // [g, m, n]
  // context^T [g, d, m] = (v^T p^T) per group: kernel v^T [d, n] over the m pixels of p
  const at::Tensor vt = v.reshape({g, n, d}).transpose(1, 2);          // [g, d, n]
  const at::Tensor ct = onednn_bmm_nt_transposed(p, vt.contiguous());  // [g, d, m]
  shape.back() = d;
  return ct.transpose(1, 2).reshape(shape);
}

}  // namespace

at::Tensor bigbird_random_blocks(int64_t n_blocks, int64_t n_random, at::Device device) {
  // transformers >= 4.30: _bigbird_block_rand_mask(_with_head) return zeros when not training.
  return at::zeros({n_blocks - 2, n_random}, at::TensorOptions().dtype(at::kLong).device(device));
}

at::Tensor bigbird_block_sparse_attention(const at::Tensor& q, const at::Tensor& k,
                                          const at::Tensor& v, int64_t heads, int64_t block_size,
                                          const at::Tensor& random_blocks, bool onednn) {
  const int64_t len = q.size(0), hd = q.size(1), d = hd / heads, bs = block_size;
  const int64_t nb = (len + bs - 1) / bs, n = nb * bs, pad = n - len;
  const int64_t r = random_blocks.size(1);
  if (nb < 5 || random_blocks.size(0) != nb - 2) {
    fail(
        "BigBird block-sparse attention: %lld tokens make %lld blocks of %lld (needs >= 5, "
        "and %lld rows of random blocks, got %lld)",
        (long long)len, (long long)nb, (long long)bs, (long long)(nb - 2),
        (long long)random_blocks.size(0));
  }
  const double scale = 1.0 / std::sqrt(double(d));
  // [len, heads * d] -> zero-padded [heads, nb, bs, d]
  auto blocked = [&](const at::Tensor& x) {
    const at::Tensor p = pad > 0 ? at::constant_pad_nd(x, {0, 0, 0, pad}, 0) : x;  // [n, hd]
    return p.view({n, heads, d}).permute({1, 0, 2}).reshape({heads, nb, bs, d});
  };
  const at::Tensor qb = blocked(q), kb = blocked(k), vb = blocked(v);         // [heads, nb, bs, d]
  const at::Tensor kf = kb.view({heads, n, d}), vf = vb.view({heads, n, d});  // [heads, n, d]
  at::Tensor pen = at::zeros({n}, q.options());  // [n]: 0 real key, -10000 padding key
  if (pad > 0) pen.narrow(0, len, pad).fill_(kMaskPenalty);
  const at::Tensor pen_b = pen.view({nb, bs});  // [nb, bs]

  // Random keys of query blocks 1 .. nb-2 (row i - 1 for block i).
  const at::Tensor ids = random_blocks.reshape({-1});  // [(nb-2) r]
  const at::Tensor rk = kb.index_select(1, ids).view({heads, nb - 2, r * bs, d});
  const at::Tensor rv = vb.index_select(1, ids).view({heads, nb - 2, r * bs, d});
  const at::Tensor rpen = pen_b.index_select(0, ids).view({nb - 2, r * bs});  // [nb-2, r bs]

  auto blk = [&](const at::Tensor& x, int64_t i) { return x.select(1, i); };  // [heads, bs, d]
  // Global query blocks 0 and nb-1: every key.  [heads, bs, d]
  const at::Tensor c_first = attend(blk(qb, 0), kf, vf, pen, scale, onednn);
  const at::Tensor c_last = attend(blk(qb, nb - 1), kf, vf, pen, scale, onednn);
  // Query blocks 1 and nb-2: two sliding neighbours, both global blocks, r random blocks.
  auto edge = [&](int64_t i, std::initializer_list<int64_t> key_blocks) {
    std::vector<at::Tensor> ks, vs, ps;
    for (int64_t j : key_blocks) {
      ks.push_back(blk(kb, j));
      vs.push_back(blk(vb, j));
      ps.push_back(pen_b[j]);
    }
    ks.push_back(rk.select(1, i - 1));
    vs.push_back(rv.select(1, i - 1));
    ps.push_back(rpen[i - 1]);
    return attend(blk(qb, i), at::cat(ks, 1), at::cat(vs, 1), at::cat(ps, 0), scale, onednn);
  };
  const at::Tensor c_second = edge(1, {0, 1, 2, nb - 1});
  const at::Tensor c_second_last = edge(nb - 2, {0, nb - 3, nb - 2, nb - 1});

  // Middle query blocks 2 .. nb-3 (m = nb - 4 of them), batched: keys [heads, m, (5+r) bs, d]
  // = first block, blocks i-1 i i+1, random blocks, last block.
  const int64_t m = nb - 4;
  auto middle_keys = [&](const at::Tensor& xb, const at::Tensor& rx) {
    const at::Tensor first = xb.narrow(1, 0, 1).expand({heads, m, bs, d});
    const at::Tensor last = xb.narrow(1, nb - 1, 1).expand({heads, m, bs, d});
    return at::cat({first, xb.narrow(1, 1, m), xb.narrow(1, 2, m), xb.narrow(1, 3, m),
                    rx.narrow(1, 1, m), last},
                   2);
  };
  const at::Tensor mid_pen =
      at::cat(
          {pen_b.narrow(0, 0, 1).expand({m, bs}), pen_b.narrow(0, 1, m), pen_b.narrow(0, 2, m),
           pen_b.narrow(0, 3, m), rpen.narrow(0, 1, m), pen_b.narrow(0, nb - 1, 1).expand({m, bs})},
          1)
          .view({1, m, 1, (5 + r) * bs});
  const at::Tensor c_mid = attend(qb.narrow(1, 2, m), middle_keys(kb, rk), middle_keys(vb, rv),
                                  mid_pen, scale, onednn);  // [heads, m, bs, d]

  const at::Tensor ctx = at::cat({c_first.unsqueeze(1), c_second.unsqueeze(1), c_mid,
                                  c_second_last.unsqueeze(1), c_last.unsqueeze(1)},
                                 1);  // [heads, nb, bs, d]
  return ctx.view({heads, n, d}).permute({1, 0, 2}).reshape({n, hd}).narrow(0, 0, len);
}

}  // namespace bend
