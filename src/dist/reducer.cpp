#include "bend/dist/reducer.hpp"

#include "bend/dist/comm.hpp"

namespace bend {

namespace {

class MpiReducer : public GradReducer {
 public:
  explicit MpiReducer(Comm& comm) : comm_(comm) {}
  void sum(float* data, int64_t n) override {
    if (comm_.size() > 1) comm_.allreduce_sum(data, n);
  }
  const char* name() const override { return "mpi"; }
  bool device_buffers() const override { return false; }

 private:
  Comm& comm_;
};

}  // namespace

std::unique_ptr<GradReducer> make_mpi_reducer(Comm& comm) { return std::make_unique<MpiReducer>(comm); }

}  // namespace bend
