// Job-file TOML subset (core/job_toml.cpp): any text gives entries or "path:LINE: ..." errors.
#include "bend/core/job_toml.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  bend_fuzz::expect_clean("job_toml", [&] {
    for (const bend::TomlEntry& e : bend::parse_job_toml(text, "job.toml")) {
      if (e.line < 1 || e.key.empty()) std::abort();
    }
  });
  return 0;
}
