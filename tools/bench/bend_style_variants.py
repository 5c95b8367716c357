#!/usr/bin/python3
"""The BEND-style variant-effect peer: scripts/predict_variant_effects.py's loop with the ResNet LM
of bend_style_resnetlm.py (python3-torch, batch size 1 as BEND's embedders run). Per variant: pysam
fetch of [start - 256, end + 256), the alt base at the centre, both sequences embedded one at a
time, scipy.spatial.distance.cosine(alt[256], ref[256]).

Usage: /usr/bin/python3 tools/bench/bend_style_variants.py --checkpoint DIR --bed VARIANTS.bed
       --genome FA --threads T [--rows N] [--out SCORES.tsv]
Prints one line ending in variants_per_s=...
"""
import argparse
import time

import pysam
import torch
from scipy.spatial import distance

from bend_style_resnetlm import ResNetLM


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--bed", required=True)
    ap.add_argument("--genome", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=0, help="only the first N rows (0: all)")
    ap.add_argument("--out", help="write row\\tcosine lines here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    model = ResNetLM(args.checkpoint)
    fasta = pysam.FastaFile(args.genome)
    lines = open(args.bed).read().splitlines()
    header = lines[0].split("\t")
    alt_col = header.index("alt")
    rows = [l.split("\t") for l in lines[1:] if l.strip()]
    if args.rows:
        rows = rows[:args.rows]
    out = []
    for i, r in enumerate(rows):
        start, end = int(r[1]) - 256, int(r[2]) + 256
        dna = fasta.fetch(r[0], start, end).upper()
        alt = list(dna)
        alt[len(alt) // 2] = r[alt_col]
        e_ref = model.forward(model.tokenize(dna)).numpy()
        e_alt = model.forward(model.tokenize("".join(alt))).numpy()
        out.append("%d\t%.10g\n" % (i, distance.cosine(e_alt[256], e_ref[256])))
    wall = time.time() - t0
    if args.out:
        with open(args.out, "w") as f:
            f.writelines(out)
    print("bend_style_variants: %d variants, batch size 1, %d threads in %.3f s: variants_per_s=%.2f"
          % (len(rows), args.threads, wall, len(rows) / wall))


if __name__ == "__main__":
    main()
