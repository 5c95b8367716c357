// HDF5 label files (task/labels.cpp): fuzzed file bytes, a dataset that exists ("labels") and
// one that does not (the "not found" message lists the file's names, where libhdf5 once
// crashed on a corrupt file); every row read is range-checked.
#include "bend/task/labels.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = bend_fuzz::write_scratch("labels.hdf5", data, size);
  for (const char* name : {"labels", "missing"}) {
    bend_fuzz::expect_clean("h5_labels", [&] {
      auto src = bend::labels_from_hdf5(path, name, 4, "t.bed", 4);
      bend::LabelRow row;
      for (int64_t i = 0; i < 4; ++i) src->read(i, row);
    });
  }
  return 0;
}
