#include "bend/pipeline/genome_run.hpp"

#include <algorithm>
#include <climits>
#include <ctime>
#include <map>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "bend/core/cpu_limits.hpp"
#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/half.hpp"
#include "bend/core/invocation.hpp"
#include "bend/core/log.hpp"
#include "bend/dist/collective.hpp"
#include "bend/dist/comm.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/genome/windows.hpp"
#include "bend/pipeline/h5_output.hpp"
#include "bend/pipeline/manifest.hpp"
#include "bend/pipeline/records.hpp"
#include "bend/pipeline/resume.hpp"
#include "bend/pipeline/shard_run.hpp"
#include "bend/store/tfrecord.hpp"
#include "bend/task/bed.hpp"

namespace bend {

using nlohmann::json;

std::string genome_shard_name(const std::string& chrom, int64_t start_bp, int64_t end_bp, const char* suffix) {
  std::string safe = chrom;
  for (char& c : safe) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return strfmt("%s_%010lld-%010lld.tfrecord%s", safe.c_str(), (long long)start_bp, (long long)end_bp, suffix);
}

namespace {

struct Interval {
  int32_t chrom_id = 0;
  int64_t start_bp = 0, end_bp = 0;
};

// A window that is embedded. `index` numbers every window of the tiling, skipped ones too
// (the line of `bedtools makewindows` output, 0-based): the record feature `index`.
struct Window {
  int64_t index = 0;
  int32_t chrom_id = 0;
  int64_t start_bp = 0, end_bp = 0;
};

// Everything rank 0 knows about the run.
struct GenomeState {
  std::vector<std::string> chrom_names;
  std::vector<Interval> intervals;
  std::vector<Window> windows;  // kept windows, tiling order
  int64_t n_tiled = 0, n_skipped = 0, tiled_bp = 0, kept_bp = 0;
  std::vector<ShardSpec> shards, todo;
  std::map<int32_t, ShardEntry> done;
  json params;
  std::unique_ptr<RunManifest> manifest;
  std::unique_ptr<H5Rank0Files> h5;  // --format hdf5: genome.h5, locked
};

std::string crc_hex(uint32_t c) { return strfmt("%08x", c); }

void check_genome_settings(const GenomeParams& p) {
  parse_dtype(p.dtype);
  parse_progress_mode(p.progress);
  parse_reduce(p.reduce);
  Compression c = parse_compression(p.compression);
  if (c != Compression::kNone && (p.compression_level < 1 || p.compression_level > 9)) {
    fail("--compression-level must be 1-9 (got %d)", p.compression_level);
  }
  if (p.window_bp < 1) fail("--window must be at least 1 bp (got %lld)", (long long)p.window_bp);
  if (p.stride_bp < 0) fail("--stride must be at least 1 bp (got %lld)", (long long)p.stride_bp);
  if (!(p.max_n >= 0 && p.max_n <= 1)) fail("--max-n must be a fraction in [0, 1] (got %g)", p.max_n);
  if (p.shard_windows < 1) fail("--shard-windows must be at least 1 (got %lld)", (long long)p.shard_windows);
  if (p.batch_nt < 1) fail("--batch-nt must be at least 1 (got %lld)", (long long)p.batch_nt);
  check_thread_count(p.model.n_threads, "--threads");
  if (!p.chroms.empty() && !p.regions_path.empty()) fail("--chroms and --regions cannot be combined");
  check_output_format(p.format, p.compression);
  if (p.token_level && parse_reduce(p.reduce) != kReduceNone) {
    fail("--token-level cannot be combined with --reduce %s: --reduce stores means over "
         "nucleotides, --token-level one vector per token; choose one", p.reduce.c_str());
  }
#ifndef BEND_WITH_CUDA
  if (p.model.use_cuda) fail("--cuda: this bend was built without CUDA (see docs/cli.md)");
#endif
}

// The intervals to tile: BED regions in file order, chosen sequences, or every sequence.
void choose_intervals(const GenomeParams& p, const FastaReader& fa, GenomeState& s) {
  if (!p.regions_path.empty()) {
    BedOptions bo;
    bo.require_split = false;
    BedTable bed = read_bed(p.regions_path, bo);
    validate_regions(bed, fa, 0);
    s.chrom_names = bed.chrom_names;
    for (const Region& r : bed.rows) s.intervals.push_back({r.chrom_id, r.start_bp, r.end_bp});
    return;
  }
  std::vector<std::string> names = p.chroms;
  if (names.empty()) {
    for (const auto& c : fa.chromosomes()) names.push_back(c.first);
  }
  for (const std::string& name : names) {
    int64_t len = fa.chrom_length(name);
    if (len < 0) fail("--chroms: %s has no sequence '%s'", fa.path().c_str(), name.c_str());
    if (std::find(s.chrom_names.begin(), s.chrom_names.end(), name) != s.chrom_names.end()) {
      fail("--chroms names '%s' twice", name.c_str());
    }
    s.intervals.push_back({static_cast<int32_t>(s.chrom_names.size()), 0, len});
    s.chrom_names.push_back(name);
  }
}

// One streaming pass per interval counts N; windows with more than max_n of N are skipped.
void tile_intervals(const GenomeParams& p, const FastaReader& fa, GenomeState& s) {
  double t0 = wall_seconds();
  int64_t stride = p.stride_bp > 0 ? p.stride_bp : p.window_bp;
  for (const Interval& iv : s.intervals) {
    NRunIndex n_runs(fa, s.chrom_names[iv.chrom_id], iv.start_bp, iv.end_bp);
    int64_t n = count_windows(iv.start_bp, iv.end_bp, stride);
    for (int64_t k = 0; k < n; ++k, ++s.n_tiled) {
      int64_t a = window_start(iv.start_bp, k, stride);
      int64_t b = window_end(iv.start_bp, iv.end_bp, k, p.window_bp, stride);
      s.tiled_bp += b - a;
      if (static_cast<double>(n_runs.count(a, b)) > p.max_n * static_cast<double>(b - a)) {
        ++s.n_skipped;
        continue;
      }
      s.windows.push_back({s.n_tiled, iv.chrom_id, a, b});
      s.kept_bp += b - a;
    }
  }
  log_info("scanned %lld interval%s for N in %.2f s", (long long)s.intervals.size(),
           s.intervals.size() == 1 ? "" : "s", wall_seconds() - t0);
}

// Consecutive kept windows of one sequence, at most shard_windows per shard, named by range.
void plan_genome_shards(const GenomeParams& p, GenomeState& s) {
  const char* suffix = compression_suffix(parse_compression(p.compression));
  if (s.windows.size() > static_cast<size_t>(INT32_MAX)) {
    fail("%zu windows; one run embeds at most %d (raise --stride or --window, or give --chroms)", s.windows.size(),
         INT32_MAX);
  }
  std::map<int32_t, int32_t> n_in_chrom;
  std::set<std::string> names;
  for (size_t i = 0; i < s.windows.size();) {
    ShardSpec sh;
    sh.shard_id = static_cast<int32_t>(s.shards.size());
    sh.split_id = s.windows[i].chrom_id;
    sh.index_in_split = n_in_chrom[sh.split_id]++;
    int64_t last_end = 0;
    for (; i < s.windows.size() && s.windows[i].chrom_id == sh.split_id &&
           static_cast<int64_t>(sh.rows.size()) < p.shard_windows;
         ++i) {
      sh.rows.push_back(static_cast<int32_t>(i));
      sh.n_bp += s.windows[i].end_bp - s.windows[i].start_bp;
      last_end = std::max(last_end, s.windows[i].end_bp);
    }
    sh.file_name = genome_shard_name(s.chrom_names[sh.split_id], s.windows[sh.rows[0]].start_bp, last_end, suffix);
    if (p.format == "hdf5") sh.file_name = kGenomeH5Name;  // every shard is a run of rows of one file
    if (p.format != "hdf5" && !names.insert(sh.file_name).second) {
      fail("two shards would both be named %s: %s has overlapping or repeated regions (merge them first, "
           "e.g. bedtools merge)", sh.file_name.c_str(), p.regions_path.empty() ? "the input" : p.regions_path.c_str());
    }
    s.shards.push_back(std::move(sh));
  }
}

// Estimated stored bytes of one window's record: the vectors in the chosen dtype plus the
// other features and TFRecord framing (before compression).
int64_t record_bytes(const GenomeParams& p, const Embedder& model, const Window& w, size_t chrom_len) {
  int64_t len = w.end_bp - w.start_bp;
  int64_t n_vec = model.output_length(len, len);
  int64_t reduce = parse_reduce(p.reduce);
  if (reduce == kReduceMean) n_vec = 1;
  if (reduce > 0) n_vec = (len + reduce - 1) / reduce;
  return n_vec * model.dim() * static_cast<int64_t>(dtype_size(parse_dtype(p.dtype))) + 256 +
         2 * static_cast<int64_t>(chrom_len);
}

json make_genome_params(const GenomeParams& p, const Embedder& model) {
  std::string fai = p.genome_path + ".fai";
  json j;
  j["command"] = "genome";
  j["genome_index_crc32c"] = path_exists(fai) ? crc_hex(file_crc32c(fai)) : "";
  j["regions_crc32c"] = p.regions_path.empty() ? "" : crc_hex(file_crc32c(p.regions_path));
  j["chroms"] = p.chroms;
  j["window"] = p.window_bp;
  j["stride"] = p.stride_bp > 0 ? p.stride_bp : p.window_bp;
  j["max_n"] = p.max_n;
  j["reduce"] = p.reduce;
  j["shard_windows"] = p.shard_windows;
  j["batch_nt"] = p.batch_nt;
  j["dtype"] = p.dtype;
  j["compression"] = p.compression;
  j["compression_level"] = p.compression == "none" ? 0 : p.compression_level;
  if (p.format != "tfrecord") j["format"] = p.format;  // absent: TFRecord (older manifests)
  j["model"] = model.name();
  j["model_fingerprint"] = model.fingerprint();
  j["dim"] = model.dim();
  if (p.token_level) j["token_level"] = true;  // absent: upsampled (older manifests)
  if (p.model.output != "hidden") j["output"] = p.model.output;  // absent: hidden states
  // absent: corrected (the rules of manifests written before --rules existed)
  if (p.model.rules != "corrected") j["rules"] = p.model.rules;
  if (!p.model.tokenizer.empty()) j["tokenizer"] = p.model.tokenizer;
  return j;
}

json genome_manifest(const GenomeParams& p, const GenomeState& s, const Embedder& model, const char* status) {
  json doc;
  doc["format"] = "bend-embed-manifest";
  doc["version"] = 1;
  doc["command"] = "genome";
  doc["status"] = status;
  std::time_t now = std::time(nullptr);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  doc["updated"] = ts;
  doc["params"] = s.params;
  doc.update(invocation_json());  // bend_version, command_line, working_directory of this run
  doc["inputs"] = {{"genome", absolute_path(p.genome_path)},
                   {"regions", p.regions_path.empty() ? "" : absolute_path(p.regions_path)},
                   {"checkpoint", p.model.checkpoint_dir.empty() ? "" : absolute_path(p.model.checkpoint_dir)}};
  doc["model"] = {{"name", model.name()}, {"dim", model.dim()}, {"fingerprint", model.fingerprint()}};
  doc["windows"] = {{"tiled", s.n_tiled}, {"skipped_n", s.n_skipped}, {"kept", s.windows.size()},
                    {"tiled_nt", s.tiled_bp}, {"kept_nt", s.kept_bp}};
  add_shard_tables(doc, s.shards, s.chrom_names, s.done);
  return doc;
}

// Prints the plan and refuses when the output file system cannot hold what is left to write.
void report_plan(const GenomeParams& p, const Embedder& model, const GenomeState& s) {
  int64_t total = 0, todo = 0;
  for (const ShardSpec& sh : s.shards) {
    int64_t b = 0;
    for (int64_t i : sh.rows) b += record_bytes(p, model, s.windows[i], s.chrom_names[sh.split_id].size());
    total += b;
    if (!s.done.count(sh.shard_id)) todo += b;
  }
  int64_t stride = p.stride_bp > 0 ? p.stride_bp : p.window_bp;
  log_info("plan: %lld windows of %lld bp (stride %lld) over %zu interval%s, %s nt; %lld skipped "
           "(more than %g%% N); %lld to embed (%s nt) in %zu shards", (long long)s.n_tiled,
           (long long)p.window_bp, (long long)stride, s.intervals.size(), s.intervals.size() == 1 ? "" : "s",
           human_count(static_cast<double>(s.tiled_bp)).c_str(), (long long)s.n_skipped, 100 * p.max_n,
           (long long)s.windows.size(), human_count(static_cast<double>(s.kept_bp)).c_str(), s.shards.size());
  int64_t free_b = free_space_bytes(p.out_dir);
  log_info("plan: about %s of records (%s, dim %lld, reduce %s, before compression); %s still to write; "
           "%s free in %s", human_bytes(static_cast<double>(total)).c_str(), p.dtype.c_str(),
           (long long)model.dim(), p.reduce.c_str(), human_bytes(static_cast<double>(todo)).c_str(),
           free_b < 0 ? "unknown" : human_bytes(static_cast<double>(free_b)).c_str(), p.out_dir.c_str());
  if (free_b >= 0 && todo > free_b && !p.force) {
    fail("%s has %s free but this run writes about %s: use --reduce mean or bin:N, a smaller --dtype "
         "(float16, bfloat16) or fewer windows, free some space or choose another --out; --force starts "
         "anyway", p.out_dir.c_str(), human_bytes(static_cast<double>(free_b)).c_str(),
         human_bytes(static_cast<double>(todo)).c_str());
  }
}

// Rank 0 before any work: intervals, N scan, windows, shards, resume state, plan, manifest.
void prepare_genome_rank0(const GenomeParams& p, const Embedder& model, GenomeState& s) {
  {
    FastaReader fa(p.genome_path);
    choose_intervals(p, fa, s);
    tile_intervals(p, fa, s);
  }
  s.params = make_genome_params(p, model);
  plan_genome_shards(p, s);
  s.manifest = std::make_unique<RunManifest>(p.out_dir);
  if (p.format == "hdf5") s.h5 = std::make_unique<H5Rank0Files>(p.out_dir, s.shards);  // locks first
  s.done = find_done_shards(p.out_dir, s.params, s.shards, p.overwrite, *s.manifest, s.h5.get());
  if (s.h5) s.h5->decide(s.params, p.overwrite, path_exists(s.manifest->manifest_path()), s.done);
  report_plan(p, model, s);
  for (const ShardSpec& sh : s.shards) {
    if (!s.done.count(sh.shard_id)) s.todo.push_back(queue_entry(sh));  // rows stay in s.shards
  }
  std::stable_sort(s.todo.begin(), s.todo.end(),
                   [](const ShardSpec& a, const ShardSpec& b) { return a.n_bp > b.n_bp; });
  s.manifest->write(genome_manifest(p, s, model, "running"));
}

ShardWork build_genome_work(const GenomeState& s, const ShardSpec& spec) {
  ShardWork w;
  w.shard_id = spec.shard_id;
  w.file_name = spec.file_name;
  const RowList& rows = s.shards.at(spec.shard_id).rows;  // the queue's spec has none
  w.rows.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Window& win = s.windows[rows[i]];
    WorkRow& r = w.rows[i];
    r.row = win.index;
    r.chrom = s.chrom_names[win.chrom_id];
    r.start_bp = win.start_bp;
    r.end_bp = win.end_bp;
    r.region = strfmt("%s:%lld-%lld(.)", r.chrom.c_str(), (long long)win.start_bp, (long long)win.end_bp);
    r.label.shape = {0};  // no labels
  }
  return w;
}

// genome.h5 (rank 0): rows are the kept windows in shard order; vectors per row from
// tokenizing, or with --reduce from the window length; coordinates as the record features.
H5Rank0Inputs genome_h5_inputs(const GenomeParams& p, const GenomeState& s) {
  H5Rank0Inputs in;
  in.shards = &s.shards;
  in.files = s.h5.get();
  in.chrom_names = s.chrom_names;
  in.fetch = [&s](int64_t row) {
    const Window& w = s.windows[row];
    return H5FetchRow{w.chrom_id, w.start_bp, w.end_bp, false};
  };
  const int64_t reduce = parse_reduce(p.reduce);
  auto bin_bp = [&s, reduce](int64_t row) {
    return reduce == kReduceMean ? s.windows[row].end_bp - s.windows[row].start_bp : reduce;
  };
  if (reduce != kReduceNone) {
    in.count_known = [&s, bin_bp](int64_t row) {
      int64_t len = s.windows[row].end_bp - s.windows[row].start_bp, bin = bin_bp(row);
      return (len + bin - 1) / bin;
    };
  }
  in.describe = [&p, &s, reduce, bin_bp](const H5Rank0Files::File& f, H5SplitLayout& L, H5RowTables& t) {
    L.split = f.split;
    L.command = "genome";
    L.task = "genome";
    L.shard_rows = p.shard_windows;
    L.checkpoint = p.model.checkpoint_dir.empty() ? "" : absolute_path(p.model.checkpoint_dir);
    L.params_json = s.params.dump();
    for (int32_t id = f.first_shard; id < f.first_shard + f.n_shards; ++id) {
      for (int64_t row : s.shards[id].rows) {
        const Window& w = s.windows[row];
        const std::string& chrom = s.chrom_names[w.chrom_id];
        t.index.push_back(w.index);
        t.regions.push_back(strfmt("%s:%lld-%lld(.)", chrom.c_str(), (long long)w.start_bp, (long long)w.end_bp));
        t.label_shapes.push_back({0});
        t.chroms.push_back(chrom);
        t.start_bp.push_back(w.start_bp);
        t.end_bp.push_back(w.end_bp);
        if (reduce != kReduceNone) t.bin_bp.push_back(bin_bp(row));
      }
    }
  };
  return in;
}

}  // namespace

