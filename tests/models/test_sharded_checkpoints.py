"""Sharded checkpoints (model.safetensors.index.json + model-0000K-of-0000N.safetensors, as the
2.5B Nucleotide Transformers ship): for every model family bend loads from safetensors, a seeded
checkpoint split by tools/shard_safetensors.py (standard-library Python writing the format by
hand) gives exactly the vectors of the unsplit checkpoint in `bend embed`; the shards really are
what bend read (the unsplit file is gone); a missing shard, a tensor listed in the index but
absent from its shard and a tensor in two shards fail with exit 1 naming the file.
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "app"))
import bendtest as bt  # noqa: E402

GENOME = os.path.join(bt.TEST_DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
TOK = os.path.join(bt.TEST_DATA, "tokenizers")
CFG = os.path.join(bt.TEST_DATA, "configs")
SPLITTER = os.path.join(bt.SOURCE_DIR, "tools", "shard_safetensors.py")
SMALL_BERT = ["--n-layers", "2", "--hidden-size", "32", "--set", "num_attention_heads=4",
              "--set", "intermediate_size=48"]
FAMILIES = {  # registry name -> `bend model init` arguments
    "resnetlm": ["--arch", "resnetlm", "--hidden-size", "16", "--n-layers", "3"],
    "awdlstm": ["--arch", "awdlstm", "--set", "input_size=8", "--set", "hidden_size=12",
                "--set", "num_hidden_layers=2"],
    "hyenadna": ["--arch", "hyenadna", "--config", os.path.join(CFG, "hyenadna-tiny-1k", "config.json")],
    "dnabert": ["--arch", "dnabert", "--config", os.path.join(TOK, "dnabert-6", "config.json"), *SMALL_BERT],
    "nt": ["--arch", "nt", "--config", os.path.join(HERE, "configs", "nt-v2-small.json")],
    "dnabert2": ["--arch", "dnabert2", "--config", os.path.join(TOK, "dnabert2", "config.json"),
                 "--tokenizer", os.path.join(TOK, "dnabert2"), *SMALL_BERT],
    "gena-lm": ["--arch", "gena-lm", "--config",
                os.path.join(CFG, "gena-lm", "L12-H768-A12-V32k-preln-lastln.json"),
                "--tokenizer", os.path.join(TOK, "gena-lm-t2t-32k"), *SMALL_BERT],
    "gpn": ["--arch", "gpn", "--config", os.path.join(CFG, "gpn-brassicales", "config.json"),
            "--set", "n_layers=3", "--set", "hidden_size=16"],
    "caduceus": ["--arch", "caduceus", "--config", os.path.join(HERE, "configs", "caduceus-ps.json"),
                 "--set", "n_layer=2", "--set", "d_model=16"],
}


def split(ckpt, out, n):
    """A copy of `ckpt` whose model.safetensors is replaced by n shards and an index."""
    shutil.copytree(ckpt, out)
    os.remove(os.path.join(out, "model.safetensors"))
    bt.run([sys.executable, SPLITTER, os.path.join(ckpt, "model.safetensors"), out, str(n)])
    return out


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


class Sharded(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir("bend-shards-")
        vocab = os.path.join(cls.work, "grover-vocab")  # a greedy-match vocab.txt (test_grover)
        os.makedirs(vocab)
        v = json.load(open(os.path.join(TOK, "dnabert2", "tokenizer.json")))["model"]["vocab"]
        with open(os.path.join(vocab, "vocab.txt"), "w") as f:
            f.writelines(t + "\n" for t in sorted(v, key=v.get))
        FAMILIES["grover"] = ["--arch", "grover", "--config", os.path.join(TOK, "dnabert-6", "config.json"),
                              "--tokenizer", vocab, "--vocab-size", "4096", *SMALL_BERT]
        cls.bed = os.path.join(cls.work, "rows.bed")
        with open(cls.bed, "w") as f:
            f.write("chromosome\tstart\tend\tstrand\tsplit\n"
                    "chr2\t9800\t10700\t+\ttrain\nchr2\t50000\t51200\t-\ttrain\n")

    def embed(self, model, ckpt, name, *extra):
        out = os.path.join(self.work, name)
        bt.bend(["embed", "--bed", self.bed, "--genome", GENOME, "--read-strand", "--model", model,
                 "--checkpoint", ckpt, "--out", out, *extra])
        return bt.read_shard_dir(out)

    def test_every_family_gives_identical_vectors_from_shards(self):
        for model, args in FAMILIES.items():
            ckpt = os.path.join(self.work, model)
            bt.bend(["model", "init", "--out", ckpt, "--seed", "2", *args])
            n = 3
            sharded = split(ckpt, os.path.join(self.work, model + "-sharded"), n)
            index = json.load(open(os.path.join(sharded, "model.safetensors.index.json")))
            files = sorted(set(index["weight_map"].values()))
            self.assertEqual(files, [f"model-{k:05d}-of-{n:05d}.safetensors" for k in (1, 2, 3)])
            self.assertEqual(sum(len(header(os.path.join(sharded, f))) - 1 for f in files),
                             len(header(os.path.join(ckpt, "model.safetensors"))) - 1)
            a = self.embed(model, ckpt, model + "-one")
            b = self.embed(model, sharded, model + "-three")
            self.assertEqual(sorted(a), sorted(b), model)
            for i in a:
                np.testing.assert_array_equal(a[i]["inputs"], b[i]["inputs"], model)
            print(f"  {model}: {len(files)} shards, vectors identical")

    def test_the_masked_lm_head_is_read_from_its_shard(self):
        ckpt = os.path.join(self.work, "nt-head")
        bt.bend(["model", "init", "--out", ckpt, "--seed", "5", *FAMILIES["nt"]])
        sharded = split(ckpt, os.path.join(self.work, "nt-head-sharded"), 4)
        index = json.load(open(os.path.join(sharded, "model.safetensors.index.json")))
        self.assertEqual(index["weight_map"]["lm_head.bias"], "model-00004-of-00004.safetensors")
        for output in ("logits", "loss"):
            a = self.embed("nt", ckpt, "nt-one-" + output, "--output", output)
            b = self.embed("nt", sharded, "nt-four-" + output, "--output", output)
            for i in a:
                np.testing.assert_array_equal(a[i]["inputs"], b[i]["inputs"], output)

    def broken(self, name):
        ckpt = os.path.join(self.work, "resnet-" + name)
        bt.bend(["model", "init", "--out", ckpt, "--seed", "1", *FAMILIES["resnetlm"]])
        return split(ckpt, os.path.join(self.work, "resnet-" + name + "-sharded"), 2)

    def fails(self, ckpt, *words):
        r = bt.bend(["embed", "--bed", self.bed, "--genome", GENOME, "--model", "resnetlm",
                     "--checkpoint", ckpt, "--out", os.path.join(ckpt, "out")], check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        for w in words:
            self.assertIn(w, r.stderr)

    def test_a_missing_shard_is_named(self):
        d = self.broken("missing")
        os.remove(os.path.join(d, "model-00002-of-00002.safetensors"))
        self.fails(d, "model-00002-of-00002.safetensors", "is missing", "model.safetensors.index.json")

    def test_a_listed_tensor_absent_from_its_shard_is_named(self):
        d = self.broken("absent")
        path = os.path.join(d, "model.safetensors.index.json")
        index = json.load(open(path))
        index["weight_map"]["model.encoder.9.conv.1.weight"] = "model-00001-of-00002.safetensors"
        json.dump(index, open(path, "w"))
        self.fails(d, "model.encoder.9.conv.1.weight", "model-00001-of-00002.safetensors",
                   "does not hold it")

    def test_a_tensor_in_two_shards_is_named_with_both_files(self):
        d = self.broken("twice")
        first = os.path.join(d, "model-00001-of-00002.safetensors")
        second = os.path.join(d, "model-00002-of-00002.safetensors")
        # rewrite shard 2 with one tensor of shard 1 added (the splitter's writer, by hand)
        sys.path.insert(0, os.path.dirname(SPLITTER))
        import shard_safetensors as ss
        h1, _, d1 = ss.read_safetensors(first)
        h2, meta, d2 = ss.read_safetensors(second)
        name = sorted(h1)[0]
        entries = [(k, v["dtype"], v["shape"], d2[v["data_offsets"][0]:v["data_offsets"][1]])
                   for k, v in h2.items()]
        b, e = h1[name]["data_offsets"]
        entries.append((name, h1[name]["dtype"], h1[name]["shape"], d1[b:e]))
        ss.write_safetensors(second, entries, meta)
        self.fails(d, name, "two shards", first, second)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
