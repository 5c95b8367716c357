#!/usr/bin/python3
"""bend's benchmark: makes a benchmark data set, runs bend and its peers on the same inputs in the
same run (each >= 3 times, medians), prints a table of ratios against the targets and writes JSON.
A benchmark, not a test: nothing in ctest depends on these timings (docs/benchmarks.md).

Usage: /usr/bin/python3 tools/bench/run_bench.py [--quick] [--out bench/results.json]
       [--bend build/bend] [--threads 2] [--runs 3] [--work DIR] [--only GROUP,...]
Row groups (--only): extraction, onehot, resnetlm, storage, train, baselines, scaling, memory, zoo,
hdf5, variants.
"""
import argparse
import datetime
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "app"))
import bendtest as bt  # noqa: E402  (independent TFRecord/Example readers)

PY = "/usr/bin/python3"
HISTONE_LABEL_DEPTH = 6  # classes of the demo histone task
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data")  # real test data
GROUPS = ("extraction", "onehot", "resnetlm", "storage", "train", "baselines", "scaling", "memory", "zoo", "hdf5",
          "variants")
MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np"]


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit("run_bench: command failed (%d): %s\n%s" % (p.returncode, " ".join(args), p.stderr[-3000:]))
    return p


def timed(args_list, runs, before=None):
    """Median wall seconds of running the commands in args_list one after the other, `runs` times."""
    times, last = [], None
    for _ in range(runs):
        if before:
            before()
        t0 = time.perf_counter()
        for args in args_list:
            last = run(args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), last


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "load_avg_1m_at_start": os.getloadavg()[0]}


def read_fasta_seqs(path):
    """Sequences of a FASTA (any line width), upper-cased, non-ACGT -> N."""
    seqs, cur = [], None
    with open(path) as f:
        for line in f:
            if line.startswith(">"):
                if cur is not None:
                    seqs.append("".join(cur))
                cur = []
            else:
                cur.append(line.strip())
    if cur is not None:
        seqs.append("".join(cur))
    table = str.maketrans({c: "N" for c in "BDEFHIJKLMOPQRSUVWXYZbdefhijklmopqrsuvwxyz"})
    return [s.upper().translate(table) for s in seqs]


def bed_rows(bed):
    with open(bed) as f:
        lines = f.read().splitlines()
    head = lines[0].split("\t")
    return head, [l.split("\t") for l in lines[1:]]


def extraction_order(a, d, tag, head, rows, fa):
    """Times bend extract and its peers on `rows` (in this order); checks all give the same sequences."""
    si = head.index("strand")
    bed = os.path.join(d, "regions_%s.bed" % tag)
    bed6 = os.path.join(d, "regions_%s.bed6" % tag)
    plus, minus, order = os.path.join(d, "plus_%s.txt" % tag), os.path.join(d, "minus_%s.txt" % tag), []
    with open(bed, "w") as bf, open(bed6, "w") as b6, open(plus, "w") as fp, open(minus, "w") as fm:
        bf.write("\t".join(head) + "\n")
        for i, r in enumerate(rows):
            bf.write("\t".join(r) + "\n")
            b6.write("%s\t%s\t%s\tr%d\t0\t%s\n" % (r[0], r[1], r[2], i, r[si]))
            (fm if r[si] == "-" else fp).write("%s:%d-%s\n" % (r[0], int(r[1]) + 1, r[2]))
            order.append(r[si] == "-")
    out = {k: os.path.join(d, "%s_%s.fa" % (k, tag)) for k in ("bend", "samtools_plus", "samtools_minus", "bedtools", "pysam")}
    t = {}
    t["bend extract"], p = timed([[a.bend, "extract", "--read-strand", "--bed", bed, "--genome", fa,
                                   "--out", out["bend"]]], a.runs)
    m = re.search(r"in ([0-9.]+) s", p.stderr)
    t_bend_internal = float(m.group(1)) if m else None
    t["samtools faidx -r (+ -i pass)"], _ = timed([
        ["samtools", "faidx", fa, "-r", plus, "-o", out["samtools_plus"]],
        ["samtools", "faidx", "-i", fa, "-r", minus, "-o", out["samtools_minus"]]], a.runs)
    t["bedtools getfasta -s"], _ = timed([["bedtools", "getfasta", "-s", "-fi", fa, "-bed", bed6,
                                           "-fo", out["bedtools"]]], a.runs)
    t["pysam fetch loop"], _ = timed([[PY, os.path.join(HERE, "pysam_extract.py"), bed6, fa, out["pysam"]]], a.runs)
    ours = read_fasta_seqs(out["bend"])
    sp, sm = iter(read_fasta_seqs(out["samtools_plus"])), iter(read_fasta_seqs(out["samtools_minus"]))
    sam = [next(sm) if m_ else next(sp) for m_ in order]
    identical = ours == sam == read_fasta_seqs(out["bedtools"]) == read_fasta_seqs(out["pysam"])
    fastest_peer = min(v for k, v in t.items() if k != "bend extract")
    return {"median_s": t, "bend_internal_s": t_bend_internal, "identical_sequences": identical,
            "ratio_vs_fastest_peer": fastest_peer / t["bend extract"],
            "ratio_vs_bedtools": t["bedtools getfasta -s"] / t["bend extract"]}


def bench_extraction(a, d, bed, fa):
    """The BED's rows in file order (sorted by position) and the same rows in a seeded random order
    (as variant windows arrive): bend extract vs samtools, bedtools and pysam on each."""
    import random
    head, rows = bed_rows(bed)
    res = extraction_order(a, d, "sorted", head, rows, fa)
    shuffled = list(rows)
    random.Random(16).shuffle(shuffled)
    res["random_order"] = extraction_order(a, d, "random", head, shuffled, fa)
    res["random_order"]["target"] = ">= 1.0x bedtools getfasta -s on the same random-order rows"
    res["random_vs_sorted_bend"] = res["random_order"]["median_s"]["bend extract"] / res["median_s"]["bend extract"]
    res["rows"] = len(rows)
    res["nt"] = sum(int(r[2]) - int(r[1]) for r in rows)
    res["target"] = ">= 1.0x fastest peer"
    return res


def embed_args(a, bed, fa, out, model, extra=(), threads=None):
    return [a.bend, "embed", "--bed", bed, "--genome", fa, "--out", out, "--model", model, "--read-strand",
            "--label-depth", str(HISTONE_LABEL_DEPTH), "--threads", str(threads or a.threads),
            "--progress-interval", "1000"] + list(extra)


def shard_bytes(out_dir):
    return sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir) if ".tfrecord" in n)


def inputs_bytes(out_dir):
    """Total bytes of the `inputs` feature over every record (independent protobuf reader)."""
    total = 0
    for name in os.listdir(out_dir):
        if ".tfrecord" in name:
            for rec in bt.read_tfrecord(os.path.join(out_dir, name)):
                ex = bt.example_pb2().Example()
                ex.ParseFromString(rec)
                total += len(ex.features.feature["inputs"].bytes_list.value[0])
    return total


