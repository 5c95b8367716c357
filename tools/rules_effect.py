#!/usr/bin/env python3
"""How much `--rules bend` and `--rules corrected` differ on real sequence (docs/differences.md).

Seeds small DNABERT-6 and GENA-LM checkpoints (real configs and tokenizers from tests/data,
tool_transformer init), embeds hg38 chr2 regions (tests/data) with both rule sets and prints,
per model and row length, the per-nucleotide cosine similarity between the two outputs: mean,
minimum, and the share of nucleotides below 0.99. Usage (after building the test tools):

    BEND_TEST_TOOLS=build/tests tools/rules_effect.py
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DATA = os.path.join(ROOT, "tests", "data")
TOK = os.path.join(DATA, "tokenizers")
TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", os.path.join(ROOT, "build", "tests")),
                    "tool_transformer")
SMALL = {"num_hidden_layers": 2, "hidden_size": 48, "num_attention_heads": 4,
         "intermediate_size": 64, "initializer_range": 0.15}
MODELS = {  # name: (registry model, arch, config, tokenizer file)
    "DNABERT-6": ("dnabert", "bert", os.path.join(TOK, "dnabert-6", "config.json"),
                  os.path.join(TOK, "dnabert-6", "vocab.txt")),
    "GENA-LM BERT": ("gena-lm", "bert",
                     os.path.join(DATA, "configs", "gena-lm", "L12-H768-A12-V32k-preln-lastln.json"),
                     os.path.join(TOK, "gena-lm-t2t-32k", "tokenizer.json")),
}
LENGTHS = (512, 1100, 6000)  # BEND's histone / CpG rows (512 bp), one and several chunks
N_ROWS = 20


def chr2():
    with gzip.open(os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz"), "rt") as f:
        return "".join(line.strip() for line in f if not line.startswith(">")).upper()


def run(*args):
    r = subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"tool_transformer {' '.join(map(str, args))}: {r.stderr}")
    return r.stdout


def embed(model, ckpt, seqs, rules, tmp):
    seq_path, out = os.path.join(tmp, "s.txt"), os.path.join(tmp, "o.bin")
    with open(seq_path, "w") as f:
        f.write("".join(s + "\n" for s in seqs))
    dim = int(run("embed", model, ckpt, seq_path, out, "--batch", "--rules", rules).split()[1])
    flat, rows, off = np.fromfile(out, dtype="<f4"), [], 0
    for s in seqs:
        rows.append(flat[off:off + len(s) * dim].reshape(len(s), dim))
        off += len(s) * dim
    return rows


def main():
    genome = chr2()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, arch, config, tok_file) in MODELS.items():
            ckpt = os.path.join(tmp, model)
            run("init", arch, ckpt, 7, config, *[f"{k}={json.dumps(v)}" for k, v in SMALL.items()],
                "--file", f"{os.path.basename(tok_file)}={tok_file}")
            for n in LENGTHS:
                starts = rng.integers(20000, len(genome) - n, N_ROWS)
                seqs = [genome[s:s + n] for s in starts if "N" not in genome[s:s + n]]
                a = np.concatenate(embed(model, ckpt, seqs, "bend", tmp))
                b = np.concatenate(embed(model, ckpt, seqs, "corrected", tmp))
                cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
                print(f"{name:13s} {n:5d} bp x {len(seqs)}: cosine(bend, corrected) per nt "
                      f"mean {cos.mean():.4f}, min {cos.min():.4f}, "
                      f"{100 * (cos < 0.99).mean():.1f}% below 0.99, "
                      f"{100 * (cos < 0.999999).mean():.1f}% differ")


if __name__ == "__main__":
    main()
