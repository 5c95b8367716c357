// Gradient averaging for data-parallel training, behind one interface: MPI_Allreduce on CPU
// buffers, NCCL on CUDA buffers (builds with BEND_WITH_NCCL). The trainer packs every gradient
// into one fused buffer and makes one call per step (Horovod's fusion buffer).
#pragma once

#include <cstdint>
#include <memory>

namespace bend {

class Comm;

class GradReducer {
 public:
  virtual ~GradReducer() = default;
  // In-place element-wise sum over all ranks of `n` floats at `data` (host memory for MPI,
  // device memory for NCCL). Collective: every rank calls it with the same n, in the same order.
  virtual void sum(float* data, int64_t n) = 0;
  // "mpi" or "nccl", for logs.
  virtual const char* name() const = 0;
  // True when sum() takes CUDA device memory (NCCL), false for host memory (MPI).
  virtual bool device_buffers() const = 0;
};

// Sums with MPI_Allreduce on `comm` (host buffers).
std::unique_ptr<GradReducer> make_mpi_reducer(Comm& comm);

#ifdef BEND_WITH_NCCL
// Sums with ncclAllReduce on CUDA device `device` (device buffers); the NCCL unique id is
// broadcast over `comm`. sum() first waits for all work queued on the device (whatever stream
// wrote `data`), returns once the result is in `data`. Throws bend::Error naming the NCCL/CUDA
// failure.
std::unique_ptr<GradReducer> make_nccl_reducer(Comm& comm, int device);
#endif

}  // namespace bend
