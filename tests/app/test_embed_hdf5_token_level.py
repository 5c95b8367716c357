"""`--token-level` with `--format hdf5` (seeded small DNABERT-2 / Nucleotide Transformer v1
checkpoints, real chr2 sequence), read with h5py:

- every row's vectors and `token_spans` equal the TFRecord token-level output of the same run
  (embedding bytes, spans), and the vectors repeated over their spans (numpy) equal the default
  (upsampled) HDF5 output byte for byte;
- the offsets count vectors; each shard's checksum covers its embedding bytes, then its spans;
- np 1 and 2 write identical files;
- `bend train` reads the same samples as from TFRecord (tool_dataset) and writes the same results;
- `bend inspect` reports vectors vs positions and names a shard whose spans were corrupted;
- `bend genome --token-level --format hdf5` equals its TFRecord output.
"""
import json
import os
import random
import shutil
import tempfile
import unittest

import h5py
import numpy as np

import bendtest as bt
from test_embed_hdf5 import datasets_and_attrs
from test_token_level import GENOME, SMALL, TOK, TRAIN, make_bed, read_spans, upsample

TOOLS = os.environ.get("BEND_TEST_TOOLS", ".")
SPLITS = ("train", "valid", "test", "odd")


def h5_token_rows(out_dir):
    """{BED row: (vectors [n, dim] float32, flattened spans or None)} of every split file."""
    rows = {}
    for name in sorted(n for n in os.listdir(out_dir) if n.endswith(".h5")):
        with h5py.File(os.path.join(out_dir, name), "r") as f:
            off = f["offsets"][:]
            spans = f["token_spans"][:] if "token_spans" in f else None
            emb = f["embeddings"][:]
            for i, idx in enumerate(f["index"][:]):
                sp = None if spans is None else spans[off[i]:off[i + 1]].ravel().tolist()
                rows[int(idx)] = (emb[off[i]:off[i + 1]], sp)
    return rows


