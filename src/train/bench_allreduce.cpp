// `bend bench allreduce`: bend train's gradient reducer (MPI on host buffers, NCCL on device
// buffers) timed on one fused float32 buffer, with the bus bandwidth nccl-tests would report.
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "bend/core/error.hpp"
#include "bend/core/log.hpp"
#include "bend/dist/collective.hpp"
#include "bend/dist/comm.hpp"
#include "bend/dist/reducer.hpp"
#include "bend/train/bench_train.hpp"
#include "../models/torch_zoo.hpp"  // the device of this rank, as bend train chooses it

namespace bend {

AllreduceBenchResult bench_allreduce(const AllreduceBenchSettings& s, Comm& comm) {
  if (!(s.mib > 0)) fail("--mib must be positive (got %g)", s.mib);
  if (s.iters < 1 || s.iters > 30) fail("--iters must be 1..30 (got %d): the summed values grow each time", s.iters);
  torch::Device device(torch::kCPU);
  std::unique_ptr<GradReducer> reducer;
  collective_check(comm, "choosing the device", [&] {
    device = zoo::select_torch_device("bend bench allreduce", s.use_cuda, comm.local_rank());
  });
#ifdef BEND_WITH_NCCL
  if (device.is_cuda()) {
    collective_check(comm, "starting NCCL", [&] { reducer = make_nccl_reducer(comm, device.index()); });
  }
#endif
  if (!reducer) reducer = make_mpi_reducer(comm);
  const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(s.mib * 1024 * 1024 / sizeof(float)));
  const torch::Device where = reducer->device_buffers() ? device : torch::Device(torch::kCPU);
  torch::Tensor buf = torch::full({n}, float(comm.rank() + 1), torch::TensorOptions().device(where));
  // 1. One checked sum. 2. The timed sums (the values keep growing: n_ranks ^ iters stays finite).
  reducer->sum(buf.data_ptr<float>(), n);
  const float want = float(comm.size()) * float(comm.size() + 1) / 2.0f;
  collective_check(comm, "checking the sum", [&] {
    torch::Tensor wrong = (buf.to(torch::kCPU) != want).nonzero();
    if (wrong.numel() > 0) {
      const int64_t i = wrong[0][0].item<int64_t>();
      fail("allreduce (%s): element %lld is %g, expected %g", reducer->name(), (long long)i,
           buf[i].item<double>(), double(want));
    }
  });
  comm.barrier();
  const double t0 = wall_seconds();
  for (int k = 0; k < s.iters; ++k) reducer->sum(buf.data_ptr<float>(), n);
  double elapsed = wall_seconds() - t0;
  std::string bytes(reinterpret_cast<const char*>(&elapsed), sizeof elapsed);
  comm.bcast(bytes, 0);
  std::memcpy(&elapsed, bytes.data(), sizeof elapsed);
  AllreduceBenchResult r;
  r.reducer = reducer->name();
  r.n_ranks = comm.size();
  r.seconds_per_sum = elapsed / s.iters;
  r.algbw_gb_s = double(n) * sizeof(float) / r.seconds_per_sum / 1e9;
  r.busbw_gb_s = r.algbw_gb_s * 2.0 * (comm.size() - 1) / comm.size();
  return r;
}

}  // namespace bend
