// The CUDA device a rank chooses (bend/core/cuda_device.hpp), for the launch layouts of
// docs/cluster.md ("GPU jobs"). Pure function: no GPU needed.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "bend/core/cuda_device.hpp"
#include "bend/core/error.hpp"

namespace {

bend::CudaDeviceInputs inputs(int local_rank, int n_visible, const char* visible, const char* step) {
  bend::CudaDeviceInputs in;
  in.local_rank = local_rank;
  in.n_visible = n_visible;
  if (visible) {
    in.has_visible_devices = true;
    in.visible_devices = visible;
  }
  if (step) {
    in.has_step_gpus = true;
    in.step_gpus = step;
  }
  return in;
}

int device(int local_rank, int n_visible, const char* visible, const char* step) {
  return bend::choose_cuda_device(inputs(local_rank, n_visible, visible, step)).index;
}

}  // namespace

TEST_CASE("gpus-per-task=1 with devices constrained: every rank uses its only GPU, cuda:0") {
  // Slurm with ConstrainDevices renumbers each task's GPU to 0; the old rule (cuda:<local rank>)
  // failed on every rank but the first.
  for (int r = 0; r < 4; ++r) CHECK(device(r, 1, "0", "0,1,2,3") == 0);
  bend::CudaDeviceChoice c = bend::choose_cuda_device(inputs(3, 1, "0", "0,1,2,3"));
  CHECK(c.reason.find("bound this task to 1 of the step's 4 GPUs") != std::string::npos);
}

TEST_CASE("gpus-per-task=2 without device constraint: a rank uses the first of its own GPUs") {
  // Rank 2 of a node sees GPUs 4,5 of 8 as cuda:0 and cuda:1; cuda:2 does not exist for it.
  CHECK(device(0, 2, "0,1", "0,1,2,3,4,5,6,7") == 0);
  CHECK(device(2, 2, "4,5", "0,1,2,3,4,5,6,7") == 0);
  CHECK(device(3, 2, "6,7", "0,1,2,3,4,5,6,7") == 0);
}

TEST_CASE("gpu-bind with UUIDs or MIG instances counts entries, not numbers") {
  CHECK(device(1, 1, "GPU-5c3b9a7e-0000-1111-2222-333344445555", "0,1") == 0);
  CHECK(device(2, 1, "MIG-1b2c3d4e-aaaa-bbbb-cccc-ddddeeeeffff", "0,1,2") == 0);
}

TEST_CASE("gpus-per-node, every rank sees all GPUs of its node: local rank k uses cuda:k") {
  for (int r = 0; r < 4; ++r) CHECK(device(r, 4, "0,1,2,3", "0,1,2,3") == r);
  // the node's GPUs 4-7 of a bigger machine, renumbered 0-3 by CUDA
  for (int r = 0; r < 4; ++r) CHECK(device(r, 4, "4,5,6,7", "4,5,6,7") == r);
}

TEST_CASE("mpirun without Slurm, or inside a batch step: the local rank picks among all devices") {
  CHECK(device(0, 2, nullptr, nullptr) == 0);
  CHECK(device(1, 2, nullptr, nullptr) == 1);
  CHECK(device(1, 2, "0,1", nullptr) == 1);  // batch step: SLURM_STEP_GPUS is not set there
  CHECK(device(5, 8, nullptr, nullptr) == 5);
}

TEST_CASE("more ranks than GPUs: ranks share the GPUs round robin and the reason says so") {
  CHECK(device(2, 2, nullptr, nullptr) == 0);
  CHECK(device(3, 2, "0,1", "0,1") == 1);
  CHECK(device(7, 1, nullptr, nullptr) == 0);
  bend::CudaDeviceChoice c = bend::choose_cuda_device(inputs(3, 2, nullptr, nullptr));
  CHECK(c.reason.find("shared") != std::string::npos);
}

TEST_CASE("no visible device is an error naming CUDA_VISIBLE_DEVICES") {
  CHECK_THROWS_WITH(bend::choose_cuda_device(inputs(0, 0, "", "0,1")),
                    Catch::Contains("no CUDA device visible to local rank 0") &&
                        Catch::Contains("CUDA_VISIBLE_DEVICES=\"\""));
  CHECK_THROWS_WITH(bend::choose_cuda_device(inputs(1, 0, nullptr, nullptr)),
                    Catch::Contains("no CUDA device visible to local rank 1"));
  CHECK_THROWS_AS(bend::choose_cuda_device(inputs(-1, 2, nullptr, nullptr)), bend::Error);
}

TEST_CASE("device lists are counted by their non-empty entries") {
  CHECK(bend::count_device_list("") == 0);
  CHECK(bend::count_device_list("0") == 1);
  CHECK(bend::count_device_list("0,1,2") == 3);
  CHECK(bend::count_device_list("0,,1,") == 2);
  CHECK(bend::count_device_list(" 0, 1") == 2);
  CHECK(bend::count_device_list("GPU-aa-bb,GPU-cc-dd") == 2);
}

TEST_CASE("the inputs come from CUDA_VISIBLE_DEVICES and SLURM_STEP_GPUS, unset or set") {
  setenv("CUDA_VISIBLE_DEVICES", "3", 1);
  setenv("SLURM_STEP_GPUS", "0,1,2,3", 1);
  bend::CudaDeviceInputs in = bend::cuda_device_inputs_from_env(3, 1);
  CHECK(in.local_rank == 3);
  CHECK(in.n_visible == 1);
  CHECK(in.has_visible_devices);
  CHECK(in.visible_devices == "3");
  CHECK(in.has_step_gpus);
  CHECK(in.step_gpus == "0,1,2,3");
  CHECK(bend::choose_cuda_device(in).index == 0);
  unsetenv("CUDA_VISIBLE_DEVICES");
  unsetenv("SLURM_STEP_GPUS");
  in = bend::cuda_device_inputs_from_env(1, 2);
  CHECK_FALSE(in.has_visible_devices);
  CHECK_FALSE(in.has_step_gpus);
  CHECK(bend::choose_cuda_device(in).index == 1);
}
