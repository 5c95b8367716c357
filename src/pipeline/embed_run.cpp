#include "bend/pipeline/embed_run.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "bend/core/dir_lock.hpp"
#include "bend/core/cpu_limits.hpp"
#include "bend/core/bytes.hpp"
#include "bend/core/files.hpp"
#include "bend/core/half.hpp"
#include "bend/core/invocation.hpp"
#include "bend/core/log.hpp"
#include "bend/dist/collective.hpp"
#include "bend/dist/comm.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/pipeline/embed_worker.hpp"
#include "bend/pipeline/h5_output.hpp"
#include "bend/pipeline/manifest.hpp"
#include "bend/pipeline/scheduler.hpp"
#include "bend/pipeline/shard_run.hpp"
#include "bend/store/tfrecord.hpp"
#include "bend/task/bed.hpp"
#include "bend/task/labels.hpp"

namespace bend {

using nlohmann::json;

namespace {

// Everything rank 0 knows about the run.
struct Rank0State {
  BedTable bed;
  std::unique_ptr<LabelSource> labels;
  std::string labels_kind;  // "column" | "hdf5" | "none"
  std::vector<ShardSpec> shards;
  std::vector<ShardSpec> todo;
  std::map<int32_t, ShardEntry> done;  // finished shards (verified or new)
  json params, doc;
  std::unique_ptr<RunManifest> manifest;
  std::unique_ptr<DirLock> dir_lock;  // the output directory, for the whole run
  std::unique_ptr<H5Rank0Files> h5;  // --format hdf5: the locked split files
};

std::string crc_hex(uint32_t c) { return strfmt("%08x", c); }

void choose_labels(const EmbedParams& p, Rank0State& s) {
  std::string hdf5 = p.labels_path;
  if (hdf5.empty() && !s.bed.has_label) {
    std::string stem = p.bed_path;
    if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".bed") == 0) stem.resize(stem.size() - 4);
    if (path_exists(stem + ".hdf5")) {
      hdf5 = stem + ".hdf5";
      log_info("labels: %s (BED has no label column)", hdf5.c_str());
    }
  }
  if (!hdf5.empty()) {
    s.labels = labels_from_hdf5(hdf5, p.labels_dataset, static_cast<int64_t>(s.bed.rows.size()),
                                p.bed_path, p.label_depth);
    s.labels_kind = "hdf5";
    s.params["labels_crc32c"] = crc_hex(file_crc32c(hdf5));
    s.params["labels_dataset"] = p.labels_dataset;
  } else if (s.bed.has_label) {
    if (p.label_depth <= 0) {
      fail("%s has a label column: give --label-depth (the number of classes)", p.bed_path.c_str());
    }
    s.labels = labels_from_column(s.bed, p.label_depth);
    s.labels_kind = "column";
  } else {
    s.labels = labels_none();
    s.labels_kind = "none";
  }
  s.params["labels"] = s.labels_kind;
}

json make_params(const EmbedParams& p, const Embedder& model) {
  json j;
  j["bed_crc32c"] = crc_hex(file_crc32c(p.bed_path));
  j["label_depth"] = p.label_depth;
  j["read_strand"] = p.read_strand;
  j["flank"] = p.flank_bp;
  j["splits"] = p.splits;
  j["shard_rows"] = p.shard_rows;
  j["batch_nt"] = p.batch_nt;
  j["dtype"] = p.dtype;
  j["compression"] = p.compression;
  j["compression_level"] = p.compression == "none" ? 0 : p.compression_level;
  j["model"] = model.name();
  j["model_fingerprint"] = model.fingerprint();
  j["dim"] = model.dim();
  if (p.format != "tfrecord") j["format"] = p.format;  // absent: TFRecord (older manifests)
  if (p.token_level) j["token_level"] = true;          // absent: upsampled (older manifests)
  if (p.model.output != "hidden") j["output"] = p.model.output;  // absent: hidden states
  // absent: corrected (the rules of manifests written before --rules existed)
  if (p.model.rules != "corrected") j["rules"] = p.model.rules;
  if (!p.model.tokenizer.empty()) j["tokenizer"] = p.model.tokenizer;
  return j;
}