class EmbedHdf5TokenLevel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="bend-h5-token-")
        cls.work = cls.tmp.name
        cls.bed = os.path.join(cls.work, "task.bed")
        cls.rows = make_bed(cls.bed, random.Random(4))
        cls.seqs = [bt.samtools_seq(GENOME, c, s, e, st == "-") for c, s, e, st, _, _ in cls.rows]
        cls.ckpt = {}
        for name, args in (("nt", ["--config", os.path.join(bt.SOURCE_DIR, "tests", "models", "configs",
                                                             "nt-v1-small.json")]),
                           ("dnabert2", ["--config", os.path.join(TOK, "dnabert2", "config.json"),
                                         "--tokenizer", os.path.join(TOK, "dnabert2")])):
            cls.ckpt[name] = os.path.join(cls.work, "ckpt-" + name)
            bt.bend(["model", "init", "--arch", name, "--out", cls.ckpt[name], *SMALL, *args])
        cls.out = {}
        for fmt, mode, np_ranks in (("tfrecord", "token", 1), ("hdf5", "token", 2), ("hdf5", "default", 1)):
            cls.out[fmt, mode] = cls.embed(fmt, mode, "%s-%s" % (fmt, mode), np_ranks=np_ranks)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def embed(cls, fmt, mode, out, np_ranks=1):
        path = os.path.join(cls.work, out)
        bt.bend(["embed", "--bed", cls.bed, "--genome", GENOME, "--read-strand", "--label-depth", "3",
                 "--model", "dnabert2", "--checkpoint", cls.ckpt["dnabert2"], "--out", path, "--shard-rows", "16",
                 "--batch-nt", "2048", "--format", fmt] + (["--token-level"] if mode == "token" else []),
                np_ranks=np_ranks)
        return path

    def test_rows_equal_tfrecord_and_upsample_to_the_default_file(self):
        tf = bt.read_shard_dir(self.out["tfrecord", "token"])
        tf_spans = read_spans(self.out["tfrecord", "token"])
        token, default = h5_token_rows(self.out["hdf5", "token"]), h5_token_rows(self.out["hdf5", "default"])
        self.assertEqual(sorted(token), list(range(len(self.rows))))
        self.assertEqual(sorted(default), sorted(token))
        n_shorter = 0
        for i, seq in enumerate(self.seqs):
            x, spans = token[i]
            self.assertEqual(x.tobytes(), tf[i]["inputs"].astype("<f4").tobytes(), i)
            self.assertEqual(spans, tf_spans[i], i)
            self.assertIsNone(default[i][1])
            self.assertEqual(default[i][0].shape, (len(seq), 32))
            self.assertEqual(upsample(x, spans).tobytes(), default[i][0].tobytes(), i)
            n_shorter += x.shape[0] < len(seq)
        self.assertGreater(n_shorter, len(self.rows) // 2, "most rows have fewer vectors than nucleotides")

    def test_offsets_count_vectors_and_shard_checksums_cover_the_spans(self):
        out = self.out["hdf5", "token"]
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertIs(manifest["params"]["token_level"], True)
        for split in SPLITS:
            with h5py.File(os.path.join(out, split + ".h5"), "r") as f:
                self.assertEqual(f.attrs["complete"], 1)
                off, spans = f["offsets"][:], f["token_spans"]
                self.assertEqual(spans.dtype, np.dtype("<i8"))
                self.assertEqual(spans.shape, (off[-1], 2))
                self.assertEqual(f["embeddings"].shape[0], off[-1])
                entries = sorted((s for s in manifest["shards"] if s["file"] == split + ".h5"),
                                 key=lambda s: s["shard"])
                for k, e in enumerate(entries):
                    lo, hi = off[k * 16], off[min(len(off) - 1, (k + 1) * 16)]
                    blob = f["embeddings"][lo:hi].tobytes() + spans[lo:hi].tobytes()
                    self.assertEqual(bt.crc32c(blob), int(e["crc32c"], 16), (split, k))
                    self.assertEqual(int(f["shard_crc32c"][k]), int(e["crc32c"], 16))
                    self.assertEqual(e["bytes"], len(blob))

    def test_np_1_and_2_write_identical_files(self):
        out = self.embed("hdf5", "token", "hdf5-token-np1")
        for split in SPLITS:
            a, b = os.path.join(out, split + ".h5"), os.path.join(self.out["hdf5", "token"], split + ".h5")
            self.assertEqual(datasets_and_attrs(a), datasets_and_attrs(b), split)
            self.assertEqual(bt.read_bytes(a), bt.read_bytes(b), split)

    def test_train_reads_the_same_samples_and_writes_the_same_results(self):
        dumps = []
        for fmt in ("tfrecord", "hdf5"):
            d = os.path.join(self.work, "dump-" + fmt)
            os.makedirs(d)
            bt.run([os.path.join(TOOLS, "tool_dataset"), "dump", self.out[fmt, "token"], ",".join(SPLITS), "seq", d])
            reads = [json.loads(l) for l in bt.read_text(os.path.join(d, "records.jsonl")).splitlines()]
            dumps.append((bt.read_bytes(os.path.join(d, "inputs.f32")), [(r["index"], r["length"]) for r in reads]))
        self.assertEqual(sorted(dumps[0][1]), sorted((i, len(s)) for i, s in enumerate(self.seqs)))
        self.assertEqual(dumps[1], dumps[0])
        results = []
        for fmt in ("tfrecord", "hdf5"):
            res = os.path.join(self.work, "train-" + fmt)
            bt.bend(["train", "--data", self.out[fmt, "token"], "--out", res] + TRAIN)
            results.append([bt.read_bytes(os.path.join(res, f)) for f in ("losses.csv", "best_model_metrics.csv")])
        self.assertEqual(len(results[0][0].splitlines()), 4)
        self.assertEqual(results[1], results[0])

    def test_inspect_reports_positions_and_names_a_shard_with_corrupt_spans(self):
        out = self.out["hdf5", "token"]
        p = bt.bend(["inspect", "--json", out])
        summaries = [json.loads(l) for l in p.stdout.splitlines()]
        token = h5_token_rows(out)
        self.assertEqual(sum(s["positions"] for s in summaries), sum(len(s) for s in self.seqs))
        self.assertEqual(sum(s["vectors"] for s in summaries), sum(x.shape[0] for x, _ in token.values()))
        self.assertEqual(sum(s["token_level_records"] for s in summaries), len(self.rows))
        bad = os.path.join(self.work, "corrupt")
        shutil.copytree(out, bad)
        with h5py.File(os.path.join(bad, "train.h5"), "r+") as f:
            off = f["offsets"][:]
            f["token_spans"][off[20], 1] += 1  # a span of row 20: shard 1
        p = bt.bend(["inspect", bad], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("train.h5: shard 1", p.stderr)
        self.assertIn("corrupt", p.stderr)

    def test_genome_token_level_hdf5_equals_its_tfrecord_output(self):
        regions = os.path.join(self.work, "regions.bed")
        with open(regions, "w") as f:
            f.write("chr2\t9000\t11000\nchr2\t50000\t51234\n")
        outs = {}
        for fmt in ("tfrecord", "hdf5"):
            outs[fmt] = os.path.join(self.work, "genome-" + fmt)
            bt.bend(["genome", "--genome", GENOME, "--regions", regions, "--window", "500", "--max-n", "1",
                     "--shard-windows", "3", "--model", "nt", "--checkpoint", self.ckpt["nt"], "--out", outs[fmt],
                     "--token-level", "--format", fmt], np_ranks=2 if fmt == "hdf5" else 1)
        tf, spans = bt.read_shard_dir(outs["tfrecord"]), read_spans(outs["tfrecord"])
        with h5py.File(os.path.join(outs["hdf5"], "genome.h5"), "r") as f:
            off, idx = f["offsets"][:], f["index"][:]
            self.assertEqual(sorted(idx.tolist()), sorted(tf))
            self.assertEqual(len(idx), 7)  # 4 + 3 windows of one sequence: shards of 3, 3, 1 rows
            self.assertNotIn("shard_offsets", f)
            for i, w in enumerate(idx):
                self.assertEqual(f["embeddings"][off[i]:off[i + 1]].tobytes(), tf[w]["inputs"].tobytes(), w)
                self.assertEqual(f["token_spans"][off[i]:off[i + 1]].ravel().tolist(), spans[w], w)
        bt.bend(["inspect", outs["hdf5"]])


if __name__ == "__main__":
    unittest.main()
