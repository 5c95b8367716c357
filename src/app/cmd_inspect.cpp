// `bend inspect PATH... [--records] [--json]`: verifies shards (every CRC, every Example) and
// prints a summary per shard or a line per record. A PATH that is an output directory is checked
// against its manifest.json (every listed shard present, same size, CRC32C and record count).
// Corruption is a bend::Error (exit 1).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/pipeline/manifest.hpp"
#include "bend/pipeline/manifest_check.hpp"
#include "bend/store/h5_embeddings.hpp"
#include "bend/store/inspect.hpp"
#include "cli_paths.hpp"
#include "commands.hpp"

namespace bend {
namespace {

struct InspectOptions {
  std::vector<std::string> shards;
  bool records = false;
  bool json = false;
};

// A shard to check, with its manifest entry when it came from an output directory.
// An HDF5 file (`<split>.h5`) is one target holding all its shards' entries, in shard order.
struct Target {
  std::string path;
  bool has_entry = false;
  ShardEntry entry;
  std::vector<ShardEntry> h5_entries;
};

bool is_h5(const std::string& path) { return path.size() > 3 && path.compare(path.size() - 3, 3, ".h5") == 0; }

// The manifest's checksum of each shard must be the one the file stores.
void check_h5_entries(const Target& t) {
  if (t.h5_entries.empty()) return;
  H5EmbeddingReader reader(t.path, true);
  std::vector<uint32_t> stored = reader.shard_crc32c();
  if (stored.size() != t.h5_entries.size()) {
    fail("%s: %zu shards, the manifest lists %zu", t.path.c_str(), stored.size(), t.h5_entries.size());
  }
  for (size_t k = 0; k < stored.size(); ++k) {
    if (stored[k] != t.h5_entries[k].file_crc32c) {
      fail("%s: shard %zu (manifest shard %d): CRC32C %08x, the manifest says %08x", t.path.c_str(),
           k, t.h5_entries[k].shard_id, stored[k], t.h5_entries[k].file_crc32c);
    }
  }
}

// Expands an output directory into its shards after checking the manifest (fields and
// consistency, manifest_check.hpp) and each shard's size against it. Returns the manifest's status.
std::string add_manifest_shards(const std::string& dir, std::vector<Target>& targets) {
  RunManifest m(dir);
  nlohmann::json doc;
  if (!m.load(doc)) fail("%s: no manifest.json (not a bend embed output directory)", dir.c_str());
  const ManifestFacts facts = check_manifest(doc, m.manifest_path());
  std::map<int32_t, ShardEntry> rec = m.recorded_shards(&doc);
  for (const auto& kv : rec) {
    std::string path = path_join(dir, kv.second.file_name);
    if (is_h5(path)) {  // entries come in shard-id order: one target per file
      if (!path_exists(path)) fail("%s: %s is listed in the manifest but missing", dir.c_str(), kv.second.file_name.c_str());
      if (targets.empty() || targets.back().path != path) targets.push_back({path, false, ShardEntry(), {}});
      targets.back().h5_entries.push_back(kv.second);
      continue;
    }
    int64_t size = file_size_or_neg(path);
    if (size < 0) fail("%s: shard %s is listed in the manifest but missing", dir.c_str(), kv.second.file_name.c_str());
    if (size != static_cast<int64_t>(kv.second.file_bytes)) {
      fail("%s: %lld bytes, the manifest says %llu", path.c_str(), (long long)size,
           (unsigned long long)kv.second.file_bytes);
    }
    targets.push_back({path, true, kv.second, {}});
  }
  std::fprintf(stderr, "%s: manifest status '%s', %zu of %d planned shards recorded\n", dir.c_str(),
               facts.status.c_str(), rec.size(), static_cast<int>(facts.planned_shards));
  if (facts.status == "complete") return "";
  return strfmt("%s: manifest status '%s': the embedding is not complete (%zu of %lld planned shards "
                "recorded; those were verified); rerun bend embed to finish it",
                dir.c_str(), facts.status.c_str(), rec.size(), static_cast<long long>(facts.planned_shards));
}

void run_inspect(const InspectOptions& o) {
  InspectFormat fmt = o.json ? InspectFormat::kJson : InspectFormat::kText;
  if (!o.json) {
    std::printf("%s\n",
                o.records ? record_listing_header().c_str() : shard_summary_header().c_str());
  }
  std::vector<Target> targets;
  std::string incomplete;  // the first output directory whose run is not complete
  for (const std::string& p : o.shards) {
    if (path_exists(path_join(p, "manifest.json"))) {
      std::string why = add_manifest_shards(p, targets);
      if (incomplete.empty()) incomplete = why;
    } else {
      targets.push_back({p, false, ShardEntry(), {}});
    }
  }
  for (const Target& t : targets) {
    ShardSummary s = is_h5(t.path) ? inspect_h5_file(t.path, o.records, stdout, fmt)
                                   : inspect_shard(t.path, o.records, stdout, fmt);
    check_h5_entries(t);
    if (t.has_entry && (s.file_crc32c != t.entry.file_crc32c ||
                        static_cast<int64_t>(s.n_records) != t.entry.n_records)) {
      fail("%s: CRC32C %08x and %llu records, the manifest says %08x and %lld", t.path.c_str(),
           s.file_crc32c, (unsigned long long)s.n_records, t.entry.file_crc32c,
           (long long)t.entry.n_records);
    }
    if (o.records) continue;
    std::string line = o.json ? shard_summary_json(s) : shard_summary_text(s);
    std::printf("%s\n", line.c_str());
  }
  if (std::fflush(stdout) != 0) fail("inspect: cannot write to standard output");
  if (!incomplete.empty()) fail("%s", incomplete.c_str());
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Verify TFRecord shards (every CRC and Example), HDF5 output files or whole output directories, and summarise them");
  cmd->add_option("shards", opts->shards, "Shard files (.tfrecord, .tfrecord.zlib, .tfrecord.gz), HDF5 files (.h5) or output directories")
      ->required();
  cmd->add_flag("--records", opts->records, "Print one line per record instead of per shard");
  cmd->add_flag("--json", opts->json, "Print JSON, one object per line");
  cmd->callback([opts]() {
    require_paths("shards", opts->shards, PathKind::kAny);
    run_inspect(*opts);
  });
}

}  // namespace bend
