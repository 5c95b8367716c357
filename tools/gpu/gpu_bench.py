#!/usr/bin/env python3
"""GPU benchmark rows, printed by tools/gpu/run.sh on the GPU machine (docs/benchmarks.md, "GPU"):

1. embedding nt/s per architecture at BEND sizes (ResNet LM, DNABERT-6, NT v2-500M-like,
   HyenaDNA): `bend bench forward --cuda` (fp32 and bf16) vs the same card's PyTorch eager
   forward of the tests' reference model on the same weights and batch (tools/bench/torch_forward.py
   --device cuda; where that reference runs on CPU only the row says so), outputs compared; the
   ResNet-LM rate projected to the whole human genome (3.1e9 nt) in GPU-hours;
2. head training rows/s: `bend train --cuda` on the demo one-hot shards vs
   tools/bench/torch_train_loop.py --device cuda (the same head, loss and AdamW);
3. NCCL allreduce bus bandwidth: `bend bench allreduce --cuda`, one rank per visible GPU (on one
   GPU a local copy, printed as such).
--dry-run prints the planned commands without running anything (tools/gpu/run.sh --dry-run).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tools", "bench"))
import run_bench  # noqa: E402  (DATA: the real test data)

GENOME_NT = 3.1e9
TOK, CFGS = os.path.join(run_bench.DATA, "tokenizers"), os.path.join(run_bench.DATA, "configs")
NT_CFG = os.path.join(SOURCE_DIR, "tests", "models", "configs")


def bend_size_models():
    """(row, bend model, `bend model init` arguments, torch_forward runs it on CUDA)."""
    return [
        ("resnetlm (BEND: hidden 256, 30 layers)", "resnetlm", ["--arch", "resnetlm"], True),
        ("dnabert (DNABERT-6, 12 x 768)", "dnabert",
         ["--arch", "dnabert", "--config", os.path.join(TOK, "dnabert-6", "config.json"),
          "--tokenizer", os.path.join(TOK, "dnabert-6")], False),
        ("nt v2-500M-like (29 x 1024)", "nt",
         ["--arch", "nt", "--config", os.path.join(NT_CFG, "nt-v2-small.json"), "--set", "num_hidden_layers=29",
          "--set", "hidden_size=1024", "--set", "num_attention_heads=16", "--set", "intermediate_size=4096"], False),
        ("hyenadna (tiny-1k)", "hyenadna",
         ["--arch", "hyenadna", "--config", os.path.join(CFGS, "hyenadna-tiny-1k", "config.json")], False),
    ]


def write_sequences(path, n_rows, len_bp):
    """n_rows consecutive len_bp windows of real hg38 chr2 (tests/data) without N, one per line."""
    import gzip
    with gzip.open(os.path.join(run_bench.DATA, "genome", "hg38_chr2_1-2333275.fa.gz"), "rt") as f:
        chrom = "".join(line.strip() for line in f if not line.startswith(">")).upper()
    seqs = [chrom[p:p + len_bp] for p in range(200000, len(chrom) - len_bp, len_bp)]
    seqs = [s for s in seqs if set(s) <= set("ACGT")][:n_rows]
    if len(seqs) < n_rows:
        raise SystemExit("gpu_bench: chr2 has %d windows of %d bp without N, %d asked" % (len(seqs), len_bp, n_rows))
    with open(path, "w") as f:
        f.write("".join(s + "\n" for s in seqs))


def run(cmd, dry, **kw):
    print("   $ " + " ".join(cmd), flush=True)
    if dry:
        return None
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit("gpu_bench: command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr[-3000:]))
    return p


def number(pattern, text):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else float("nan")


def embedding_rows(a, work):
    seqs = os.path.join(work, "seqs.txt")
    write_sequences(seqs, a.rows, a.len)
    print("\n## embedding: %d rows x %d bp of hg38 chr2 per batch" % (a.rows, a.len))
    for i, (row, model, init, peer_on_cuda) in enumerate(bend_size_models()):
        ckpt = os.path.join(work, "m%d_%s" % (i, model))
        run([a.bend, "model", "init", "--out", ckpt, "--seed", str(11 + i)] + init, a.dry_run)
        rates = {}
        for prec in ("fp32", "bf16"):
            dump = ["--dump-tokens", ckpt + ".tokens", "--dump-output", ckpt + ".out"] if prec == "fp32" else []
            p = run([a.bend, "bench", "forward", "--model", model, "--checkpoint", ckpt, "--seqs", seqs, "--cuda",
                     "--precision", prec, "--seconds", str(a.seconds)] + dump, a.dry_run)
            rates[prec] = number(r"nt_per_s=([0-9.]+)", p.stdout) if p else float("nan")
        peer, diff = float("nan"), float("nan")
        if peer_on_cuda:
            p = run([sys.executable, os.path.join(SOURCE_DIR, "tools", "bench", "torch_forward.py"), "--model", model,
                     "--checkpoint", ckpt, "--seqs", seqs, "--tokens", ckpt + ".tokens", "--bend-output",
                     ckpt + ".out", "--device", "cuda", "--seconds", str(a.seconds)], a.dry_run)
            if p:
                peer, diff = number(r"nt_per_s=([0-9.]+)", p.stdout), number(r"max_abs_diff=([0-9.e+-]+)", p.stdout)
        line = "%-40s bend fp32 %12.0f nt/s  bf16 %12.0f nt/s" % (row, rates["fp32"], rates["bf16"])
        if peer_on_cuda:
            line += "  torch eager fp32 %12.0f nt/s  ratio %.2fx  max_abs_diff %.3g" % (peer, rates["fp32"] / peer, diff)
        else:
            line += "  torch eager: reference runs on CPU only (not compared)"
        if model == "resnetlm":
            line += "\n%-40s whole genome (3.1e9 nt): %.2f GPU-hours fp32, %.2f bf16" % (
                "", GENOME_NT / rates["fp32"] / 3600, GENOME_NT / rates["bf16"] / 3600)
        print(line, flush=True)


def training_rows(a, work):
    print("\n## head training (BEND's head, BCE, window 512, batch 64) on the demo one-hot shards")
    data = os.path.join(work, "data")
    run([sys.executable,
         os.path.join(SOURCE_DIR, "tools", "make_demo_data.py"), "--out", data, "--scale", "small"], a.dry_run)
    emb = os.path.join(work, "onehot")
    task = os.path.join(data, "histone_demo")
    run([a.bend, "embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
         os.path.join(data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand", "--model", "onehot",
         "--out", emb], a.dry_run)
    p = run([a.bend, "train", "--data", emb, "--out", os.path.join(work, "train"), "--label-depth", "6",
             "--criterion", "bce", "--metric", "auroc", "--output-window", "512", "--batch-size", "64",
             "--epochs", "3", "--cuda"], a.dry_run)
    ours = float("nan")
    if p:
        rates = [float(x) for x in re.findall(r"([0-9.]+) rows/s", p.stderr)]
        ours = sorted(rates)[len(rates) // 2] if rates else float("nan")
    p = run([sys.executable, os.path.join(SOURCE_DIR, "tools", "bench", "torch_train_loop.py"), "--input-dim", "5",
             "--len", "512", "--batch", "64", "--output-window", "512", "--label-depth", "6", "--device", "cuda",
             "--seconds", str(a.seconds)], a.dry_run)
    peer = number(r"rows_per_s=([0-9.]+)", p.stdout) if p else float("nan")
    print("%-40s bend train --cuda %10.0f rows/s  torch loop %10.0f rows/s  ratio %.2fx" %
          ("head 512 x 5, batch 64", ours, peer, ours / peer if peer == peer and peer else float("nan")))


def nccl_row(a):
    print("\n## NCCL allreduce (bend train's reducer, one fused float32 buffer)")
    n = 1
    if not a.dry_run and shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
        n = max(1, len(re.findall(r"^GPU \d+:", out, re.M)))
    for mib in (64, 1024):
        cmd = [a.bend, "bench", "allreduce", "--cuda", "--mib", str(mib), "--iters", "20"]
        if n > 1:
            cmd = ["mpirun", "-np", str(n), "--bind-to", "none"] + cmd
        p = run(cmd, a.dry_run)
        if p:
            print(p.stdout.strip() + ("" if n > 1 else "   (one GPU: a local copy; bus bandwidth needs >= 2 GPUs)"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bend", default=os.path.join(SOURCE_DIR, "build-gpu", "bend"))
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--len", type=int, default=1024)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--dry-run", action="store_true", help="print the planned commands, run nothing")
    a = ap.parse_args()
    for k in ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"):
        os.environ.setdefault(k, "1")
    work = tempfile.mkdtemp(prefix="bend-gpu-bench-")
    try:
        embedding_rows(a, work)
        training_rows(a, work)
        nccl_row(a)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