def bench_onehot(a, d, bed, fa, n_nt):
    out = os.path.join(d, "onehot")
    clean = lambda: shutil.rmtree(out, ignore_errors=True)  # noqa: E731
    t_ours, _ = timed([embed_args(a, bed, fa, out, "onehot")], a.runs, clean)
    size = shard_bytes(out)
    t_peer, _ = timed([[PY, os.path.join(HERE, "bend_style_onehot.py"), "--bed", bed, "--genome", fa,
                        "--out", os.path.join(d, "bend_style_onehot.tar.gz"), "--read-strand"]], a.runs)
    n_mib = max(1, math.ceil(size / 2**20))
    dd_file = os.path.join(d, "dd.bin")
    t_dd, _ = timed([["dd", "if=/dev/zero", "of=" + dd_file, "bs=1M", "count=%d" % n_mib, "conv=fdatasync"]], a.runs)
    os.remove(dd_file)
    return {"nt": n_nt, "median_s": {"bend embed --model onehot": t_ours, "bend_style_onehot.py": t_peer,
                                     "dd conv=fdatasync": t_dd},
            "bend_nt_per_s": n_nt / t_ours, "peer_nt_per_s": n_nt / t_peer, "ratio_nt_per_s": t_peer / t_ours,
            "target_ratio": ">= 50x", "bend_bytes": size, "bend_bytes_per_s": size / t_ours,
            "dd_bytes_per_s": n_mib * 2**20 / t_dd, "bytes_per_s_vs_dd": (size / t_ours) / (n_mib * 2**20 / t_dd),
            "target_vs_dd": ">= 50%"}, out


def bench_resnetlm(a, d, bed, fa):
    """ResNet-LM embed vs bend's pure forward and vs a BEND-style python3-torch peer at batch size 1.
    bend embeds 192 rows (three forward batches of 64: the first one's oneDNN set-up is not the
    whole run); its rate vs the forward is judged in-run (bend's own "done: ... s wall", from
    before the model is loaded to the last shard; the forward excludes start-up and its warm-up
    batch too), and the whole-process rate is reported next to it. The peer, ~10x slower, runs on
    the first 48 of those rows (nt/s: every row is 512 bp)."""
    ckpt = os.path.join(d, "resnetlm")
    shutil.rmtree(ckpt, ignore_errors=True)
    size = ["--hidden-size", "32", "--n-layers", "4"] if a.quick else []
    run([a.bend, "model", "init", "--arch", "resnetlm", "--out", ckpt, "--seed", "1"] + size)
    n_rows, n_peer = (50, 50) if a.quick else (192, 48)
    head, rows = bed_rows(bed)
    sub = os.path.join(d, "resnet_rows.bed")
    with open(sub, "w") as f:
        f.write("\t".join(head) + "\n" + "".join("\t".join(r) + "\n" for r in rows[:n_rows]))
    sub_peer = os.path.join(d, "resnet_rows_peer.bed")
    with open(sub_peer, "w") as f:
        f.write("\t".join(head) + "\n" + "".join("\t".join(r) + "\n" for r in rows[:n_peer]))
    n_nt = sum(int(r[2]) - int(r[1]) for r in rows[:n_rows])
    n_nt_peer = sum(int(r[2]) - int(r[1]) for r in rows[:n_peer])
    out = os.path.join(d, "resnet_out")
    whole, inrun, fwd = [], [], []
    for _ in range(a.runs):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        p = run(embed_args(a, sub, fa, out, "resnetlm", ["--checkpoint", ckpt]))
        whole.append(time.perf_counter() - t0)
        inrun.append(float(re.search(r"done: .* in ([0-9.]+) s wall", p.stderr).group(1)))
        p = run([a.bend, "bench", "forward", "--model", "resnetlm", "--checkpoint", ckpt, "--len", "512",
                 "--batch", "64", "--threads", str(a.threads), "--seconds", "2" if a.quick else "5"])
        fwd.append(float(re.search(r"nt_per_s=([0-9.]+)", p.stdout).group(1)))
    dump = os.path.join(d, "first.npy")
    t_py, _ = timed([[PY, os.path.join(HERE, "bend_style_resnetlm.py"), "--checkpoint", ckpt, "--bed", sub_peer,
                      "--genome", fa, "--out", os.path.join(d, "bend_style_resnetlm.tar"), "--read-strand",
                      "--threads", str(a.threads), "--dump-first", dump]], a.runs)
    import numpy as np
    ours_first = bt.read_shard_dir(out)[0]["inputs"]
    max_diff = float(np.abs(ours_first - np.load(dump)).max())
    t_ours, t_inrun, f = statistics.median(whole), statistics.median(inrun), statistics.median(fwd)
    ours = n_nt / t_ours
    return {"rows": n_rows, "peer_rows": n_peer, "len_bp": 512, "threads": a.threads,
            "model": "quick: hidden 32, 4 layers" if a.quick else "BEND size: hidden 256, 30 layers",
            "median_s": {"bend embed": t_ours, "bend embed in-run": t_inrun, "bend_style_resnetlm.py": t_py},
            "bend_nt_per_s": ours, "bend_in_run_nt_per_s": n_nt / t_inrun, "forward_nt_per_s_median": f,
            "python_bs1_nt_per_s": n_nt_peer / t_py,
            "ratio_vs_forward": (n_nt / t_inrun) / f, "ratio_vs_forward_whole_process": ours / f,
            "target_vs_forward": ">= 0.95x (in-run)",
            "ratio_vs_python_bs1": ours / (n_nt_peer / t_py), "target_vs_python": ">= 1.05x",
            "first_row_max_abs_diff_vs_python": max_diff}


