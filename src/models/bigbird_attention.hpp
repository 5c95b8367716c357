// Private to src/models: Hugging Face BigBird's block-sparse self-attention (BigBirdModel with
// "attention_type": "block_sparse", eval mode), as transformers >= 4.30 computes it, for one
// sequence. Device-agnostic ATen ops (CPU or CUDA tensors).
//
// Layout (block_size B, r random blocks, the sequence padded to nb blocks, pad keys masked):
//   query block 0 and nb-1 (global):  every key
//   query block 1:                    key blocks 0, 1, 2, nb-1 and r random blocks
//   query block nb-2:                 key blocks 0, nb-3, nb-2, nb-1 and r random blocks
//   query block i in [2, nb-3]:       key blocks 0, i-1, i, i+1, nb-1 and r random blocks
// Random blocks: in eval mode Hugging Face (since transformers 4.30, PR #23056) takes block 0
// for every random slot, so each middle query sees the first block's keys 1 + r times
// (bigbird_random_blocks). Padding keys get -10000 added to their scores, as Hugging Face does.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace bend {

// Hugging Face's eval-mode random key blocks of query blocks 1 .. nb-2: [nb - 2, r] int64, all
// 0, on `device`. (Training mode draws them with numpy; bend only runs inference.)
at::Tensor bigbird_random_blocks(int64_t n_blocks, int64_t n_random, at::Device device);

// Block-sparse attention of one sequence: q, k, v [len, heads * d] (projected, heads side by
// side), len > (5 + 2 r) B as Hugging Face requires. `random_blocks` [nb - 2, r] int64: the key
// block of each random slot (bigbird_random_blocks). Returns the context [len, heads * d]
// (before the output projection). `onednn`: CPU tensors, products through oneDNN (grouped 1x1
// convolutions; this platform's at::matmul uses a generic BLAS); else at::matmul (CUDA).
at::Tensor bigbird_block_sparse_attention(const at::Tensor& q, const at::Tensor& k,
                                          const at::Tensor& v, int64_t heads, int64_t block_size,
                                          const at::Tensor& random_blocks, bool onednn);

}  // namespace bend
