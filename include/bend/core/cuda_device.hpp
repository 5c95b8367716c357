// Which CUDA device a rank runs on (docs/cluster.md, "GPU jobs"). A pure decision from the
// rank's place on its node, the devices it sees and the launcher's environment, kept free of
// CUDA and torch headers so that it is unit tested on machines without a GPU.
#pragma once

#include <string>

namespace bend {

// What the choice depends on. The strings are environment variables' values; `has_*` says
// whether the variable is set at all (an empty CUDA_VISIBLE_DEVICES hides every device).
struct CudaDeviceInputs {
  int local_rank = 0;  // this rank's index among the job's ranks on its node (MPI shared-memory split)
  int n_visible = 0;   // CUDA devices this process sees (torch::cuda::device_count())
  bool has_visible_devices = false;
  std::string visible_devices;  // CUDA_VISIBLE_DEVICES: "0,1", "GPU-<uuid>,...", "MIG-..."
  bool has_step_gpus = false;
  std::string step_gpus;  // SLURM_STEP_GPUS: the GPUs of this srun step on this node (global ids)
};

// The decision: device index `index` (cuda:<index>), and one line saying why, for the log.
struct CudaDeviceChoice {
  int index = 0;
  std::string reason;
};

// Chooses the device (rules in docs/cluster.md):
// 1. a rank that Slurm bound to its own GPUs (--gpus-per-task, --gpu-bind: CUDA_VISIBLE_DEVICES
//    lists fewer GPUs than SLURM_STEP_GPUS) uses the first of them, cuda:0;
// 2. otherwise every rank of the node sees the same GPUs, and local rank k uses
//    cuda:(k mod n_visible) (ranks share GPUs round robin when there are more ranks than GPUs).
// Throws bend::Error naming CUDA_VISIBLE_DEVICES when no device is visible.
CudaDeviceChoice choose_cuda_device(const CudaDeviceInputs& in);

// The inputs of choose_cuda_device with the strings read from this process's environment.
CudaDeviceInputs cuda_device_inputs_from_env(int local_rank, int n_visible);

// Entries of a comma-separated device list ("0,1,2" -> 3; "" -> 0; empty entries not counted).
int count_device_list(const std::string& list);

}  // namespace bend