// Removes every file a previous run in this directory may have left: shards (recorded or
// planned), temporaries, journal and manifest.
void clear_previous(const EmbedParams& p, Rank0State& s, const std::map<int32_t, ShardEntry>& rec) {
  for (const auto& kv : rec) {
    if (!s.h5 || !s.h5->holds(kv.second.file_name)) remove_if_exists(path_join(p.out_dir, kv.second.file_name));
  }
  for (const ShardSpec& sh : s.shards) {
    if (!s.h5) remove_if_exists(path_join(p.out_dir, sh.file_name));  // a locked .h5 is recreated
  }
  s.manifest->remove_journal();
  remove_if_exists(s.manifest->manifest_path());
}

// Decides which shards are already done (present, recorded, size and CRC32C match).
void check_output_dir(const EmbedParams& p, Rank0State& s) {
  make_dirs(p.out_dir);
  for (const std::string& name : list_dir(p.out_dir)) {  // leftovers of killed writers
    if (name.find(".tmp-r") != std::string::npos || name == "manifest.json.tmp") {
      remove_if_exists(path_join(p.out_dir, name));
    }
  }
  s.manifest = std::make_unique<RunManifest>(p.out_dir);
  json old;
  if (!s.manifest->load(old)) {
    s.manifest->remove_journal();  // a journal without manifest belongs to nothing
    return;
  }
  std::map<int32_t, ShardEntry> rec = s.manifest->recorded_shards(&old);
  std::vector<std::string> diff = RunManifest::diff_params(old.value("params", json::object()), s.params);
  if (!diff.empty()) {
    std::string what;
    for (const std::string& d : diff) what += "\n  " + d;
    if (!p.overwrite) {
      fail("%s was written with different parameters:%s\nuse --overwrite to replace that output, "
           "or choose another --out", s.manifest->manifest_path().c_str(), what.c_str());
    }
    log_warn("--overwrite: replacing the output in %s (parameters differ:%s)", p.out_dir.c_str(), what.c_str());
    clear_previous(p, s, rec);
    return;
  }
  int64_t n_bad = 0;
  for (const auto& kv : rec) {
    const ShardEntry& e = kv.second;
    if (e.shard_id < 0 || e.shard_id >= static_cast<int32_t>(s.shards.size())) continue;
    const ShardSpec& spec = s.shards[e.shard_id];
    std::string path = path_join(p.out_dir, e.file_name);
    bool ok = spec.file_name == e.file_name && e.n_rows == static_cast<int64_t>(spec.rows.size()) &&
              (s.h5 ? s.h5->shard_matches(e, s.params)
                    : file_size_or_neg(path) == static_cast<int64_t>(e.file_bytes) &&
                          file_crc32c(path) == e.file_crc32c);
    if (ok) {
      s.done[e.shard_id] = e;
    } else {
      ++n_bad;
      log_warn("shard %s does not match its manifest entry; it will be written again", path.c_str());
    }
  }
  log_info("resuming: %zu of %zu shards already complete and verified%s", s.done.size(),
           s.shards.size(), n_bad ? " (some failed verification)" : "");
}

// `status`: "running" (journal holds the newer shards), "stopped" or "complete".
json manifest_doc(const EmbedParams& p, const Rank0State& s, const Embedder& model, const char* status) {
  json doc;
  doc["format"] = "bend-embed-manifest";
  doc["version"] = 1;
  doc["status"] = status;
  std::time_t now = std::time(nullptr);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  doc["updated"] = ts;
  doc["params"] = s.params;
  doc.update(invocation_json());  // bend_version, command_line, working_directory of this run
  doc["inputs"] = {{"bed", absolute_path(p.bed_path)},
                   {"genome", absolute_path(p.genome_path)},
                   {"labels", p.labels_path.empty() ? s.labels_kind : absolute_path(p.labels_path)},
                   {"checkpoint", p.model.checkpoint_dir.empty() ? "" : absolute_path(p.model.checkpoint_dir)}};
  doc["model"] = {{"name", model.name()}, {"dim", model.dim()}, {"fingerprint", model.fingerprint()}};
  add_shard_tables(doc, s.shards, s.bed.split_names, s.done);
  return doc;
}

