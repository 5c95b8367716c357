"""GPN in bend: `bend model init --arch gpn` (the real gpn-brassicales config, shrunk; GPNConfig
convnet variants), then `bend embed`, `bend genome` and `bend variants --model gpn` on real hg38
sequence (samtools faidx; a - strand row; the leading N run) against gpn_reference.py, an
independent python3-torch model written from songlab-cal/gpn's published architecture: hidden
states, masked-LM logits and per-token loss within 1e-4.
"""
import csv
import json
import os
import sys
import unittest

import numpy as np
from scipy.spatial import distance

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "app"))
import bendtest as bt  # noqa: E402
from gpn_reference import GpnReference, tokenize  # noqa: E402
from test_resnetlm_reference import read_safetensors  # noqa: E402

GENOME = os.path.join(bt.TEST_DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
BRASSICALES = os.path.join(bt.TEST_DATA, "configs", "gpn-brassicales", "config.json")
LEGACY_SET = ["--set", "n_layers=4", "--set", "hidden_size=32", "--set", "initializer_range=0.15",
              "--set", "dilation_max=4", "--set", "kernel_size=5"]
# GPNConfig (gpn/model.py) with its defaults, shrunk; the second variant turns on what the
# first leaves off (biases, an embedding table, depthwise convolutions, no head transform).
GPN_PLAIN = {"model_type": "GPN", "vocab_size": 7, "hidden_size": 24, "num_hidden_layers": 4,
             "intermediate_size": 40, "initializer_range": 0.15, "dilation_cycle": 3}
GPN_RICH = dict(GPN_PLAIN, bias=True, embedding="embedding", depthwise=True,
                mlm_head_transform=False, first_kernel_size=7, rest_kernel_size=4)
ROWS = [("chr2", 9900, 10300, "+"), ("chr2", 40000, 41500, "-"), ("chr2", 52000, 52077, "+")]


def write_bed(path, rows):
    with open(path, "w") as f:
        f.write("chromosome\tstart\tend\tstrand\tsplit\n")
        f.writelines(f"{c}\t{s}\t{e}\t{st}\ttrain\n" for c, s, e, st in rows)
    return path


class Gpn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir("bend-gpn-")
        cls.ckpts = {"legacy": os.path.join(cls.work, "legacy")}
        bt.bend(["model", "init", "--arch", "gpn", "--config", BRASSICALES, "--out",
                 cls.ckpts["legacy"], "--seed", "4", *LEGACY_SET])
        for name, cfg in (("plain", GPN_PLAIN), ("rich", GPN_RICH)):
            path = os.path.join(cls.work, name + ".json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            cls.ckpts[name] = os.path.join(cls.work, name)
            bt.bend(["model", "init", "--arch", "gpn", "--config", path, "--out", cls.ckpts[name],
                     "--seed", "9"])
        cls.bed = write_bed(os.path.join(cls.work, "rows.bed"), ROWS)
        cls.seqs = [bt.samtools_seq(GENOME, c, s, e, st == "-") for c, s, e, st in ROWS]

    def embed(self, ckpt, out_name, *extra):
        out = os.path.join(self.work, out_name)
        bt.bend(["embed", "--bed", self.bed, "--genome", GENOME, "--read-strand", "--model", "gpn",
                 "--checkpoint", ckpt, "--out", out, "--batch-nt", "3000", *extra])
        return bt.read_shard_dir(out)

    def test_init_writes_the_real_config_hf_names_and_is_seeded(self):
        with open(BRASSICALES) as f:
            want = dict(json.load(f), n_layers=4, hidden_size=32, initializer_range=0.15,
                        dilation_max=4, kernel_size=5)
        with open(os.path.join(self.ckpts["legacy"], "config.json")) as f:
            self.assertEqual(json.load(f), want)
        w = read_safetensors(os.path.join(self.ckpts["legacy"], "model.safetensors"))
        self.assertEqual(w["model.encoder.3.conv.1.weight"].shape, (32, 32, 5))
        self.assertEqual(w["cls.decoder.3.weight"].shape, (7, 32))
        self.assertEqual(len(w), 4 * 8 + 6)
        g = read_safetensors(os.path.join(self.ckpts["rich"], "model.safetensors"))
        self.assertEqual(g["model.encoder.layer.1.conv.2.weight"].shape, (24, 1, 4))  # depthwise
        self.assertEqual(g["model.encoder.layer.0.conv.2.weight"].shape, (24, 24, 7))
        self.assertIn("model.embeddings.word_embeddings.weight", g)
        self.assertNotIn("model.ln_f.bias", read_safetensors(
            os.path.join(self.ckpts["plain"], "model.safetensors")))  # bias=False: no LN bias
        again = os.path.join(self.work, "again")
        bt.bend(["model", "init", "--arch", "gpn", "--config", BRASSICALES, "--out", again,
                 "--seed", "4", *LEGACY_SET])
        self.assertEqual(bt.read_bytes(os.path.join(again, "model.safetensors")),
                         bt.read_bytes(os.path.join(self.ckpts["legacy"], "model.safetensors")))
        with open(os.path.join(again, "tokenizer.json")) as f:
            self.assertEqual(json.load(f)["model"]["vocab"],
                             {"[PAD]": 0, "[MASK]": 1, "[UNK]": 2, "a": 3, "c": 4, "g": 5, "t": 6})

    def test_embed_hidden_logits_and_loss_equal_the_reference(self):
        for name, ckpt in self.ckpts.items():
            model = GpnReference(ckpt)
            for output in ("hidden", "logits", "loss"):
                recs = self.embed(ckpt, f"emb_{name}_{output}", "--output", output)
                worst = 0.0
                for i, seq in enumerate(self.seqs):
                    ids = tokenize(seq)
                    want = getattr(model, output)(ids).reshape(len(seq), -1)
                    got = recs[i]["inputs"]
                    self.assertEqual(got.shape, want.shape, (name, output))
                    worst = max(worst, float(np.abs(got - want).max()))
                print(f"  gpn {name} --output {output}: max |bend - reference| = {worst:.2e}")
                self.assertLessEqual(worst, 1e-4, (name, output))

    def test_genome_windows_equal_the_reference(self):
        bed = os.path.join(self.work, "regions.bed")
        with open(bed, "w") as f:
            f.write("chr2\t9500\t12500\nchr2\t300000\t302000\n")
        out = os.path.join(self.work, "genome")
        bt.bend(["genome", "--genome", GENOME, "--regions", bed, "--window", "1000", "--model", "gpn",
                 "--checkpoint", self.ckpts["plain"], "--out", out, "--shard-windows", "3"],
                np_ranks=2)
        model = GpnReference(self.ckpts["plain"])
        n = 0
        for name in sorted(os.listdir(out)):
            if ".tfrecord" not in name or ".tmp" in name:
                continue
            for data in bt.read_tfrecord(os.path.join(out, name)):
                ex = bt.example_pb2().Example()
                ex.ParseFromString(data)
                f = ex.features.feature
                s, e = f["start"].int64_list.value[0], f["end"].int64_list.value[0]
                want = model.hidden(tokenize(bt.samtools_seq(GENOME, "chr2", s, e, False)))
                got = bt.parse_record(data)["inputs"]
                self.assertLessEqual(float(np.abs(got - want).max()), 1e-4, (s, e))
                n += 1
        self.assertGreaterEqual(n, 3)

    def test_variants_cosine_equals_the_reference_at_the_variant(self):
        rows = [("chr2", 30000 + 997 * k) for k in range(6)]
        refs = [bt.samtools_seq(GENOME, c, p, p + 1, False) for c, p in rows]
        path = os.path.join(self.work, "variants.bed")
        with open(path, "w") as f:
            f.write("chromosome\tstart\tend\tref\talt\tlabel\n")
            for (c, p), r, k in zip(rows, refs, range(6)):
                f.write(f"{c}\t{p}\t{p + 1}\t{r}\t{'C' if r != 'C' else 'G'}\t{k % 2}\n")
        out = os.path.join(self.work, "variants")
        bt.bend(["variants", "--bed", path, "--genome", GENOME, "--model", "gpn", "--checkpoint",
                 self.ckpts["legacy"], "--out", out, "--score", "cosine", "--bootstrap", "10"])
        with open(os.path.join(out, "scores.tsv")) as f:
            table = list(csv.DictReader(f, delimiter="\t"))
        model = GpnReference(self.ckpts["legacy"])
        for (c, p), r, got in zip(rows, refs, table):
            ref = bt.samtools_seq(GENOME, c, p - 256, p + 257, False)  # BEND: 256 bp each side
            alt = ref[:256] + ("C" if r != "C" else "G") + ref[257:]
            e_ref, e_alt = model.hidden(tokenize(ref)), model.hidden(tokenize(alt))
            want = distance.cosine(e_alt[256].astype(np.float64), e_ref[256].astype(np.float64))
            self.assertAlmostEqual(float(got["cosine"]), want, delta=1e-5 + 1e-4 * want)

    def test_models_lists_gpn_and_bad_configs_are_refused(self):
        out = bt.bend(["models"]).stdout
        self.assertIn("\ngpn ", "\n" + out)
        path = os.path.join(self.work, "roformer.json")
        with open(path, "w") as f:
            json.dump(dict(GPN_PLAIN, encoder="roformer"), f)
        r = bt.bend(["model", "init", "--arch", "gpn", "--config", path, "--out",
                     os.path.join(self.work, "x")], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("roformer", r.stderr)
        r = bt.bend(["model", "init", "--arch", "gpn", "--out", os.path.join(self.work, "y")],
                    check=False)
        self.assertIn("needs --config", r.stderr)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
