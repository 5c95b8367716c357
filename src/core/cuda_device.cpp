// Which CUDA device a rank runs on (include/bend/core/cuda_device.hpp).
#include "bend/core/cuda_device.hpp"

#include <cstdlib>

#include "bend/core/error.hpp"

namespace bend {

int count_device_list(const std::string& list) {
  int n = 0;
  bool in_entry = false;
  for (char c : list) {
    if (c == ',') {
      in_entry = false;
    } else if (c != ' ' && !in_entry) {
      in_entry = true;
      ++n;
    }
  }
  return n;
}

CudaDeviceChoice choose_cuda_device(const CudaDeviceInputs& in) {
  if (in.local_rank < 0) fail("CUDA device choice: negative local rank %d", in.local_rank);
  if (in.n_visible <= 0) {
    if (in.has_visible_devices) {
      fail("no CUDA device visible to local rank %d (CUDA_VISIBLE_DEVICES=\"%s\")", in.local_rank,
           in.visible_devices.c_str());
    }
    fail("no CUDA device visible to local rank %d", in.local_rank);
  }
  CudaDeviceChoice c;
  const int n_listed = in.has_visible_devices ? count_device_list(in.visible_devices) : 0;
  const int n_step = in.has_step_gpus ? count_device_list(in.step_gpus) : 0;
  if (n_listed > 0 && n_step > 0 && n_listed < n_step) {
    // Slurm's per-task GPU binding: this rank sees its own GPUs only, whatever its local rank.
    c.index = 0;
    c.reason = strfmt("Slurm bound this task to %d of the step's %d GPUs on this node "
                      "(CUDA_VISIBLE_DEVICES=%s): cuda:0",
                      n_listed, n_step, in.visible_devices.c_str());
    return c;
  }
  c.index = in.local_rank % in.n_visible;
  if (in.n_visible == 1) {
    c.reason = "one CUDA device visible: cuda:0";
  } else if (in.local_rank < in.n_visible) {
    c.reason = strfmt("local rank %d of the node, %d CUDA devices visible: cuda:%d", in.local_rank,
                      in.n_visible, c.index);
  } else {
    c.reason = strfmt("local rank %d of the node, only %d CUDA devices visible: cuda:%d "
                      "(shared with lower ranks)",
                      in.local_rank, in.n_visible, c.index);
  }
  return c;
}

CudaDeviceInputs cuda_device_inputs_from_env(int local_rank, int n_visible) {
  CudaDeviceInputs in;
  in.local_rank = local_rank;
  in.n_visible = n_visible;
  if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES")) {
    in.has_visible_devices = true;
    in.visible_devices = v;
  }
  if (const char* v = std::getenv("SLURM_STEP_GPUS")) {
    in.has_step_gpus = true;
    in.step_gpus = v;
  }
  return in;
}

}  // namespace bend