// Settings that would otherwise only fail in the middle of the run.
void check_settings(const EmbedParams& p) {
  parse_dtype(p.dtype);
  parse_progress_mode(p.progress);
  Compression c = parse_compression(p.compression);
  if (c != Compression::kNone && (p.compression_level < 1 || p.compression_level > 9)) {
    fail("--compression-level must be 1-9 (got %d)", p.compression_level);
  }
  if (p.batch_nt < 1) fail("--batch-nt must be at least 1 (got %lld)", (long long)p.batch_nt);
  if (p.flank_bp < 0) fail("--flank must not be negative (got %lld)", (long long)p.flank_bp);
  check_thread_count(p.model.n_threads, "--threads");
  check_output_format(p.format, p.compression);
#ifndef BEND_WITH_CUDA
  if (p.model.use_cuda) fail("--cuda: this bend was built without CUDA (see docs/cli.md)");
#endif
}

// Rank 0 before any work: read and validate inputs, plan, decide what is left to do.
void prepare_rank0(const EmbedParams& p, const Embedder& model, Rank0State& s) {
  BedOptions bo;
  bo.require_split = true;
  bo.label_depth = p.label_depth;
  s.bed = read_bed(p.bed_path, bo);
  {
    FastaReader fasta(p.genome_path);
    validate_regions(s.bed, fasta, p.flank_bp);
  }
  std::string fai = p.genome_path + ".fai";
  s.params = make_params(p, model);
  s.params["genome_index_crc32c"] = path_exists(fai) ? crc_hex(file_crc32c(fai)) : "";
  choose_labels(p, s);
  s.shards = plan_shards(s.bed, p);
  make_dirs(p.out_dir);
  s.dir_lock = std::make_unique<DirLock>(p.out_dir, "bend embed");  // one run per directory
  if (p.format == "hdf5") s.h5 = std::make_unique<H5Rank0Files>(p.out_dir, s.shards);  // locks first
  check_output_dir(p, s);
  if (s.h5) s.h5->decide(s.params, p.overwrite, path_exists(s.manifest->manifest_path()), s.done);
  for (const ShardSpec& sh : s.shards) {
    if (!s.done.count(sh.shard_id)) s.todo.push_back(queue_entry(sh));  // rows stay in s.shards
  }
  // Longest shards first: the dynamic queue then ends with short ones and balances well.
  std::stable_sort(s.todo.begin(), s.todo.end(),
                   [](const ShardSpec& a, const ShardSpec& b) { return a.n_bp > b.n_bp; });
  s.manifest->write(manifest_doc(p, s, model, "running"));
}

ShardWork build_work(const EmbedParams& p, const Rank0State& s, const ShardSpec& spec) {
  ShardWork w;
  w.shard_id = spec.shard_id;
  w.file_name = spec.file_name;
  const RowList& rows = s.shards.at(spec.shard_id).rows;  // the queue's spec has none
  w.rows.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Region& r = s.bed.rows[rows[i]];
    WorkRow& wr = w.rows[i];
    wr.row = rows[i];
    wr.chrom = s.bed.chrom_names[r.chrom_id];
    wr.start_bp = r.start_bp - p.flank_bp;
    wr.end_bp = r.end_bp + p.flank_bp;
    wr.minus = p.read_strand && r.strand == '-';
    wr.region = region_string(s.bed, r);
    if (!s.h5) s.labels->read(rows[i], wr.label);  // HDF5: the labels are in the file already
  }
  return w;
}

}  // namespace

