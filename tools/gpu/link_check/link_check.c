/* Starts MPI, opens HDF5 with the MPI-IO driver and asks htslib its version: the three carried
   libraries bend links, loaded from where run.sh unpacked them. Rank 0 prints one line. */
#include <hdf5.h>
#include <htslib/hts.h>
#include <mpi.h>
#include <stdio.h>

int main(int argc, char** argv) {
  int rank = 0, size = 0, sum = 0;
  unsigned maj = 0, min = 0, rel = 0;
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int one = 1;
  MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0 || H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL) < 0) return 2;
  H5Pclose(fapl);
  H5get_libversion(&maj, &min, &rel);
  if (rank == 0) {
    printf("link_check: MPI %d ranks (sum %d), HDF5 %u.%u.%u parallel, htslib %s\n", size, sum, maj, min, rel,
           hts_version());
  }
  MPI_Finalize();
  return sum == size ? 0 : 3;
}
