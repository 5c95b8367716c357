// Allocator settings for processes that run a model on batches: bend train, bend embed,
// bend genome and the benchmarks that stand for them.
#pragma once

namespace bend {

// Makes glibc malloc keep freed memory for reuse instead of returning it to the kernel: no
// mmap for large blocks (M_MMAP_MAX 0) and no trimming of the heap top (M_TRIM_THRESHOLD at its
// maximum). A head training step allocates and frees ~100 MB of tensors (a 64 x 512 x 256
// float32 batch is 32 MiB, above glibc's largest mmap threshold), a language model's forward
// tens of MB per batch; with the defaults every one of them comes back as fresh zeroed pages:
// ~40,000 page faults and a third of the CPU time of each step on the 512 x 256 training
// benchmark, 7-11% of a ResNet-LM embed run (docs/benchmarks.md). The cost: the process keeps
// its peak heap until it exits. Idempotent; call before the batch loop, from any one thread.
// Set BEND_MALLOC_DEFAULTS=1 to keep glibc's defaults. Never fails (a refused setting is
// logged and ignored).
void tune_allocator_for_batches();

}  // namespace bend
