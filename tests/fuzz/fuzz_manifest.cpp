// manifest.json (pipeline/manifest_check.cpp) and manifest.journal lines (RunManifest): any
// bytes are checked or refused with a bend::Error; the journal reader never throws for a
// damaged line (that shard is redone).
#include <nlohmann/json.hpp>

#include "bend/pipeline/manifest.hpp"
#include "bend/pipeline/manifest_check.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  nlohmann::json doc;
  bool parsed = true;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
    parsed = false;  // bend reports the JSON error itself (RunManifest::load, load_manifest)
  }
  if (parsed) {
    bend_fuzz::expect_clean("manifest", [&] {
      bend::ManifestFacts f = bend::check_manifest(doc, "manifest.json");
      for (const auto& kv : f.shards) {
        if (kv.second.file_name.find('/') != std::string::npos) std::abort();
      }
    });
  }
  bend_fuzz::write_scratch("manifest.journal", data, size);
  bend_fuzz::expect_clean("journal", [&] {
    bend::RunManifest m(bend_fuzz::scratch_dir());
    (void)m.recorded_shards(nullptr);
  });
  return 0;
}
