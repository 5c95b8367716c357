// The only component that talks MPI. Compute code never includes <mpi.h>; it uses this class.
// The library works on its own duplicated communicator and asks for MPI_THREAD_SERIALIZED:
// every method holds bend::library_mutex() (core/library_lock.hpp) while it is in MPI, so
// several threads of a rank may use Comm; a blocking recv() holds it while it waits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bend {

// The Open MPI point-to-point layer (PML) bend asks for when the user has chosen none, given how
// the process was launched (`env` looks up one environment variable, nullptr if unset): "ob1"
// (shared memory) when every rank of the job runs on this node, nullptr (Open MPI's own choice)
// otherwise. Open MPI's default selection opens the "cm" PML, which probes libfabric and PSM
// fabrics for ~0.2 s per process even on a machine that has none; within one node ob1 is the
// transport it ends up with. All ranks see the same launcher variables, so all choose alike.
const char* single_node_pml(const char* (*env)(const char*));

// One MPI session: MPI_Init_thread in the constructor, MPI_Finalize in the destructor.
// Started without a launcher (no mpirun/srun environment) it is a "solo" communicator of size
// 1 that does not initialise MPI at all (an Open MPI singleton start costs ~0.5 s) until
// native_handle() is asked for. Not copyable.
class Comm {
 public:
  Comm();
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Rank among the processes on this node (selects the CUDA device).
  int local_rank() const { return local_rank_; }

  void barrier();
  // Root's `data` is copied into every rank's `data`.
  void bcast(std::string& data, int root);
  // Blocking point-to-point messages of bytes.
  void send(int dest, int tag, const std::string& data);
  std::string recv(int src, int tag);
  // Non-blocking: if a message with `tag` from any rank is waiting, receives it and returns true.
  bool try_recv_any(int tag, int& src, std::string& data);
  // Every rank's `mine`, in rank order, on root (other ranks get an empty vector).
  std::vector<std::string> gather(const std::string& mine, int root);
  // Element-wise sums over all ranks, in place.
  void allreduce_sum(double* values, int n);
  void allreduce_sum(int64_t* values, int n);
  void allreduce_sum(float* values, int64_t n);
  // The MPI_Comm (a pointer to it, type-erased) for libraries that take one, i.e. parallel
  // HDF5 (H5Pset_fapl_mpio). Calls through it must hold bend::library_mutex().
  // A solo Comm initialises MPI here, on first use.
  const void* native_handle();
  // True when started without a launcher and MPI is not (yet) initialised.
  bool solo() const { return solo_; }
  // Ends every rank of the job (MPI_Abort) with `code`.
  [[noreturn]] void abort(int code);

 private:
  void* comm_ = nullptr;  // MPI_Comm (a duplicate of MPI_COMM_WORLD), type-erased
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  bool finalize_ = false;
  bool solo_ = false;
  void init_mpi();
};

}  // namespace bend
