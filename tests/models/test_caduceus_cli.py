"""Caduceus through the command line: `bend model init --arch caduceus`, `bend models`, and the
vectors that `bend embed`, `bend genome` and `bend variants` compute from the real hg38 chr2
excerpt, each against the independent PyTorch reference (caduceus_reference.py) on the sequence
samtools extracts. Variants follow BEND's predict_variant_effects.py for a bidirectional model:
the variant extended by 256 bp on each side, the alt in the centre, cosine at index 256.
"""
import json
import os
import sys
import unittest

import numpy as np
import torch
from scipy.spatial import distance

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "app"))
sys.path.insert(0, HERE)
import bendtest as bt  # noqa: E402
from caduceus_reference import CaduceusReference  # noqa: E402
from causal_lm_reference import read_safetensors  # noqa: E402

GENOME = os.path.join(bt.TEST_DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
PS = os.path.join(HERE, "configs", "caduceus-ps.json")


class CaduceusCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.d = bt.tmpdir()
        cls.ckpt = os.path.join(cls.d, "ps")
        p = bt.bend(["model", "init", "--arch", "caduceus", "--config", PS, "--out", cls.ckpt, "--seed", "4",
                     "--set", "d_model=16", "--set", "n_layer=2", "--initializer-range", "0.1"])
        assert "caduceus: PS (rcps), d_model 16, n_layer 2" in p.stdout, p.stdout
        with open(os.path.join(cls.ckpt, "config.json")) as f:
            cls.cfg = json.load(f)
        cls.ref = CaduceusReference(cls.cfg, read_safetensors(os.path.join(cls.ckpt, "model.safetensors")))

    def test_models_lists_caduceus_and_init_needs_a_config(self):
        out = bt.bend(["models"]).stdout
        lines = out[out.index("\ncaduceus ") + 1:].splitlines()
        block = "\n".join([lines[0]] + [x for x in lines[1:5] if x.startswith("  ")])
        self.assertIn("causal: no", block)
        self.assertIn("--output: hidden, logits, loss", block)
        self.assertIn("pieces of 131072 bp", block)
        r = bt.bend(["model", "init", "--arch", "caduceus", "--out", os.path.join(self.d, "x")], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("needs --config", r.stderr)
        self.assertAlmostEqual(self.cfg["initializer_range"], 0.1)

    def test_embed_bed_rows_both_strands(self):
        rows = [("chr2", 9900, 10300, "+"), ("chr2", 40000, 41500, "-"), ("chr2", 52000, 52077, "+")]
        bed = os.path.join(self.d, "t.bed")
        with open(bed, "w") as f:
            f.write("chromosome\tstart\tend\tstrand\tsplit\n")
            f.writelines(f"{c}\t{s}\t{e}\t{st}\ttrain\n" for c, s, e, st in rows)
        out = os.path.join(self.d, "embed")
        bt.bend(["embed", "--bed", bed, "--genome", GENOME, "--read-strand", "--model", "caduceus",
                 "--checkpoint", self.ckpt, "--out", out, "--batch-nt", "4096"], np_ranks=2)
        recs = bt.read_shard_dir(out)
        for i, (c, s, e, st) in enumerate(rows):
            want = self.ref.embed(bt.samtools_seq(GENOME, c, s, e, st == "-"))
            got = recs[i]["inputs"]
            self.assertEqual(got.shape, (e - s, 32))
            self.assertLessEqual(float(np.abs(want - got).max()), 1e-4)

    def test_genome_windows(self):
        bed = os.path.join(self.d, "region.bed")
        with open(bed, "w") as f:
            f.write("chr2\t200000\t202500\n")
        out = os.path.join(self.d, "genome")
        bt.bend(["genome", "--genome", GENOME, "--regions", bed, "--window", "1000", "--model", "caduceus",
                 "--checkpoint", self.ckpt, "--out", out])
        recs = bt.read_shard_dir(out)  # region "chr2:START-END(.)"
        spans = sorted(tuple(map(int, r["region"][5:-3].split("-"))) for r in recs.values())
        self.assertEqual(spans, [(200000, 201000), (201000, 202000), (202000, 202500)])
        for r in recs.values():
            s, e = map(int, r["region"][5:-3].split("-"))
            want = self.ref.embed(bt.samtools_seq(GENOME, "chr2", s, e, False))
            self.assertLessEqual(float(np.abs(want - r["inputs"]).max()), 1e-4)

    def test_variants_cosine_at_the_centre_of_513_bp(self):
        rows = [("chr2", 123456), ("chr2", 654321), ("chr2", 1500000)]
        refs = [bt.samtools_seq(GENOME, c, p, p + 1, False) for c, p in rows]
        bed = os.path.join(self.d, "variants.bed")
        with open(bed, "w") as f:
            f.write("chromosome\tstart\tend\tref\talt\tlabel\n")
            for (c, p), ref in zip(rows, refs):
                alt = "A" if ref != "A" else "C"
                f.write(f"{c}\t{p}\t{p + 1}\t{ref}\t{alt}\t{p % 2}\n")
        out = os.path.join(self.d, "variants")
        bt.bend(["variants", "--bed", bed, "--genome", GENOME, "--model", "caduceus", "--checkpoint",
                 self.ckpt, "--out", out, "--bootstrap", "10"])
        with open(os.path.join(out, "scores.tsv")) as f:
            table = [line.rstrip("\n").split("\t") for line in f][1:]
        self.assertEqual(json.loads(bt.read_text(os.path.join(out, "manifest.json")))["params"]["window"],
                         [256, 256, 256])
        for (c, p), row in zip(rows, table):
            ref = bt.samtools_seq(GENOME, c, p - 256, p + 257, False)
            alt = ref[:256] + row[4] + ref[257:]
            want = distance.cosine(self.ref.embed(alt)[256], self.ref.embed(ref)[256])
            self.assertAlmostEqual(float(row[-1]), want, delta=1e-5 + 1e-3 * want)
            self.assertGreater(want, 1e-6)


if __name__ == "__main__":
    unittest.main(verbosity=2)