void run_genome(const GenomeParams& p, Comm& comm) {
  double t0 = wall_seconds();
  if (p.out_dir.empty()) throw CollectiveError("--out is required", comm.rank() == 0);
  std::unique_ptr<Embedder> model;
  EmbedderOptions mo = p.model;
  mo.local_rank = comm.local_rank();
  collective_check(comm, "checking settings", [&] { check_genome_settings(p); });
  collective_check(comm, "loading the model", [&] { model = make_embedder(mo); });
  GenomeState s;
  collective_check(comm, "planning", [&] {
    if (comm.rank() == 0) prepare_genome_rank0(p, *model, s);
  });

  std::unique_ptr<H5Output> h5;  // --format hdf5: genome.h5 open on every rank
  if (p.format == "hdf5") {
    H5Rank0Inputs in;
    if (comm.rank() == 0) in = genome_h5_inputs(p, s);
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
  ws.rank = comm.rank();
  ws.genome_records = true;
  ws.reduce = parse_reduce(p.reduce);
  ws.token_level = p.token_level;
  ShardQueuePlan plan;
  if (comm.rank() == 0) {
    plan.todo = std::move(s.todo);  // one copy of the row lists less (rank 0's memory)
    plan.build = [&](const ShardSpec& spec) { return build_genome_work(s, spec); };
    plan.on_done = [&](const ShardDone& d) {
      const ShardSpec& spec = s.shards.at(d.shard_id);
      ShardEntry e{d.shard_id, spec.file_name, s.chrom_names[spec.split_id], static_cast<int64_t>(spec.rows.size()),
                   d.n_records, d.n_bp, d.file_bytes, d.file_crc32c};
      s.manifest->append_journal(e);
      s.done[e.shard_id] = e;
    };
    for (const ShardSpec& sh : plan.todo) {
      plan.todo_rows += static_cast<int64_t>(s.shards.at(sh.shard_id).rows.size());
      plan.todo_bp += sh.n_bp;
    }
    plan.n_planned = static_cast<int64_t>(s.shards.size());
    plan.n_done_before = static_cast<int64_t>(s.done.size());
    plan.shard_option = "--shard-windows";
    log_info("embedding %lld windows (%s nt) in %zu shards with '%s' (dim %lld) on %d rank%s -> %s",
             (long long)plan.todo_rows, human_count(static_cast<double>(plan.todo_bp)).c_str(), plan.todo.size(),
             model->name().c_str(), (long long)model->dim(), comm.size(), comm.size() > 1 ? "s" : "",
             p.out_dir.c_str());
  }
  run_shard_queue(comm, ws, *model, plan, {p.progress_interval_s, parse_progress_mode(p.progress)}, [&](const ShardQueueResult& r) {
    bool complete = s.done.size() == s.shards.size();
    s.manifest->write(genome_manifest(p, s, *model, complete ? "complete" : "stopped"));
    s.manifest->remove_journal();
    print_run_summary(complete ? "done" : "stopped", r.ranks, wall_seconds() - t0, s.shards.size());
  }, [&] {
    if (h5) h5->finish(comm, comm.rank() == 0 ? &s.done : nullptr);  // before the manifest says complete
  });
}

}  // namespace bend
