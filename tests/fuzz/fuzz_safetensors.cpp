// safetensors header and tensor table (models/safetensors.cpp): clean errors only; every listed
// tensor lies inside the file.
#include "bend/models/safetensors.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = bend_fuzz::write_scratch("model.safetensors", data, size);
  bend_fuzz::expect_clean("safetensors", [&] {
    bend::SafetensorsFile f(path);
    for (const auto& kv : f.tensors()) {
      const bend::TensorInfo& t = kv.second;
      if (t.size_bytes > f.file_size_bytes()) std::abort();
      if (t.size_bytes <= (1u << 20)) {
        bend_fuzz::expect_clean("read_f32", [&] { (void)f.read_f32(kv.first); });
      }
    }
  });
  return 0;
}