void run_embed(const EmbedParams& p, Comm& comm) {
  double t0 = wall_seconds();
  if (p.out_dir.empty()) throw CollectiveError("--out is required", comm.rank() == 0);
  std::unique_ptr<Embedder> model;
  EmbedderOptions mo = p.model;
  mo.local_rank = comm.local_rank();
  collective_check(comm, "checking settings", [&] { check_settings(p); });
  collective_check(comm, "loading the model", [&] { model = make_embedder(mo); });

  Rank0State s;
  collective_check(comm, "checking inputs", [&] {
    if (comm.rank() == 0) prepare_rank0(p, *model, s);
  });
  int64_t todo_rows = 0, todo_bp = 0;
  for (const ShardSpec& sh : s.todo) {
    todo_rows += static_cast<int64_t>(s.shards.at(sh.shard_id).rows.size());
    todo_bp += sh.n_bp;
  }
  if (comm.rank() == 0) {
    log_info("embedding %lld rows (%s nt) in %zu shards with '%s' (dim %lld) on %d rank%s -> %s",
             (long long)todo_rows, human_count(todo_bp).c_str(), s.todo.size(), model->name().c_str(),
             (long long)model->dim(), comm.size(), comm.size() > 1 ? "s" : "", p.out_dir.c_str());
  }

  std::unique_ptr<H5Output> h5;  // --format hdf5: every rank's open split files
  if (p.format == "hdf5") {
    H5Rank0Inputs in;
    if (comm.rank() == 0) in = h5_embed_inputs(p, s.bed, *s.labels, s.shards, s.params, *s.h5);
    H5OutputSettings hs{p.out_dir, p.genome_path, p.dtype, p.token_level};
    h5 = H5Output::open(comm, hs, *model, comm.rank() == 0 ? &in : nullptr);
  }

  WorkerSettings ws;
  ws.h5 = h5.get();
  ws.genome_path = p.genome_path;
  ws.out_dir = p.out_dir;
  ws.batch_nt = p.batch_nt;
  ws.dtype = p.dtype;
  ws.compression = p.compression;
  ws.compression_level = p.compression_level;
  ws.token_level = p.token_level;
  ws.rank = comm.rank();
  ShardQueuePlan plan;
  if (comm.rank() == 0) {
    plan.todo = std::move(s.todo);  // one copy of the row lists less (rank 0's memory)
    plan.build = [&](const ShardSpec& spec) { return build_work(p, s, spec); };
    plan.on_done = [&](const ShardDone& d) {
      const ShardSpec& spec = s.shards.at(d.shard_id);
      const ShardEntry e = shard_entry_from_done(d, spec, s.bed.split_names[spec.split_id]);
      s.manifest->append_journal(e);
      s.done[e.shard_id] = e;
    };
    plan.todo_rows = todo_rows;
    plan.todo_bp = todo_bp;
    plan.n_planned = static_cast<int64_t>(s.shards.size());
    plan.n_done_before = static_cast<int64_t>(s.done.size());
  }
  // Rank 0 writes the manifest ("complete", or "stopped" with the shards done so far) before
  // any rank may exit; after a stop every rank throws RunStopped (shard_run.hpp).
  run_shard_queue(comm, ws, *model, plan, {p.progress_interval_s, parse_progress_mode(p.progress)}, [&](const ShardQueueResult& r) {
    bool complete = s.done.size() == s.shards.size();
    BEND_ASSERT(complete || r.stop_signal != 0);
    s.manifest->write(manifest_doc(p, s, *model, complete ? "complete" : "stopped"));
    s.manifest->remove_journal();
    print_run_summary(complete ? "done" : "stopped", r.ranks, wall_seconds() - t0, s.shards.size());
  }, [&] {
    if (h5) h5->finish(comm, comm.rank() == 0 ? &s.done : nullptr);  // before the manifest says complete
  });
}

}  // namespace bend
