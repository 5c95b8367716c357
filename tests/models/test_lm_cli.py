"""`bend model init --arch dnabert|nt|dnabert2|gena-lm` and `bend embed` with those models.

init: config.json is the given real config with exactly the requested keys replaced; the
weights carry the Hugging Face names of the masked-LM checkpoint (parsed here with json +
numpy); the same seed gives the same bytes; bad requests are refused, naming what is wrong,
and leave nothing behind. embed: `bend embed --model gena-lm` on real sequence (samtools
faidx, a - strand row, a run of N) stores, per row, the python3-torch reference of every model
input with each token's vector repeated (<= 1e-4).
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "app"))
import bendtest as bt  # noqa: E402
import transformer_reference as ref  # noqa: E402
from test_resnetlm_reference import read_safetensors  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")  # tests/data: real test data
TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_transformer")
TOK = os.path.join(DATA, "tokenizers")
GENA_CONFIG = os.path.join(DATA, "configs", "gena-lm", "L12-H768-A12-V32k-preln-lastln.json")
GENOME = os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
SMALL = ["--n-layers", "2", "--hidden-size", "32", "--set", "num_attention_heads=4",
         "--set", "intermediate_size=48", "--set", "initializer_range=0.15"]


def load_json(path):
    with open(path) as f:
        return json.load(f)


class LmCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def init(self, out, *args, ok=True):
        r = bt.bend(["model", "init", "--out", os.path.join(self.d, out), *args], check=False)
        if ok:
            self.assertEqual(r.returncode, 0, r.stderr)
        else:
            self.assertNotEqual(r.returncode, 0)
            self.assertFalse(os.path.exists(os.path.join(self.d, out)))
        return r

    def test_config_is_the_real_one_with_only_the_requested_keys_replaced(self):
        cases = [("dnabert", os.path.join(TOK, "dnabert-6", "config.json"), []),
                 ("gena-lm", GENA_CONFIG, ["--tokenizer", os.path.join(TOK, "gena-lm-t2t-32k")]),
                 ("dnabert2", os.path.join(TOK, "dnabert2", "config.json"),
                  ["--tokenizer", os.path.join(TOK, "dnabert2")]),
                 ("nt", os.path.join(HERE, "configs", "nt-v1-small.json"), [])]
        for arch, config, extra in cases:
            r = self.init(arch, "--arch", arch, "--config", config, *SMALL, *extra)
            self.assertIn(f"({arch}: ", r.stdout)
            got = load_json(os.path.join(self.d, arch, "config.json"))
            want = dict(load_json(config), num_hidden_layers=2, hidden_size=32,
                        num_attention_heads=4, intermediate_size=48, initializer_range=0.15)
            self.assertEqual(got, want, arch)
            w = read_safetensors(os.path.join(self.d, arch, "model.safetensors"))
            prefix = "esm." if arch == "nt" else "bert."
            head = "lm_head." if arch == "nt" else "cls.predictions."  # the masked-LM head
            self.assertTrue(all(k.startswith(prefix) or k.startswith(head) for k in w), arch)
            self.assertTrue(any(k.startswith(head) for k in w), arch)
            self.assertEqual(w[prefix + "embeddings.word_embeddings.weight"].shape,
                             (want["vocab_size"], 32))
        files = sorted(os.listdir(os.path.join(self.d, "dnabert")))
        self.assertEqual(files, ["config.json", "model.safetensors", "vocab.txt"])
        with open(os.path.join(self.d, "dnabert", "vocab.txt")) as a, \
                open(os.path.join(TOK, "dnabert-6", "vocab.txt")) as b:
            self.assertEqual(a.read().split(), b.read().split())  # generated = published
        g = read_safetensors(os.path.join(self.d, "gena-lm", "model.safetensors"))
        self.assertIn("bert.encoder.layer.1.pre_attention_ln.weight", g)
        self.assertIn("bert.encoder.last_layer_ln.bias", g)
        self.assertNotIn("bert.encoder.layer.1.output.LayerNorm.weight", g)
        m = read_safetensors(os.path.join(self.d, "dnabert2", "model.safetensors"))
        self.assertEqual(m["bert.encoder.layer.0.mlp.gated_layers.weight"].shape, (96, 32))

    def test_same_seed_same_bytes(self):
        args = ["--arch", "nt", "--config", os.path.join(HERE, "configs", "nt-v2-small.json")]
        self.init("a", *args, "--seed", "5")
        self.init("b", *args, "--seed", "5")
        data = [bt.read_bytes(os.path.join(self.d, x, "model.safetensors")) for x in "ab"]
        self.assertEqual(data[0], data[1])
        self.assertIn(b'"bend_seed":"5"', data[0][:data[0].index(b"}}") + 2].replace(b" ", b""))

    def test_refusals(self):
        r = self.init("x", "--arch", "gena-lm", "--config", GENA_CONFIG, ok=False)
        self.assertIn("needs --tokenizer", r.stderr)
        r = self.init("x", "--arch", "dnabert2", "--config", os.path.join(TOK, "dnabert2", "config.json"),
                      "--tokenizer", os.path.join(TOK, "gena-lm-t2t-32k"), ok=False)
        self.assertIn("vocab_size 4096 is too small for the tokenizer", r.stderr)
        r = self.init("x", "--arch", "nt", "--config", os.path.join(HERE, "configs", "nt-v2-small.json"),
                      "--kernel-size", "3", ok=False)
        self.assertIn("--kernel-size does not apply to --arch nt", r.stderr)
        r = self.init("x", "--arch", "dnabert", "--config", GENA_CONFIG, ok=False)
        self.assertIn("vocab_size 32000 is not 4^k + 5", r.stderr)
        r = self.init("x", "--arch", "dnabert", ok=False)
        self.assertIn("needs --config", r.stderr)

    def test_models_lists_the_transformers(self):
        out = bt.bend(["models"]).stdout
        for name in ["dnabert", "nt", "dnabert2", "gena-lm"]:
            self.assertIn("\n" + name + " ", "\n" + out)

    def test_embed_gena_lm_matches_the_reference(self):
        ckpt = os.path.join(self.d, "gena")
        self.init("gena", "--arch", "gena-lm", "--config", GENA_CONFIG, *SMALL,
                  "--tokenizer", os.path.join(TOK, "gena-lm-t2t-32k"))
        rows = [("chr2", 9900, 10300, "+"), ("chr2", 40000, 45000, "-"),
                ("chr2", 52000, 52077, "+")]
        bed = os.path.join(self.d, "t.bed")
        with open(bed, "w") as f:
            f.write("chromosome\tstart\tend\tstrand\tsplit\n")
            f.writelines(f"{c}\t{s}\t{e}\t{st}\ttrain\n" for c, s, e, st in rows)
        out = os.path.join(self.d, "out")
        bt.bend(["embed", "--bed", bed, "--genome", GENOME, "--read-strand", "--model", "gena-lm",
                 "--checkpoint", ckpt, "--out", out, "--batch-nt", "4096"])
        recs = bt.read_shard_dir(out)
        seqs = [bt.samtools_seq(GENOME, c, s, e, st == "-") for c, s, e, st in rows]
        seq_path = os.path.join(self.d, "seqs.txt")
        with open(seq_path, "w") as f:
            f.write("".join(s + "\n" for s in seqs))
        tok_path = os.path.join(self.d, "tokens.txt")
        r = subprocess.run([TOOL, "embed", "gena-lm", ckpt, seq_path, os.path.join(self.d, "x.bin"),
                            "--tokens", tok_path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        model = ref.reference("bert", ckpt, load_json(os.path.join(ckpt, "config.json")))
        with open(tok_path) as f:
            packed = [list(map(int, line.split())) for line in f]
        worst = 0.0
        for i, (s, p) in enumerate(zip(seqs, packed)):
            n_chunks, pos, states = p[0], 1, []
            for _ in range(n_chunks):
                states.append(model(p[pos + 1:pos + 1 + p[pos]]))
                pos += 1 + p[pos]
            want = np.repeat(np.concatenate(states), p[pos:], axis=0)
            got = recs[i]["inputs"]
            self.assertEqual(got.shape, (len(s), 32))
            worst = max(worst, float(np.abs(want - got).max()))
        print(f"  bend embed --model gena-lm: max |stored - reference| = {worst:.2e}")
        self.assertLessEqual(worst, 1e-4)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
