#include "bend/dist/comm.hpp"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "bend/core/error.hpp"
#include "bend/core/library_lock.hpp"

namespace bend {

static MPI_Comm as_comm(void* p) { return *static_cast<MPI_Comm*>(p); }

static void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail("MPI %s failed: %.*s", what, len, msg);
}

static const char* getenv_c(const char* name) { return std::getenv(name); }

// Whether a launcher (mpirun/mpiexec, srun --mpi=pmix/pmi2, hydra) started this process.
static bool launched_by_mpi(const char* (*env)(const char*) = getenv_c) {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"}) {
    if (env(v) != nullptr) return true;
  }
  return false;
}

const char* single_node_pml(const char* (*env)(const char*)) {
  if (env("OMPI_MCA_pml") != nullptr) return nullptr;  // the user's choice (or mpirun --mca pml)
  const char* size = env("OMPI_COMM_WORLD_SIZE");
  const char* local_size = env("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (size != nullptr && local_size != nullptr) {  // started by Open MPI's mpirun
    return std::strcmp(size, local_size) == 0 ? "ob1" : nullptr;
  }
  if (env("SLURM_STEP_NUM_NODES") != nullptr && (env("PMIX_RANK") != nullptr || env("PMI_RANK") != nullptr)) {
    return std::strcmp(env("SLURM_STEP_NUM_NODES"), "1") == 0 ? "ob1" : nullptr;  // srun --mpi=...
  }
  // another launcher: where the ranks are is unknown; none: a singleton
  return launched_by_mpi(env) ? nullptr : "ob1";
}

Comm::Comm() {
  LibraryLock lock(library_mutex());
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited && !launched_by_mpi() && std::getenv("BEND_MPI_SINGLETON") == nullptr) {
    solo_ = true;  // rank 0 of 1; MPI starts only if native_handle() is needed
    return;
  }
  init_mpi();
}

const void* Comm::native_handle() {
  if (solo_) {
    LibraryLock lock(library_mutex());
    init_mpi();
    solo_ = false;
  }
  return comm_;
}

void Comm::init_mpi() {
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
#ifdef OPEN_MPI
    if (const char* pml = single_node_pml(getenv_c)) setenv("OMPI_MCA_pml", pml, 0);
#endif
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "init");
    if (provided < MPI_THREAD_SERIALIZED) {
      fail("MPI provides thread level %d; bend needs MPI_THREAD_SERIALIZED", provided);
    }
    finalize_ = true;
  }
  auto* c = new MPI_Comm;
  check(MPI_Comm_dup(MPI_COMM_WORLD, c), "Comm_dup");
  MPI_Comm_set_errhandler(*c, MPI_ERRORS_RETURN);
  comm_ = c;
  check(MPI_Comm_rank(*c, &rank_), "Comm_rank");
  check(MPI_Comm_size(*c, &size_), "Comm_size");
  MPI_Comm node;
  check(MPI_Comm_split_type(*c, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), "Comm_split_type");
  check(MPI_Comm_rank(node, &local_rank_), "Comm_rank");
  MPI_Comm_free(&node);
}

Comm::~Comm() {
  LibraryLock lock(library_mutex());
  auto* c = static_cast<MPI_Comm*>(comm_);
  if (c) {
    MPI_Comm_free(c);
    delete c;
  }
  if (finalize_) MPI_Finalize();
}

void Comm::barrier() {
  if (solo_) return;
  LibraryLock lock(library_mutex());
  check(MPI_Barrier(as_comm(comm_)), "Barrier");
}

void Comm::bcast(std::string& data, int root) {
  if (solo_) return;
  LibraryLock lock(library_mutex());
  uint64_t n = data.size();
  check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, as_comm(comm_)), "Bcast");
  data.resize(n);
  // MPI counts are int: send in pieces of at most 1 GiB.
  for (uint64_t off = 0; off < n; off += (1u << 30)) {
    int len = static_cast<int>(std::min<uint64_t>(n - off, 1u << 30));
    check(MPI_Bcast(&data[off], len, MPI_BYTE, root, as_comm(comm_)), "Bcast");
  }
}

