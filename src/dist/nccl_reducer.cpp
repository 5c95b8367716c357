// NCCL gradient sums for CUDA training. Compiled only with BEND_WITH_NCCL (GPU builds).
#ifdef BEND_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <string>

#include "bend/core/error.hpp"
#include "bend/dist/comm.hpp"
#include "bend/dist/reducer.hpp"

namespace bend {

namespace {

void check_nccl(ncclResult_t rc, const char* what) {
  if (rc != ncclSuccess) fail("NCCL %s failed: %s", what, ncclGetErrorString(rc));
}

void check_cuda(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess) fail("CUDA %s failed: %s", what, cudaGetErrorString(rc));
}

class NcclReducer : public GradReducer {
 public:
  NcclReducer(Comm& comm, int device) {
    // 1. Rank 0 creates the NCCL unique id. 2. MPI broadcasts it. 3. Every rank joins.
    ncclUniqueId id;
    std::string bytes;
    if (comm.rank() == 0) {
      check_nccl(ncclGetUniqueId(&id), "GetUniqueId");
      bytes.assign(reinterpret_cast<const char*>(&id), sizeof id);
    }
    comm.bcast(bytes, 0);
    std::memcpy(&id, bytes.data(), sizeof id);
    check_cuda(cudaSetDevice(device), "SetDevice");
    check_cuda(cudaStreamCreate(&stream_), "StreamCreate");
    check_nccl(ncclCommInitRank(&nccl_, comm.size(), id, comm.rank()), "CommInitRank");
  }
  ~NcclReducer() override {
    ncclCommDestroy(nccl_);
    cudaStreamDestroy(stream_);
  }
  void sum(float* data, int64_t n) override {
    // The gradients were packed by LibTorch on its own stream: wait for the whole device.
    check_cuda(cudaDeviceSynchronize(), "DeviceSynchronize");
    check_nccl(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat, ncclSum, nccl_, stream_),
               "AllReduce");
    check_cuda(cudaStreamSynchronize(stream_), "StreamSynchronize");
  }
  const char* name() const override { return "nccl"; }
  bool device_buffers() const override { return true; }

 private:
  ncclComm_t nccl_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<GradReducer> make_nccl_reducer(Comm& comm, int device) {
  return std::make_unique<NcclReducer>(comm, device);
}

}  // namespace bend
#endif  // BEND_WITH_NCCL
