// single_node_pml: which Open MPI PML bend asks for, from the launcher's environment.
// (test_comm_mpirun.sh checks under a real mpirun that Open MPI then selects it.)
#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "bend/dist/comm.hpp"

namespace {
std::map<std::string, std::string> g_env;
const char* fake_env(const char* name) {
  auto it = g_env.find(name);
  return it == g_env.end() ? nullptr : it->second.c_str();
}
std::string choice(std::map<std::string, std::string> env) {
  g_env = std::move(env);
  const char* p = bend::single_node_pml(fake_env);
  return p == nullptr ? "(open mpi's choice)" : p;
}
}  // namespace

TEST_CASE("mpirun with every rank on this node gets ob1, across nodes Open MPI chooses") {
  CHECK(choice({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}, {"PMIX_RANK", "0"}}) == "ob1");
  CHECK(choice({{"OMPI_COMM_WORLD_SIZE", "8"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}, {"PMIX_RANK", "0"}}) ==
        "(open mpi's choice)");
  // mpirun inside a two-node allocation that placed all ranks on one node: the ranks decide
  CHECK(choice({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}, {"SLURM_STEP_NUM_NODES", "2"},
                {"PMIX_RANK", "1"}}) == "ob1");
}

TEST_CASE("a PML the user set is kept, whatever the launcher") {
  CHECK(choice({{"OMPI_MCA_pml", "ucx"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}}) ==
        "(open mpi's choice)");
  CHECK(choice({{"OMPI_MCA_pml", ""}}) == "(open mpi's choice)");
}

TEST_CASE("srun: ob1 only for a one-node step") {
  CHECK(choice({{"SLURM_STEP_NUM_NODES", "1"}, {"PMIX_RANK", "3"}}) == "ob1");
  CHECK(choice({{"SLURM_STEP_NUM_NODES", "2"}, {"PMIX_RANK", "3"}}) == "(open mpi's choice)");
  CHECK(choice({{"SLURM_STEP_NUM_NODES", "1"}, {"PMI_RANK", "0"}}) == "ob1");
}

TEST_CASE("no launcher: a singleton gets ob1, an unknown launcher leaves it to Open MPI") {
  CHECK(choice({}) == "ob1");
  CHECK(choice({{"SLURM_STEP_NUM_NODES", "1"}}) == "ob1");  // a batch shell, no srun step rank
  CHECK(choice({{"PMI_RANK", "0"}, {"PMI_SIZE", "2"}}) == "(open mpi's choice)");
  CHECK(choice({{"MPI_LOCALNRANKS", "2"}}) == "(open mpi's choice)");
}
