#include "bend/variants/variant_run.hpp"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "bend/core/error.hpp"
#include "bend/core/files.hpp"
#include "bend/core/log.hpp"
#include "bend/dist/collective.hpp"
#include "bend/dist/comm.hpp"
#include "bend/genome/fasta.hpp"
#include "bend/pipeline/manifest.hpp"
#include "bend/pipeline/plan.hpp"
#include "bend/pipeline/resume.hpp"
#include "bend/pipeline/shard_run.hpp"
#include "bend/variants/variant_output.hpp"
#include "bend/variants/variant_table.hpp"
#include "bend/variants/variant_vcf.hpp"
#include "bend/variants/variant_worker.hpp"

namespace bend {

using nlohmann::json;

namespace {

const std::vector<std::string> kOneSplit = {"variants"};

// Everything rank 0 knows about the run.
struct Rank0State {
  std::string bed_path;         // --bed, or the table converted from --vcf
  std::string category_column;  // --category, or "category" for --vcf --category-from
  VariantTable table;
  GenomeCheck check;
  std::vector<ShardSpec> shards;
  std::vector<ShardSpec> todo;
  std::map<int32_t, ShardEntry> done;
  json params;
  std::unique_ptr<RunManifest> manifest;
};

// The registry entry of `name` (a default one, not causal, for an unknown name: make_embedder
// reports those).
EmbedderInfo model_info(const std::string& name) {
  for (const EmbedderInfo& e : list_embedders()) {
    if (e.name == name) return e;
  }
  return EmbedderInfo();
}

// Which model outputs the scores need: hidden states (cosine, l2) and/or LM logits (llr).
void needed_outputs(const VariantParams& p, bool& hidden, bool& logits) {
  hidden = logits = false;
  for (VariantScore sc : parse_variant_scores(p.scores)) (sc == VariantScore::kLlr ? logits : hidden) = true;
  if (!logits) return;
  EmbedderInfo info = model_info(p.model.model);
  if (!info.lm_outputs) {
    fail("--score llr: needs a model with a language-model head (causal: hyenadna; masked: nt, "
         "dnabert2, gena-lm, grover, caduceus, gpn); '%s' has none", p.model.model.c_str());
  }
  if (p.model.model == "dnabert") {
    fail("--score llr: dnabert's overlapping k-mers give the masked token's base away (each base is "
         "in k tokens); masked-LM llr is defined for nt, dnabert2, gena-lm, grover, caduceus and "
         "gpn");
  }
}

json make_params(const VariantParams& p, const Embedder& model, const VariantGeometry& g) {
  json j;
  j["variants_crc32c"] = strfmt("%08x", file_crc32c(p.vcf_path.empty() ? p.bed_path : p.vcf_path));
  if (!p.vcf_path.empty()) {
    j["vcf"] = {p.label_from, p.category_from,
                p.label_map_path.empty() ? "" : strfmt("%08x", file_crc32c(p.label_map_path))};
  }
  std::string fai = p.genome_path + ".fai";
  j["genome_index_crc32c"] = path_exists(fai) ? strfmt("%08x", file_crc32c(fai)) : "";
  j["model"] = model.name();
  j["model_fingerprint"] = model.fingerprint();
  j["dim"] = model.dim();  // hidden size; logits width when llr is the only score
  if (p.model.output != "hidden") j["output"] = p.model.output;
  // absent: corrected (the rules of manifests written before --rules existed)
  if (p.model.rules != "corrected") j["rules"] = p.model.rules;
  if (!p.model.tokenizer.empty()) j["tokenizer"] = p.model.tokenizer;
  j["scores"] = p.scores;
  j["window"] = {g.left_bp, g.right_bp, g.vector_index};
  j["allow_ref_mismatch"] = p.allow_ref_mismatch;
  j["shard_rows"] = p.shard_rows;
  j["batch_nt"] = p.batch_nt;
  return j;
}

json manifest_doc(const VariantParams& p, const Rank0State& s, const Embedder& model, const char* status) {
  json doc;
  doc["format"] = "bend-variants-manifest";
  doc["version"] = 1;
  doc["status"] = status;
  std::time_t now = std::time(nullptr);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  doc["updated"] = ts;
  doc["params"] = s.params;
  doc["inputs"] = {{"variants", absolute_path(p.vcf_path.empty() ? p.bed_path : p.vcf_path)},
                   {"genome", absolute_path(p.genome_path)},
                   {"checkpoint", p.model.checkpoint_dir.empty() ? "" : absolute_path(p.model.checkpoint_dir)}};
  doc["model"] = {{"name", model.name()}, {"dim", model.dim()}, {"fingerprint", model.fingerprint()}};
  json renamed = json::array();
  for (const ContigRename& r : s.check.renamed) renamed.push_back({{"file", r.file_name}, {"fasta", r.fasta_name}, {"rows", r.n_rows}});
  doc["variants"] = {{"rows", s.table.rows.size()},
                     {"ref_mismatch", s.check.n_ref_mismatch},
                     {"off_contig", s.check.n_off_contig},
                     {"contigs_renamed", renamed}};
  add_shard_tables(doc, s.shards, kOneSplit, s.done);
  return doc;
}

void check_settings(const VariantParams& p) {
  if (p.bed_path.empty() == p.vcf_path.empty()) fail("give the variants as --bed FILE or --vcf FILE (one of them)");
  if (p.vcf_path.empty() && !(p.label_from.empty() && p.label_map_path.empty() && p.category_from.empty())) {
    fail("--label-from, --label-map and --category-from read INFO keys of a --vcf file");
  }
  parse_variant_scores(p.scores);
  if (p.batch_nt < 1) fail("--batch-nt must be at least 1 (got %lld)", (long long)p.batch_nt);
  if (p.shard_rows < 1) fail("--shard-rows must be at least 1 (got %lld)", (long long)p.shard_rows);
  if (p.bootstrap < 0) fail("--bootstrap must not be negative (got %lld)", (long long)p.bootstrap);
  if (p.model.n_threads < 1) fail("--threads must be at least 1 (got %d)", p.model.n_threads);
  if (p.model.output != "hidden") fail("--output %s: bend variants compares hidden states", p.model.output.c_str());
#ifndef BEND_WITH_CUDA
  if (p.model.use_cuda) fail("--cuda: this bend was built without CUDA (see docs/cli.md)");
#endif
}

// Shards of consecutive scored rows (file order), `shard_rows` each.
void plan_variant_shards(const VariantParams& p, const VariantGeometry& g, Rank0State& s) {
  ShardSpec cur;
  auto flush = [&] {
    if (cur.rows.empty()) return;
    cur.shard_id = static_cast<int32_t>(s.shards.size());
    cur.index_in_split = cur.shard_id;
    cur.file_name = strfmt("scores-%05d.tsv", cur.shard_id);
    s.shards.push_back(std::move(cur));
    cur = ShardSpec();
  };
  for (size_t i = 0; i < s.table.rows.size(); ++i) {
    const Variant& v = s.table.rows[i];
    if (v.status == kVariantOffContig || (v.status == kVariantRefMismatch && !p.allow_ref_mismatch)) continue;
    cur.rows.push_back(static_cast<int32_t>(i));
    cur.n_bp += 2 * g.window_bp();
    if (static_cast<int64_t>(cur.rows.size()) == p.shard_rows) flush();
  }
  flush();
}

void prepare_rank0(const VariantParams& p, const Embedder& model, const VariantGeometry& g, Rank0State& s) {
  s.bed_path = p.bed_path;
  s.category_column = p.category_column;
  if (!p.vcf_path.empty()) {
    make_dirs(p.out_dir);
    s.bed_path = path_join(p.out_dir, "variants.bed");
    VcfConvertOptions vo{p.label_from, p.label_map_path, p.category_from};
    std::string skipped = path_join(p.out_dir, "vcf_skipped.tsv");
    VcfConvertResult r = vcf_to_variant_bed(p.vcf_path, vo, s.bed_path, skipped);
    log_info("%s: %lld records -> %lld SNV rows in %s; %lld alleles skipped (indels, MNPs, symbolic, missing), "
             "listed in %s", p.vcf_path.c_str(), (long long)r.n_records, (long long)r.n_rows, s.bed_path.c_str(),
             (long long)r.n_skipped, skipped.c_str());
    if (s.category_column.empty() && !p.category_from.empty()) s.category_column = "category";
  }
  s.table = read_variant_bed(s.bed_path);
  if (s.table.rows.size() > static_cast<size_t>(INT32_MAX)) fail("%s: more than 2^31 rows", s.bed_path.c_str());
  for (VariantScore sc : parse_variant_scores(p.scores)) {
    if (find_variant_column(s.table, variant_score_name(sc)) >= 0) {
      fail("%s:1: the file has a column '%s' already, the name of a score column", s.bed_path.c_str(),
           variant_score_name(sc));
    }
  }
  if (!s.category_column.empty() && find_variant_column(s.table, s.category_column) < 0) {
    fail("%s:1: no column '%s' (--category)", s.bed_path.c_str(), s.category_column.c_str());
  }
  {
    FastaReader fasta(p.genome_path);
    s.check = check_variants_against_genome(s.table, fasta, g.left_bp, g.right_bp);
  }
  for (const ContigRename& r : s.check.renamed) {
    log_info("contig '%s' of %s is '%s' in %s (matched by the 'chr' prefix; %lld rows)", r.file_name.c_str(),
             s.bed_path.c_str(), r.fasta_name.c_str(), p.genome_path.c_str(), (long long)r.n_rows);
  }
  make_dirs(p.out_dir);
  write_file_atomic(path_join(p.out_dir, "ref_mismatches.tsv"), s.check.mismatches_tsv);
  write_file_atomic(path_join(p.out_dir, "skipped.tsv"), s.check.skipped_tsv);
  if (s.check.n_ref_mismatch > 0) {
    const Variant* first = nullptr;
    for (const Variant& v : s.table.rows) {
      if (v.status == kVariantRefMismatch) {
        first = &v;
        break;
      }
    }
    std::string msg = strfmt("%lld of %zu variants have a REF that differs from %s (first: %s:%lld, %s:%lld ref %c)",
                             (long long)s.check.n_ref_mismatch, s.table.rows.size(), p.genome_path.c_str(),
                             s.bed_path.c_str(), (long long)first->line, s.table.chrom_names[first->chrom_id].c_str(),
                             (long long)first->pos_bp + 1, first->ref);
    std::string list = path_join(p.out_dir, "ref_mismatches.tsv");
    if (!p.allow_ref_mismatch) {
      fail("%s; they are listed in %s. Check the genome build, or give --allow-ref-mismatch to score them "
           "anyway (as BEND does)", msg.c_str(), list.c_str());
    }
    log_warn("%s; scored anyway (--allow-ref-mismatch), listed in %s", msg.c_str(), list.c_str());
  }
  if (s.check.n_off_contig > 0) {
    log_warn("%lld variants are too close to a contig end for a %lld-bp window: not scored (NA), listed in %s",
             (long long)s.check.n_off_contig, (long long)g.window_bp(), path_join(p.out_dir, "skipped.tsv").c_str());
  }
  s.params = make_params(p, model, g);
  plan_variant_shards(p, g, s);
  s.manifest = std::make_unique<RunManifest>(p.out_dir, "bend-variants-manifest");
  s.done = find_done_shards(p.out_dir, s.params, s.shards, p.overwrite, *s.manifest);
  for (const ShardSpec& sh : s.shards) {
    if (!s.done.count(sh.shard_id)) s.todo.push_back(queue_entry(sh));
  }
  if (!s.todo.empty()) {  // a table of an earlier run must not look like this run's
    remove_if_exists(path_join(p.out_dir, "scores.tsv"));
    remove_if_exists(path_join(p.out_dir, "scores.tsv.gz"));
    remove_if_exists(path_join(p.out_dir, "auroc.csv"));
  }
  s.manifest->write(manifest_doc(p, s, model, "running"));
}

ShardWork build_work(const Rank0State& s, const VariantGeometry& g, const ShardSpec& spec) {
  ShardWork w;
  w.shard_id = spec.shard_id;
  w.file_name = spec.file_name;
  const RowList& rows = s.shards.at(spec.shard_id).rows;
  w.rows.reserve(rows.size());
  for (int32_t r : rows) {
    const Variant& v = s.table.rows[r];
    w.rows.push_back(variant_work_row(r, s.check.fasta_names[v.chrom_id], s.table.chrom_names[v.chrom_id], v.pos_bp,
                                      v.ref, v.alt, g));
  }
  return w;
}

// Rank 0 once every shard is done: scores.tsv, auroc.csv, the printed table.
void finish_table(const VariantParams& p, const Rank0State& s) {
  std::vector<std::string> files, names;
  for (const ShardSpec& sh : s.shards) files.push_back(path_join(p.out_dir, sh.file_name));
  for (VariantScore sc : parse_variant_scores(p.scores)) names.push_back(variant_score_name(sc));
  VariantEvalSettings ev;
  ev.label_column = p.label_column;
  ev.category_column = s.category_column;
  ev.bootstrap = p.bootstrap;
  ev.seed = p.seed;
  ev.n_threads = p.model.n_threads;
  std::string out = path_join(p.out_dir, p.gzip ? "scores.tsv.gz" : "scores.tsv");
  remove_if_exists(path_join(p.out_dir, p.gzip ? "scores.tsv" : "scores.tsv.gz"));  // one table only
  VariantTableResult r = write_variant_scores(s.table, files, names, ev, out);
  log_info("%s: %lld rows, %lld scored, %lld not scored (%lld REF mismatches, %lld too close to a contig end)",
           out.c_str(), (long long)r.n_rows, (long long)r.n_scored, (long long)(r.n_rows - r.n_scored),
           (long long)s.check.n_ref_mismatch, (long long)s.check.n_off_contig);
  if (!r.evaluated) {
    log_info("%s has no column '%s': no AUROC", s.bed_path.c_str(), p.label_column.c_str());
    return;
  }
  if (r.n_unlabelled > 0) {
    log_warn("%lld rows have a '%s' other than 0/1: left out of the AUROC", (long long)r.n_unlabelled,
             p.label_column.c_str());
  }
  write_file_atomic(path_join(p.out_dir, "auroc.csv"), auroc_csv(r.auroc));
  std::fputs(auroc_table(r.auroc).c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace

void run_variants(const VariantParams& p, Comm& comm) {
  double t0 = wall_seconds();
  if (p.out_dir.empty()) throw CollectiveError("--out is required", comm.rank() == 0);
  std::unique_ptr<Embedder> hidden, lm;  // per needed_outputs; `model` is the one named in logs
  EmbedderOptions mo = p.model;
  mo.local_rank = comm.local_rank();
  VariantGeometry g;
  bool need_hidden = false, need_logits = false;
  collective_check(comm, "checking settings", [&] {
    check_settings(p);
    needed_outputs(p, need_hidden, need_logits);
    g = variant_geometry(model_info(p.model.model).causal, p.bend_compat, p.context_bp);
  });
  collective_check(comm, "loading the model", [&] {
    if (need_hidden) hidden = make_embedder(mo);
    if (need_logits) {
      EmbedderOptions lo = mo;
      lo.output = "logits";
      lm = make_embedder(lo);
    }
  });
  Embedder* model = hidden ? hidden.get() : lm.get();
  Rank0State s;
  collective_check(comm, "checking inputs", [&] {
    if (comm.rank() == 0) prepare_rank0(p, *model, g, s);
  });
  int64_t todo_rows = 0, todo_bp = 0;
  for (const ShardSpec& sh : s.todo) {
    todo_rows += static_cast<int64_t>(s.shards.at(sh.shard_id).rows.size());
    todo_bp += sh.n_bp;
  }
  if (comm.rank() == 0) {
    log_info("scoring %lld variants (%lld-bp windows, vector %lld) in %zu shards with '%s' on %d rank%s -> %s",
             (long long)todo_rows, (long long)g.window_bp(), (long long)g.vector_index, s.todo.size(),
             model->name().c_str(), comm.size(), comm.size() > 1 ? "s" : "", p.out_dir.c_str());
  }
  VariantWorkerSettings vs;
  vs.genome_path = p.genome_path;
  vs.out_dir = p.out_dir;
  vs.batch_nt = p.batch_nt;
  vs.geometry = g;
  vs.scores = parse_variant_scores(p.scores);
  vs.masked_llr = lm != nullptr && !model_info(p.model.model).causal;
  ShardQueuePlan plan;
  if (comm.rank() == 0) {
    plan.todo = std::move(s.todo);
    plan.build = [&](const ShardSpec& spec) { return build_work(s, g, spec); };
    plan.on_done = [&](const ShardDone& d) {
      const ShardSpec& spec = s.shards.at(d.shard_id);
      const ShardEntry e = shard_entry_from_done(d, spec, kOneSplit[0]);
      s.manifest->append_journal(e);
      s.done[e.shard_id] = e;
    };
    plan.todo_rows = todo_rows;
    plan.todo_bp = todo_bp;
    plan.n_planned = static_cast<int64_t>(s.shards.size());
    plan.n_done_before = static_cast<int64_t>(s.done.size());
  }
  WorkerSettings unused;  // the embed pipeline's settings; the variant worker has its own
  run_shard_queue(
      comm, unused, *model, plan, {p.progress_interval_s, parse_progress_mode(p.progress)},
      [&](const ShardQueueResult& r) {
        bool complete = s.done.size() == s.shards.size();
        BEND_ASSERT(complete || r.stop_signal != 0);
        if (complete) finish_table(p, s);
        s.manifest->write(manifest_doc(p, s, *model, complete ? "complete" : "stopped"));
        s.manifest->remove_journal();
        print_run_summary(complete ? "done" : "stopped", r.ranks, wall_seconds() - t0, s.shards.size());
      },
      nullptr, [&](ShardSource& src, RankCounters& c) { run_variant_worker(vs, hidden.get(), lm.get(), src, c); });
}

}  // namespace bend