void Comm::send(int dest, int tag, const std::string& data) {
  if (solo_) fail("internal: send to rank %d in a single-process run", dest);
  LibraryLock lock(library_mutex());
  if (data.size() > INT_MAX) fail("MPI message of %zu bytes is too large", data.size());
  check(MPI_Send(data.data(), static_cast<int>(data.size()), MPI_BYTE, dest, tag, as_comm(comm_)),
        "Send");
}

std::string Comm::recv(int src, int tag) {
  if (solo_) fail("internal: recv from rank %d in a single-process run", src);
  LibraryLock lock(library_mutex());
  MPI_Status st;
  check(MPI_Probe(src, tag, as_comm(comm_), &st), "Probe");
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  std::string data(static_cast<size_t>(n), '\0');
  check(MPI_Recv(&data[0], n, MPI_BYTE, st.MPI_SOURCE, tag, as_comm(comm_), MPI_STATUS_IGNORE),
        "Recv");
  return data;
}

bool Comm::try_recv_any(int tag, int& src, std::string& data) {
  if (solo_) return false;
  LibraryLock lock(library_mutex());
  int flag = 0;
  MPI_Status st;
  check(MPI_Iprobe(MPI_ANY_SOURCE, tag, as_comm(comm_), &flag, &st), "Iprobe");
  if (!flag) return false;
  int n = 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  data.assign(static_cast<size_t>(n), '\0');
  src = st.MPI_SOURCE;
  check(MPI_Recv(&data[0], n, MPI_BYTE, src, tag, as_comm(comm_), MPI_STATUS_IGNORE), "Recv");
  return true;
}

std::vector<std::string> Comm::gather(const std::string& mine, int root) {
  if (solo_) return {mine};
  LibraryLock lock(library_mutex());
  // 1. Gather every rank's length. 2. Gather the bytes at their displacements.
  int n = static_cast<int>(mine.size());
  std::vector<int> lens(size_), displs(size_);
  check(MPI_Gather(&n, 1, MPI_INT, lens.data(), 1, MPI_INT, root, as_comm(comm_)), "Gather");
  std::string all;
  if (rank_ == root) {
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[r] = total;
      total += lens[r];
    }
    all.resize(static_cast<size_t>(total));
  }
  check(MPI_Gatherv(mine.data(), n, MPI_BYTE, &all[0], lens.data(), displs.data(), MPI_BYTE, root,
                    as_comm(comm_)),
        "Gatherv");
  std::vector<std::string> out;
  if (rank_ == root) {
    for (int r = 0; r < size_; ++r) out.push_back(all.substr(displs[r], lens[r]));
  }
  return out;
}

void Comm::allreduce_sum(double* values, int n) {
  if (solo_) return;
  LibraryLock lock(library_mutex());
  check(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, as_comm(comm_)), "Allreduce");
}

void Comm::allreduce_sum(int64_t* values, int n) {
  if (solo_) return;
  LibraryLock lock(library_mutex());
  check(MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_INT64_T, MPI_SUM, as_comm(comm_)), "Allreduce");
}

void Comm::allreduce_sum(float* values, int64_t n) {
  if (solo_) return;
  LibraryLock lock(library_mutex());
  for (int64_t off = 0; off < n; off += (1 << 28)) {
    int len = static_cast<int>(std::min<int64_t>(n - off, 1 << 28));
    check(MPI_Allreduce(MPI_IN_PLACE, values + off, len, MPI_FLOAT, MPI_SUM, as_comm(comm_)),
          "Allreduce");
  }
}

void Comm::abort(int code) {
  if (solo_) std::_Exit(code);
  MPI_Abort(comm_ ? as_comm(comm_) : MPI_COMM_WORLD, code);
  std::abort();
}

}  // namespace bend