def bench_variant_rows(d, n):
    """n SNVs of the real hg38 region the tests ship (a plain copy of it), at seeded random
    positions past its leading N run, in random order; REF from the genome, seeded ALT and label."""
    import gzip
    import random
    fa = os.path.join(d, "hg38_chr2.fa")
    if not os.path.exists(fa):
        with gzip.open(os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz"), "rb") as src, open(fa, "wb") as dst:
            shutil.copyfileobj(src, dst)
    seq = read_fasta_seqs(fa)[0]
    rng = random.Random(16)
    rows = []
    while len(rows) < n:
        p = rng.randrange(20000, len(seq) - 20000)
        if seq[p] in "ACGT":
            rows.append(["chr2", str(p), str(p + 1), seq[p], rng.choice([b for b in "ACGT" if b != seq[p]]),
                         str(rng.randint(0, 1))])
    bed = os.path.join(d, "variants_%d.bed" % n)
    with open(bed, "w") as f:
        f.write("chromosome\tstart\tend\tref\talt\tlabel\n" + "".join("\t".join(r) + "\n" for r in rows))
    return bed, fa


def timed_cpu(args, runs, before=None):
    """Median wall and CPU seconds (user + system of the process and its children) of `args`."""
    import resource
    walls, cpus, last = [], [], None
    for _ in range(runs):
        if before:
            before()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        last = run(args)
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    return statistics.median(walls), statistics.median(cpus), last


def bench_variants(a, d):
    """bend variants (cosine, BEND's geometry: 513-bp windows, vector 256) with the ResNet LM vs
    the BEND-style python3-torch loop (tools/bench/bend_style_variants.py: one sequence per
    forward) on the same variants and threads; and mpirun -np 2 vs -np 1, one thread per rank,
    in-run (bend's "done: ... in X s wall"). Wall and CPU times both reported: CPU time is the
    steadier one on a shared machine."""
    n = 8 if a.quick else 32
    bed, fa = bench_variant_rows(d, n)
    ckpt = os.path.join(d, "variants_resnetlm")
    shutil.rmtree(ckpt, ignore_errors=True)
    size = ["--hidden-size", "32", "--n-layers", "4"] if a.quick else []
    run([a.bend, "model", "init", "--arch", "resnetlm", "--out", ckpt, "--seed", "1"] + size)
    out = os.path.join(d, "variants_out")

    def args(threads, np_=None):
        cmd = [a.bend, "variants", "--bed", bed, "--genome", fa, "--model", "resnetlm", "--checkpoint", ckpt,
               "--out", out, "--threads", str(threads), "--bootstrap", "0", "--progress", "none"]
        if np_ is not None:  # the queue hands out whole shards: 4 of n/4 rows, so both ranks get work
            cmd += ["--shard-rows", str(n // 4)]
        return cmd if np_ is None else MPIRUN + [str(np_)] + cmd

    def clean():
        shutil.rmtree(out, ignore_errors=True)

    def in_run(p):
        return float(re.search(r"done: .* in ([0-9.]+) s wall", p.stderr).group(1))

    res = {"variants": n, "threads": a.threads, "window_bp": 513,
           "model": "quick: hidden 32, 4 layers" if a.quick else "BEND size: hidden 256, 30 layers"}
    wall, cpu, p = timed_cpu(args(a.threads), a.runs, clean)
    ours = read_table_tsv(os.path.join(out, "scores.tsv"))
    peer_out = os.path.join(d, "bend_style_variants.tsv")
    pwall, pcpu, _ = timed_cpu([PY, os.path.join(HERE, "bend_style_variants.py"), "--checkpoint", ckpt, "--bed", bed,
                                "--genome", fa, "--threads", str(a.threads), "--out", peer_out], a.runs)
    with open(peer_out) as f:
        peer = [float(line.split("\t")[1]) for line in f]
    max_diff = max(abs(float(r["cosine"]) - v) for r, v in zip(ours, peer))
    res.update({"median_s": {"bend variants": wall, "bend_style_variants.py": pwall},
                "median_cpu_s": {"bend variants": cpu, "bend_style_variants.py": pcpu},
                "ratio_vs_python": pwall / wall, "ratio_vs_python_cpu": pcpu / cpu,
                "target_vs_python": ">= 8x", "max_abs_cosine_diff_vs_python": max_diff})
    # The compute ceiling: the model's multiply-adds per window against python3-torch's own
    # (oneDNN) conv1d kernel at batch 32 on the same threads, measured here; all three per
    # CPU-second (process time), which a loaded machine disturbs least.
    with open(os.path.join(ckpt, "config.json")) as f:
        c = json.load(f)
    h, k, layers = c["hidden_size"], c["kernel_size"], c["n_layers"]
    gflop = 2 * n * layers * (2 * h * h * k * 513 + 2 * h * h * 513) / 1e9  # ref + alt windows
    probe = ("import time, torch, torch.nn.functional as F\n"
             "torch.set_num_threads(%d); x = torch.randn(32, %d, 513 + %d); w = torch.randn(%d, %d, %d)\n"
             "F.conv1d(x, w); t = []\n"
             "for _ in range(5):\n    t0 = time.process_time(); F.conv1d(x, w); t.append(time.process_time() - t0)\n"
             "print(2 * 32 * %d * %d * %d * 513 / min(t) / 1e9)\n") % (a.threads, h, k - 1, h, h, k, h, h, k)
    conv_gflops = float(run([PY, "-c", probe]).stdout.split()[-1])
    res["compute"] = {"gflop": gflop, "bend_gflop_per_cpu_s": gflop / cpu, "python_gflop_per_cpu_s": gflop / pcpu,
                      "torch_conv1d_gflop_per_cpu_s": conv_gflops,
                      "gflop_per_cpu_s_for_target": 8 * gflop / pcpu}
    # np 2 vs np 1, one thread per rank, alternating run by run; the same 4 shards in both
    t = {1: [], 2: []}
    for _ in range(a.runs):
        for np_ in (1, 2):
            clean()
            t[np_].append(in_run(run(args(1, np_))))
    res["np_in_run_s"] = {"np1": statistics.median(t[1]), "np2": statistics.median(t[2])}
    res["np2_vs_np1"] = res["np_in_run_s"]["np1"] / res["np_in_run_s"]["np2"]
    res["target_np2_vs_np1"] = ">= 1.8x"
    clean()
    return res


def read_table_tsv(path):
    with open(path) as f:
        lines = f.read().splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def bench_storage(a, d, bed, fa, n_nt, base_out):
    base = shard_bytes(base_out)
    base_inputs = inputs_bytes(base_out)
    res = {}
    for name, extra in (("zlib", ["--compression", "zlib"]), ("gzip", ["--compression", "gzip"]),
                        ("float16", ["--dtype", "float16"]), ("bfloat16", ["--dtype", "bfloat16"])):
        out = os.path.join(d, "store_" + name)
        t, _ = timed([embed_args(a, bed, fa, out, "onehot", extra)], a.runs, lambda: shutil.rmtree(out, ignore_errors=True))
        r = {"bytes": shard_bytes(out), "size_ratio_vs_float32_none": shard_bytes(out) / base, "nt_per_s": n_nt / t}
        if name in ("float16", "bfloat16"):
            r["inputs_bytes"] = inputs_bytes(out)
            r["inputs_exactly_half"] = 2 * r["inputs_bytes"] == base_inputs
        res[name] = r
    return {"base_float32_none_bytes": base, "base_inputs_bytes": base_inputs, "variants": res}


def subset_bed(bed, path, per_split):
    """The first per_split[s] rows of each split s of a BEND BED, header kept."""
    head, rows = bed_rows(bed)
    si = head.index("split")
    taken = {k: 0 for k in per_split}
    keep = []
    for r in rows:
        if r[si] in taken and taken[r[si]] < per_split[r[si]]:
            taken[r[si]] += 1
            keep.append(r)
    with open(path, "w") as f:
        f.write("\t".join(head) + "\n" + "".join("\t".join(r) + "\n" for r in keep))
    return len(keep), sum(int(r[2]) - int(r[1]) for r in keep)


def train_args(a, data, out, threads, epochs):
    return [a.bend, "train", "--data", data, "--out", out, "--label-depth", str(HISTONE_LABEL_DEPTH),
            "--criterion", "bce", "--metric", "auroc", "--output-window", "512", "--batch-size", "64",
            "--epochs", str(epochs), "--threads", str(threads), "--overwrite"]


def train_rows_per_s(stderr):
    """Median over epochs of bend train's training-phase rows/s (log line of every epoch)."""
    v = [float(x) for x in re.findall(r"training [0-9.]+ s, ([0-9.]+) rows/s", stderr)]
    if not v:
        raise SystemExit("run_bench: no 'training ... rows/s' in bend train's log:\n" + stderr[-2000:])
    return statistics.median(v)


def bench_train(a, d, bed, fa, onehot_out):
    """Head training: bend train (data from shards) vs bend bench train (in-memory batches) vs a
    python3-torch loop (in-memory batches), for 512 x 5 (one-hot) and 512 x 256 inputs; and
    bend bench load: the loader's CPU time per batch on its own."""
    data256 = os.path.join(d, "train256")
    ckpt = os.path.join(d, "resnet256")
    shutil.rmtree(ckpt, ignore_errors=True)
    run([a.bend, "model", "init", "--arch", "resnetlm", "--out", ckpt, "--seed", "2", "--hidden-size", "256",
         "--n-layers", "1"])
    sub = os.path.join(d, "train256.bed")
    # 16 batches of 64 per epoch (768 MiB of float32 shards): long enough that the steady state,
    # not the first batches of an epoch (read ahead during validation), decides the rate
    n = 64 if a.quick else 1024
    subset_bed(bed, sub, {"train": n, "valid": n // 4, "test": n // 4})
    shutil.rmtree(data256, ignore_errors=True)
    run(embed_args(a, sub, fa, data256, "resnetlm", ["--checkpoint", ckpt]))
    epochs = 2 if a.quick else 3
    res = {}
    for name, data, dim in (("512x5", onehot_out, 5), ("512x256", data256, 256)):
        common = ["--input-dim", str(dim), "--label-depth", str(HISTONE_LABEL_DEPTH), "--output-window", "512",
                  "--batch", "64", "--threads", str(a.threads), "--seconds", "2" if a.quick else "5"]
        tr, mem, py, loads = [], [], [], []
        for _ in range(a.runs):  # interleaved, so that a slower spell of the machine hits all of them
            shutil.rmtree(os.path.join(d, "train_out_" + name), ignore_errors=True)
            p = run(train_args(a, data, os.path.join(d, "train_out_" + name), a.threads, epochs))
            tr.append(train_rows_per_s(p.stderr))
            p = run([a.bend, "bench", "train"] + common)
            mem.append(float(re.search(r"rows_per_s=([0-9.]+)", p.stdout).group(1)))
            p = run([PY, os.path.join(HERE, "torch_train_loop.py")] + common)
            py.append(float(re.search(r"rows_per_s=([0-9.]+)", p.stdout).group(1)))
            p = run([a.bend, "bench", "load", "--data", data, "--batch", "64"])
            loads.append(float(re.search(r"ms_cpu_per_batch=([0-9.]+)", p.stdout).group(1)))
        t, m, q = statistics.median(tr), statistics.median(mem), statistics.median(py)
        step_ms = 64 * 1000.0 / m  # one in-memory training step, wall
        res[name] = {"bend_train_rows_per_s": t, "bend_in_memory_rows_per_s": m, "torch_loop_rows_per_s": q,
                     "ratio_vs_torch": t / q, "target_vs_torch": ">= 1.0x",
                     "loading_overhead": m / t - 1, "target_loading_overhead": "<= 10%",
                     "loader_ms_cpu_per_batch": statistics.median(loads), "in_memory_step_ms": step_ms}
    return res


def bench_baselines(a, d, bed, fa):
    """Supervised baselines trained end to end: bend train --model M (one-hot shards, 1 epoch,
    training-phase rows/s of its log) vs the same model and batch in a python3-torch loop on
    in-memory batches (tools/bench/torch_train_loop.py --model M), interleaved, same threads."""
    res = {}
    # rows and batch per model: Basset ~1 GFLOP per 512-bp row and step, the ResNet ~25 GFLOP
    for model, n, batch in (("basset-supervised", 64 if a.quick else 256, 64),
                            ("resnet-supervised", 8 if a.quick else 32, 8)):
        sub = os.path.join(d, "baseline_%s.bed" % model)
        subset_bed(bed, sub, {"train": n, "valid": 4, "test": 4})
        data = os.path.join(d, "baseline_onehot_%s" % model)
        shutil.rmtree(data, ignore_errors=True)
        run(embed_args(a, sub, fa, data, "onehot"))
        common = ["--input-dim", "5", "--label-depth", str(HISTONE_LABEL_DEPTH), "--output-window", "512",
                  "--batch", str(batch), "--threads", str(a.threads)]
        tr, py = [], []
        for _ in range(a.runs):
            out = os.path.join(d, "baseline_out_" + model)
            shutil.rmtree(out, ignore_errors=True)
            args = train_args(a, data, out, a.threads, 1)
            args[args.index("--batch-size") + 1] = str(batch)
            p = run(args + ["--model", model])
            # the rows over the epoch's training seconds (its log rounds rows/s to an integer)
            secs = [float(x) for x in re.findall(r"training ([0-9.]+) s, [0-9.]+ rows/s", p.stderr)]
            if not secs:
                raise SystemExit("run_bench: no 'training ... s' in bend train's log:\n" + p.stderr[-2000:])
            tr.append(n / statistics.median(secs))
            p = run([PY, os.path.join(HERE, "torch_train_loop.py"), "--model", model, "--seconds",
                     "3" if a.quick else "10"] + common)
            py.append(float(re.search(r"rows_per_s=([0-9.]+)", p.stdout).group(1)))
        t, q = statistics.median(tr), statistics.median(py)
        res[model] = {"bend_train_rows_per_s": t, "torch_loop_rows_per_s": q, "ratio_vs_torch": t / q,
                      "batch": batch, "train_rows": n, "target_vs_torch": ">= 1.0x"}
    return res


def bench_scaling(a, d, bed, fa, onehot_out):
    """mpirun -np 2 vs -np 1, one thread per rank: ResNet-LM embed (compute-bound) and bend train.
    Embed: end to end (process start to exit) and in-run (bend's own "done: ... in X s wall",
    from its start of work to the last shard), so the per-process start-up (LibTorch's shared
    libraries, MPI_Init) shows separately. Peer for embed, the machine's own ceiling: two
    independent np 1 runs at once, each on half of the rows (alternate rows), with no
    communication and no shared work queue. The runs alternate np 1, the pair and np 2."""
    ckpt = os.path.join(d, "resnet_scaling")
    shutil.rmtree(ckpt, ignore_errors=True)
    run([a.bend, "model", "init", "--arch", "resnetlm", "--out", ckpt, "--seed", "3", "--hidden-size", "128",
         "--n-layers", "8"])
    sub = os.path.join(d, "scaling.bed")
    # ~18 s at np 1: the ~0.9 s start-up of an mpirun + bend-torch process is 5% of it (a 6 s
    # workload made it 15% and measured start-up more than scaling); 96 shards, so the last
    # shard's imbalance between ranks is ~1% of the run
    n = 32 if a.quick else 1024
    _, n_nt = subset_bed(bed, sub, {"train": n, "valid": n // 4, "test": n // 4})
    with open(sub) as f:
        header, rows = f.readline(), f.readlines()
    halves = [os.path.join(d, "scaling_half%d.bed" % i) for i in (0, 1)]
    for i, path in enumerate(halves):
        with open(path, "w") as f:
            f.write(header + "".join(rows[i::2]))
    mpirun = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np"]

    def embed_cmd(np_, bed, out):
        shutil.rmtree(out, ignore_errors=True)
        return mpirun + [str(np_)] + embed_args(a, bed, fa, out, "resnetlm",
                                                ["--checkpoint", ckpt, "--shard-rows", "16"], threads=1)

    def in_run_s(stderr):
        m = re.search(r"done: .* in ([0-9.]+) s wall", stderr)
        if not m:
            raise SystemExit("run_bench: no 'done: ... s wall' in bend embed's log:\n" + stderr[-2000:])
        return float(m.group(1))

    total, inrun = {1: [], "pair": [], 2: []}, {1: [], "pair": [], 2: []}
    for _ in range(a.runs):
        for np_ in (1, "pair", 2):
            t0 = time.perf_counter()
            if np_ == "pair":
                ps = [subprocess.Popen(embed_cmd(1, halves[i], os.path.join(d, "scaling_half%d" % i)),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in (0, 1)]
                errs = [p.communicate()[1] for p in ps]
                total[np_].append(time.perf_counter() - t0)
                for p, e in zip(ps, errs):
                    if p.returncode != 0:
                        raise SystemExit("run_bench: bend embed on half the rows failed (%d):\n%s" % (p.returncode, e[-3000:]))
                inrun[np_].append(max(in_run_s(e) for e in errs))
            else:
                p = run(embed_cmd(np_, sub, os.path.join(d, "scaling_np%d" % np_)))
                total[np_].append(time.perf_counter() - t0)
                inrun[np_].append(in_run_s(p.stderr))
    res = {"embed_pair_s": statistics.median(total["pair"]), "embed_pair_in_run_s": statistics.median(inrun["pair"])}
    for np_ in (1, 2):
        res["embed_np%d_s" % np_] = statistics.median(total[np_])
        res["embed_np%d_in_run_s" % np_] = statistics.median(inrun[np_])
        res["embed_np%d_startup_s" % np_] = res["embed_np%d_s" % np_] - res["embed_np%d_in_run_s" % np_]
        rates = []
        for _ in range(a.runs):
            shutil.rmtree(os.path.join(d, "scaling_train"), ignore_errors=True)
            p = run(mpirun + [str(np_)] + train_args(a, onehot_out, os.path.join(d, "scaling_train"), 1, 2))
            rates.append(train_rows_per_s(p.stderr))
        res["train_np%d_rows_per_s" % np_] = statistics.median(rates)
    res["embed_speedup"] = res["embed_np1_s"] / res["embed_np2_s"]
    res["embed_in_run_speedup"] = res["embed_np1_in_run_s"] / res["embed_np2_in_run_s"]
    res["embed_pair_speedup"] = res["embed_np1_s"] / res["embed_pair_s"]
    res["embed_pair_in_run_speedup"] = res["embed_np1_in_run_s"] / res["embed_pair_in_run_s"]
    res["train_speedup"] = res["train_np2_rows_per_s"] / res["train_np1_rows_per_s"]
    res["nt"] = n_nt
    res["target"] = ">= 1.8x"
    return res


def bench_memory(a, d, fa):
    """Peak RSS of one bend embed rank (onehot, float16) for N and 10 N rows: it should grow by no
    more than the region list (bend prints its own peak RSS; np 1, no mpirun)."""
    with open(fa + ".fai") as f:
        chroms = [(l.split("\t")[0], int(l.split("\t")[1])) for l in f]
    res = {}
    n_small = 600 if a.quick else 20000
    for n in (n_small, 10 * n_small):
        bed = os.path.join(d, "mem_%d.bed" % n)
        with open(bed, "w") as f:
            f.write("chromosome\tstart\tend\tstrand\tsplit\n")
            i = 0
            while i < n:
                for c, length in chroms:
                    start = (i * 97) % (length - 600)
                    f.write("%s\t%d\t%d\t%s\ttrain\n" % (c, start, start + 512, "+-"[i % 2]))
                    i += 1
                    if i == n:
                        break
        out = os.path.join(d, "mem_out")
        shutil.rmtree(out, ignore_errors=True)
        p = run([a.bend, "embed", "--bed", bed, "--genome", fa, "--out", out, "--model", "onehot", "--read-strand",
                 "--dtype", "float16", "--threads", "1", "--progress-interval", "1000"])
        m = re.search(r"peak RSS per rank: ([0-9.]+) MiB", p.stderr)
        res[str(n)] = {"peak_rss_mib": float(m.group(1)), "bed_bytes": os.path.getsize(bed)}
        shutil.rmtree(out, ignore_errors=True)
    small, big = res[str(n_small)], res[str(10 * n_small)]
    res["growth_mib"] = big["peak_rss_mib"] - small["peak_rss_mib"]
    res["region_list_growth_mib"] = (big["bed_bytes"] - small["bed_bytes"]) / 2**20
    res["target"] = "growth <= the region list"
    return res


def zoo_sequences(path, n_rows, len_bp):
    """n_rows windows of len_bp of real hg38 chr2 (tests/data), no N, one per line."""
    import gzip
    with gzip.open(os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz"), "rt") as f:
        chrom = "".join(line.strip() for line in f if not line.startswith(">")).upper()
    seqs, pos = [], 200000
    while len(seqs) < n_rows:
        s = chrom[pos:pos + len_bp]
        if len(s) < len_bp:
            raise SystemExit("run_bench: chr2 too short for %d x %d bp" % (n_rows, len_bp))
        if set(s) <= set("ACGT"):
            seqs.append(s)
            pos += 100003
        else:
            pos += len_bp
    with open(path, "w") as f:
        f.write("".join(s + "\n" for s in seqs))


def grover_vocab_dir():
    """A fresh directory with a greedy-match vocab.txt for GROVER: DNABERT-2's BPE token list in
    id order (GROVER's own vocab.txt is not in tests/data; tests/models/test_grover.py)."""
    import tempfile
    with open(os.path.join(DATA, "tokenizers", "dnabert2", "tokenizer.json")) as f:
        v = json.load(f)["model"]["vocab"]
    d = tempfile.mkdtemp(prefix="bend-grover-vocab-")
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.writelines(t + "\n" for t in sorted(v, key=v.get))
    return d


def zoo_models(quick):
    """(row, bend model, `bend model init` arguments) per architecture: small configs from the
    real config.json files (tests/data, tests/models/configs), seeded weights."""
    tok, cfgs = os.path.join(DATA, "tokenizers"), os.path.join(DATA, "configs")
    nt = os.path.join(SOURCE_DIR, "tests", "models", "configs")
    n = 2 if quick else 4
    small = ["--set", "num_hidden_layers=%d" % n, "--set", "hidden_size=128", "--set", "num_attention_heads=4",
             "--set", "intermediate_size=512"]
    return [
        ("dnabert (DNABERT-6)", "dnabert", ["--arch", "dnabert", "--config", os.path.join(tok, "dnabert-6", "config.json"),
                                            "--tokenizer", os.path.join(tok, "dnabert-6")] + small),
        ("nt v1", "nt", ["--arch", "nt", "--config", os.path.join(nt, "nt-v1-small.json")] + small),
        ("nt v2", "nt", ["--arch", "nt", "--config", os.path.join(nt, "nt-v2-small.json")] + small),
        ("dnabert2", "dnabert2", ["--arch", "dnabert2", "--config", os.path.join(tok, "dnabert2", "config.json"),
                                  "--tokenizer", os.path.join(tok, "dnabert2")] + small),
        ("gena-lm bert (pre-LN)", "gena-lm", [
            "--arch", "gena-lm", "--config", os.path.join(cfgs, "gena-lm", "L12-H768-A12-V32k-preln-lastln.json"),
            "--tokenizer", os.path.join(tok, "gena-lm-t2t-32k")] + small),
        ("hyenadna (tiny-1k)", "hyenadna", ["--arch", "hyenadna", "--config",
                                            os.path.join(cfgs, "hyenadna-tiny-1k", "config.json"), "--set", "n_layer=%d" % n]),
        ("awdlstm", "awdlstm", ["--arch", "awdlstm", "--set", "input_size=64", "--set", "hidden_size=256",
                                "--set", "num_hidden_layers=%d" % n]),
        ("resnetlm", "resnetlm", ["--arch", "resnetlm", "--hidden-size", "128", "--n-layers", str(n)]),
        ("caduceus-ps (131k layout)", "caduceus", ["--arch", "caduceus", "--config", os.path.join(nt, "caduceus-ps.json"),
                                                   "--set", "n_layer=%d" % n, "--set", "d_model=128"]),
        ("grover", "grover", ["--arch", "grover", "--config", os.path.join(tok, "dnabert-6", "config.json"),
                              "--tokenizer", grover_vocab_dir(), "--vocab-size", "4096"] + small),
        ("gpn (ConvNet, gpn-brassicales)", "gpn", [
            "--arch", "gpn", "--config", os.path.join(cfgs, "gpn-brassicales", "config.json"),
            "--set", "hidden_size=128", "--set", "n_layers=%d" % n]),
    ]


def model_size(ckpt):
    """"N layers, hidden H" from a checkpoint's config.json (any architecture's key names)."""
    with open(os.path.join(ckpt, "config.json")) as f:
        c = json.load(f)
    layers = next(c[k] for k in ("num_hidden_layers", "n_layer", "n_layers") if k in c)
    hidden = next(c[k] for k in ("hidden_size", "d_model") if k in c)
    return "%d layers, hidden %d" % (layers, hidden)


def bench_zoo(a, d):
    """Per architecture: bend bench forward vs the tests' python3-torch reference of the same
    architecture (tools/bench/torch_forward.py): same weights, threads and batch; outputs compared."""
    n_rows, len_bp = (4, 512) if a.quick else (8, 512)
    seconds = "1" if a.quick else "2"  # each window; a window always ends after whole batches
    seqs = os.path.join(d, "zoo_seqs.txt")
    zoo_sequences(seqs, n_rows, len_bp)
    res = {"rows": n_rows, "len_bp": len_bp, "threads": a.threads, "models": {}}
    for i, (row, model, init) in enumerate(zoo_models(a.quick)):
        if a.zoo_models and model not in a.zoo_models.split(","):
            continue
        ckpt = os.path.join(d, "zoo_%d_%s" % (i, model))
        shutil.rmtree(ckpt, ignore_errors=True)
        run([a.bend, "model", "init", "--out", ckpt, "--seed", str(11 + i)] + init)
        tokens, outputs = ckpt + ".tokens.txt", ckpt + ".out.f32"
        fwd = []
        for k in range(a.runs):
            dump = ["--dump-tokens", tokens, "--dump-output", outputs] if k == 0 else []
            # --rules corrected: torch_forward.py repeats each token's vector (no DNABERT echo)
            p = run([a.bend, "bench", "forward", "--model", model, "--checkpoint", ckpt, "--seqs", seqs,
                     "--threads", str(a.threads), "--seconds", seconds, "--rules", "corrected"] + dump)
            fwd.append(float(re.search(r"nt_per_s=([0-9.]+)", p.stdout).group(1)))
        p = run([PY, os.path.join(HERE, "torch_forward.py"), "--model", model, "--checkpoint", ckpt, "--seqs", seqs,
                 "--tokens", tokens, "--bend-output", outputs, "--threads", str(a.threads), "--seconds", seconds,
                 "--windows", str(a.runs)])
        py = float(re.search(r"nt_per_s=([0-9.]+)", p.stdout).group(1))
        diff = float(re.search(r"max_abs_diff=([0-9.e+-]+)", p.stdout).group(1))
        ours = statistics.median(fwd)
        res["models"][row] = {"model": model, "size": model_size(ckpt), "bend_forward_nt_per_s": ours,
                              "torch_reference_nt_per_s": py, "ratio": ours / py, "max_abs_diff": diff,
                              "outputs_agree": diff <= 1e-4}
    return res


def h5_embedding_digest(out):
    """SHA-256 over the `embeddings` bytes of every <split>.h5 in out (sorted by split), and their
    total size in bytes (h5py)."""
    import hashlib
    import h5py
    h, n = hashlib.sha256(), 0
    for name in sorted(x for x in os.listdir(out) if x.endswith(".h5")):
        with h5py.File(os.path.join(out, name), "r") as f:
            b = f["embeddings"][:].tobytes()
        h.update(b)
        n += len(b)
    return h.hexdigest(), n


def bench_hdf5(a, d, bed, fa, n_nt):
    """One-hot embed written as one parallel HDF5 file per split vs TFRecord shards, np 1 and
    np 2 (mpirun, 1 thread per rank), and dd conv=fdatasync of the same size, in the same run.
    Bytes/s are of the embedding bytes (n_nt x 5 float32, the same in both formats); the files'
    own sizes (HDF5 chunk slack, TFRecord framing and labels) are recorded beside them."""
    payload = n_nt * 5 * 4
    res = {"nt": n_nt, "embedding_bytes_expected": payload}
    for fmt in ("tfrecord", "hdf5"):
        for np_ in (1, 2):
            out = os.path.join(d, "h5_%s_np%d" % (fmt, np_))
            walls, internal = [], []
            for _ in range(a.runs):
                shutil.rmtree(out, ignore_errors=True)
                t0 = time.perf_counter()
                p = run(MPIRUN + [str(np_)] + embed_args(a, bed, fa, out, "onehot", ["--format", fmt], threads=1))
                walls.append(time.perf_counter() - t0)
                m = re.search(r"done: .* in ([0-9.]+) s wall", p.stderr)  # bend's own, without mpirun start-up
                internal.append(float(m.group(1)) if m else float("nan"))
            t, t_in = statistics.median(walls), statistics.median(internal)
            ext = ".h5" if fmt == "hdf5" else ".tfrecord"
            size = sum(os.path.getsize(os.path.join(out, x)) for x in os.listdir(out) if x.endswith(ext))
            res["%s_np%d" % (fmt, np_)] = {"median_s": t, "bend_internal_s": t_in, "file_bytes": size,
                                           "bytes_per_s": payload / t, "internal_bytes_per_s": payload / t_in,
                                           "nt_per_s": n_nt / t}
    d1, n1 = h5_embedding_digest(os.path.join(d, "h5_hdf5_np1"))
    d2, _ = h5_embedding_digest(os.path.join(d, "h5_hdf5_np2"))
    res["embedding_bytes"] = n1
    res["np1_np2_identical"] = d1 == d2 and n1 == payload
    n_mib = max(1, math.ceil(payload / 2**20))
    dd_file = os.path.join(d, "dd_h5.bin")
    t_dd, _ = timed([["dd", "if=/dev/zero", "of=" + dd_file, "bs=1M", "count=%d" % n_mib, "conv=fdatasync"]], a.runs)
    os.remove(dd_file)
    res["dd_bytes_per_s"] = n_mib * 2**20 / t_dd
    h1, h2, t1 = res["hdf5_np1"], res["hdf5_np2"], res["tfrecord_np1"]
    res["hdf5_vs_tfrecord_np1"] = t1["median_s"] / h1["median_s"]
    res["hdf5_vs_tfrecord_np2"] = res["tfrecord_np2"]["median_s"] / h2["median_s"]
    for np_, h in ((1, h1), (2, h2)):
        res["hdf5_np%d_vs_dd" % np_] = h["bytes_per_s"] / res["dd_bytes_per_s"]
        res["hdf5_np%d_internal_vs_dd" % np_] = h["internal_bytes_per_s"] / res["dd_bytes_per_s"]
    res["hdf5_np2_vs_np1"] = h1["median_s"] / h2["median_s"]
    res["tfrecord_np2_vs_np1"] = t1["median_s"] / res["tfrecord_np2"]["median_s"]
    return res


def print_zoo_hdf5(res, fmt):
    if "zoo" in res:
        z = res["zoo"]
        for row, m in z["models"].items():
            print(fmt % ("forward %s" % row, "%s, %d x %d bp, %d thr: bend %.3g vs torch ref %.3g nt/s; max |diff| %.2g"
                         % (m["size"], z["rows"], z["len_bp"], z["threads"], m["bend_forward_nt_per_s"],
                            m["torch_reference_nt_per_s"], m["max_abs_diff"]), "%.2fx" % m["ratio"],
                         "outputs agree (<= 1e-4): %s" % m["outputs_agree"]))
    if "hdf5" in res:
        h = res["hdf5"]
        for np_ in (1, 2):
            t, f = h["tfrecord_np%d" % np_], h["hdf5_np%d" % np_]
            print(fmt % ("one-hot HDF5 vs TFRecord, np %d" % np_, "hdf5 %.3g B/s (%.2fs, internal %.2fs) vs shards %.3g "
                         "B/s (%.2fs, internal %.2fs)" % (f["bytes_per_s"], f["median_s"], f["bend_internal_s"],
                                                           t["bytes_per_s"], t["median_s"], t["bend_internal_s"]),
                         "%.2fx" % h["hdf5_vs_tfrecord_np%d" % np_], "time ratio, same rows"))
            print(fmt % ("one-hot HDF5 vs dd, np %d" % np_, "hdf5 %.3g B/s (internal %.3g B/s, %.0f%%) vs dd %.3g B/s"
                         % (f["bytes_per_s"], f["internal_bytes_per_s"], 100 * h["hdf5_np%d_internal_vs_dd" % np_],
                            h["dd_bytes_per_s"]), "%.0f%%" % (100 * h["hdf5_np%d_vs_dd" % np_]), "written bytes/s"))
        print(fmt % ("one-hot HDF5 np2/np1", "1 thread/rank: %.2fs vs %.2fs (shards: %.2fx); np1 == np2 bytes: %s"
                     % (h["hdf5_np1"]["median_s"], h["hdf5_np2"]["median_s"], h["tfrecord_np2_vs_np1"],
                        h["np1_np2_identical"]), "%.2fx" % h["hdf5_np2_vs_np1"], "time ratio"))


def print_table(res):
    m = res["machine"]
    print("\nbend benchmark (%s scale), %s; %d CPUs (%s); load %.1f at start; medians of %d runs"
          % (res["scale"], m["date"], m["nproc"], m["cpu"], m["load_avg_1m_at_start"], res["runs"]))
    fmt = "%-34s %-58s %-12s %s"
    print(fmt % ("row", "measured", "ratio", "target"))
    if "extraction" in res:
        e = res["extraction"]
        print(fmt % ("extraction, both strands", "%d rows; bend %.3fs (internal %.3fs); peers %s; identical: %s" % (
            e["rows"], e["median_s"]["bend extract"], e["bend_internal_s"] or -1,
            ", ".join("%s %.3fs" % (k.split()[0], v) for k, v in e["median_s"].items() if k != "bend extract"),
            e["identical_sequences"]), "%.2fx" % e["ratio_vs_fastest_peer"], e["target"]))
        r = e["random_order"]
        print(fmt % ("extraction, random row order", "bend %.3fs (internal %.3fs; %.2fx its sorted time); peers %s; "
                     "identical: %s" % (r["median_s"]["bend extract"], r["bend_internal_s"] or -1,
                                        e["random_vs_sorted_bend"],
                                        ", ".join("%s %.3fs" % (k.split()[0], v) for k, v in r["median_s"].items()
                                                  if k != "bend extract"), r["identical_sequences"]),
                     "%.2fx" % r["ratio_vs_bedtools"], r["target"]))
    if "onehot" in res:
        o = res["onehot"]
        print(fmt % ("one-hot embed (nt/s)", "bend %.3g vs BEND-style %.3g nt/s" % (o["bend_nt_per_s"], o["peer_nt_per_s"]),
                     "%.1fx" % o["ratio_nt_per_s"], o["target_ratio"]))
        print(fmt % ("one-hot embed (bytes/s vs dd)", "bend %.3g B/s vs dd %.3g B/s" % (o["bend_bytes_per_s"], o["dd_bytes_per_s"]),
                     "%.0f%%" % (100 * o["bytes_per_s_vs_dd"]), o["target_vs_dd"]))
    if "resnetlm" in res:
        r = res["resnetlm"]
        print(fmt % ("ResNet-LM embed vs pure forward", "%d x 512 bp, %s, %d thr: in-run %.3g (whole process %.3g, "
                     "%.2fx) vs %.3g nt/s" % (r["rows"], r["model"], r["threads"], r["bend_in_run_nt_per_s"],
                                              r["bend_nt_per_s"], r["ratio_vs_forward_whole_process"],
                                              r["forward_nt_per_s_median"]),
            "%.2fx" % r["ratio_vs_forward"], r["target_vs_forward"]))
        print(fmt % ("ResNet-LM embed vs torch bs=1", "%.3g (whole process) vs %.3g nt/s (%d rows); first row max "
                     "|diff| %.2g" % (r["bend_nt_per_s"], r["python_bs1_nt_per_s"], r["peer_rows"],
                                      r["first_row_max_abs_diff_vs_python"]),
            "%.2fx" % r["ratio_vs_python_bs1"], r["target_vs_python"]))
    if "storage" in res:
        for name, v in res["storage"]["variants"].items():
            extra = "; inputs exactly half: %s" % v["inputs_exactly_half"] if "inputs_exactly_half" in v else ""
            print(fmt % ("one-hot shards, " + name, "%d B, %.3g nt/s%s" % (v["bytes"], v["nt_per_s"], extra),
                         "%.3f size" % v["size_ratio_vs_float32_none"], "fp16/bf16: 0.5x inputs"))
    if "train" in res:
        for name, t in res["train"].items():
            print(fmt % ("head training %s vs torch" % name, "bend train %.0f rows/s vs python3-torch loop %.0f rows/s"
                         % (t["bend_train_rows_per_s"], t["torch_loop_rows_per_s"]), "%.2fx" % t["ratio_vs_torch"],
                         t["target_vs_torch"]))
            print(fmt % ("head training %s loading" % name, "bend train %.0f vs in-memory batches %.0f rows/s"
                         % (t["bend_train_rows_per_s"], t["bend_in_memory_rows_per_s"]),
                         "%+.0f%%" % (100 * t["loading_overhead"]), t["target_loading_overhead"]))
            if "loader_ms_cpu_per_batch" in t:
                print(fmt % ("  loader alone (bend bench load)", "%.2f ms CPU per batch of 64; in-memory step %.1f ms"
                             % (t["loader_ms_cpu_per_batch"], t["in_memory_step_ms"]),
                             "%.0f%%" % (100 * t["loader_ms_cpu_per_batch"] / t["in_memory_step_ms"]),
                             "(CPU the loader takes from the step)"))
    if "baselines" in res:
        for name, t in res["baselines"].items():
            print(fmt % ("%s training vs torch" % name, "bend train %.2f rows/s vs python3-torch loop %.2f rows/s "
                         "(batch %d)" % (t["bend_train_rows_per_s"], t["torch_loop_rows_per_s"], t["batch"]),
                         "%.2fx" % t["ratio_vs_torch"], t["target_vs_torch"]))
    if "scaling" in res:
        sc = res["scaling"]
        print(fmt % ("scaling np2/np1, embed", "ResNet-LM (hidden 128, 8 layers), 1 thread/rank: %.2fs vs %.2fs"
                     % (sc["embed_np1_s"], sc["embed_np2_s"]), "%.3fx" % sc["embed_speedup"], sc["target"]))
        if "embed_in_run_speedup" in sc:
            print(fmt % ("  embed in-run (start-up apart)", "%.2fs vs %.2fs; start-up %.2fs / %.2fs per run"
                         % (sc["embed_np1_in_run_s"], sc["embed_np2_in_run_s"], sc["embed_np1_startup_s"],
                            sc["embed_np2_startup_s"]), "%.3fx" % sc["embed_in_run_speedup"], ""))
        if "embed_pair_speedup" in sc:
            print(fmt % ("  peer: 2 lone np1 runs, half each", "%.2fs (%.2fs in-run): the machine's ceiling for 2 ranks"
                         % (sc["embed_pair_s"], sc["embed_pair_in_run_s"]),
                         "%.3fx" % sc["embed_pair_speedup"], "ours %.0f%% of it" % (100 * sc["embed_pair_s"] / sc["embed_np2_s"])))
        print(fmt % ("scaling np2/np1, train", "512x5 head, 1 thread/rank: %.0f vs %.0f rows/s"
                     % (sc["train_np1_rows_per_s"], sc["train_np2_rows_per_s"]), "%.2fx" % sc["train_speedup"], sc["target"]))
    if "memory" in res:
        me = res["memory"]
        ks = [k for k in me if k.isdigit()]
        print(fmt % ("peak RSS, %s vs %s rows" % (ks[0], ks[1]), "%.1f vs %.1f MiB; region list grows %.1f MiB"
                     % (me[ks[0]]["peak_rss_mib"], me[ks[1]]["peak_rss_mib"], me["region_list_growth_mib"]),
                     "+%.1f MiB" % me["growth_mib"], me["target"]))
    print_zoo_hdf5(res, fmt)
    if "variants" in res:
        v = res["variants"]
        print(fmt % ("variants, ResNet LM vs BEND loop", "%d SNVs, %s, %d thr: bend %.1fs (CPU %.1fs) vs python %.1fs "
                     "(CPU %.1fs; CPU ratio %.2fx); max |cosine diff| %.1e"
                     % (v["variants"], v["model"], v["threads"], v["median_s"]["bend variants"],
                        v["median_cpu_s"]["bend variants"], v["median_s"]["bend_style_variants.py"],
                        v["median_cpu_s"]["bend_style_variants.py"], v["ratio_vs_python_cpu"],
                        v["max_abs_cosine_diff_vs_python"]), "%.2fx" % v["ratio_vs_python"], v["target_vs_python"]))
        cc = v["compute"]
        print(fmt % ("variants compute ceiling", "%.3g GFLOP: bend %.3g, python %.3g GFLOP per CPU-s; torch's conv1d "
                     "kernel (batch 32) %.3g; 8x python needs %.3g"
                     % (cc["gflop"], cc["bend_gflop_per_cpu_s"], cc["python_gflop_per_cpu_s"],
                        cc["torch_conv1d_gflop_per_cpu_s"], cc["gflop_per_cpu_s_for_target"]),
                     "%.2fx" % (cc["bend_gflop_per_cpu_s"] / cc["torch_conv1d_gflop_per_cpu_s"]), "of the kernel"))
        print(fmt % ("variants np2/np1 (in-run)", "1 thread/rank, 4 shards: %.1fs vs %.1fs" % (v["np_in_run_s"]["np1"],
                                                                                   v["np_in_run_s"]["np2"]),
                     "%.2fx" % v["np2_vs_np1"], v["target_np2_vs_np1"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small data and model (minutes -> seconds)")
    ap.add_argument("--out", default=os.path.join(SOURCE_DIR, "bench", "results.json"))
    ap.add_argument("--bend", default=os.path.join(SOURCE_DIR, "build", "bend"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", help="working directory (default: a new temp dir, removed at the end)")
    ap.add_argument("--zoo-models", default="", help="zoo rows of these bend models only, comma-separated "
                    "(e.g. grover,gpn; default: every row)")
    ap.add_argument("--only", default=",".join(GROUPS), help="row groups to run, comma-separated (default: all): "
                    + ", ".join(GROUPS))
    a = ap.parse_args()
    groups = [g for g in a.only.split(",") if g]
    if not groups or any(g not in GROUPS for g in groups):
        raise SystemExit("run_bench: --only %s: groups are %s" % (a.only, ", ".join(GROUPS)))
    for k in ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"):  # mpirun rows, as root in CI
        os.environ.setdefault(k, "1")
    # PMIx's munge security plugin retries a munge socket whose daemon is gone (a stale
    # /run/munge/munge.socket.2) for 2.25 s on every mpirun; "native" is PMIx's own default.
    os.environ.setdefault("PMIX_MCA_psec", "native")
    if a.runs < 3:
        raise SystemExit("run_bench: --runs must be >= 3 (medians)")
    work = a.work or tempfile.mkdtemp(prefix="bend-bench-")
    os.makedirs(work, exist_ok=True)
    scale = "small" if a.quick else "bench"
    data = os.path.join(work, "data")
    res = {"scale": scale, "runs": a.runs, "machine": machine(), "bend": a.bend}
    bed = os.path.join(data, "histone_demo", "histone_demo.bed")
    fa = os.path.join(data, "genome", "demo.fa")
    n_nt = None
    if set(groups) - {"zoo", "variants"}:  # the zoo and variants rows read real chr2 from tests/data only
        run([PY, os.path.join(SOURCE_DIR, "tools", "make_demo_data.py"), "--out", data, "--scale", scale])
        n_nt = sum(int(r[2]) - int(r[1]) for r in bed_rows(bed)[1])
    onehot_out = None
    if "extraction" in groups:
        res["extraction"] = bench_extraction(a, work, bed, fa)
    if "onehot" in groups:
        res["onehot"], onehot_out = bench_onehot(a, work, bed, fa, n_nt)
    elif {"storage", "train", "scaling"} & set(groups):  # their input: the one-hot shards, untimed
        onehot_out = os.path.join(work, "onehot")
        shutil.rmtree(onehot_out, ignore_errors=True)
        run(embed_args(a, bed, fa, onehot_out, "onehot"))
    if "resnetlm" in groups:
        res["resnetlm"] = bench_resnetlm(a, work, bed, fa)
    if "storage" in groups:
        res["storage"] = bench_storage(a, work, bed, fa, n_nt, onehot_out)
    if "train" in groups:
        res["train"] = bench_train(a, work, bed, fa, onehot_out)
    if "baselines" in groups:
        res["baselines"] = bench_baselines(a, work, bed, fa)
    if "scaling" in groups:
        res["scaling"] = bench_scaling(a, work, bed, fa, onehot_out)
    if "memory" in groups:
        res["memory"] = bench_memory(a, work, fa)
    if "zoo" in groups:
        res["zoo"] = bench_zoo(a, work)
    if "hdf5" in groups:
        res["hdf5"] = bench_hdf5(a, work, bed, fa, n_nt)
    if "variants" in groups:
        res["variants"] = bench_variants(a, work)
    print_table(res)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    print("\nwrote %s" % a.out)
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
