"""`bend embed --token-level` with a 6-mer model (Nucleotide Transformer v1), a BPE model
(DNABERT-2) and overlapping k-mers (DNABERT-6), seeded small checkpoints, real chr2 sequence:

- every stored vector repeated over its stored span (numpy) gives exactly the bytes of the default
  (upsampled) output of the same BED, and the other features are equal;
- the spans equal the tokens' nucleotides computed independently: InstaDeep's 6-mer rule for NT,
  Hugging Face's JavaScript tokenizers (@huggingface/tokenizers) on DNABERT-2's tokenizer.json,
  BEND's edge-repeat rule for DNABERT-6;
- the shards get several times smaller (the ratio is printed);
- `bend train` on both outputs reads the same samples (tool_dataset) and writes identical
  losses.csv and best_model_metrics.csv;
- np 2 writes the same bytes as np 1; a resume with the other setting is refused; `bend inspect`
  reports vectors vs positions; `bend genome --token-level` upsamples to its default output and
  is refused with --reduce.
Records are parsed with python3-protobuf (bendtest), sequences come from samtools.
"""
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import bendtest as bt

DATA = bt.TEST_DATA
TOK = os.path.join(DATA, "tokenizers")
GENOME = os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
HF_JS = os.path.join(bt.SOURCE_DIR, "tests", "tokenize", "hf_tokenize.mjs")
TOOLS = os.environ.get("BEND_TEST_TOOLS", ".")
SMALL = ["--n-layers", "2", "--hidden-size", "32", "--set", "num_attention_heads=4",
         "--set", "intermediate_size=48", "--set", "initializer_range=0.15"]
TRAIN = ["--label-depth", "3", "--criterion", "bce", "--metric", "auroc", "--output-window", "300",
         "--batch-size", "8", "--epochs", "3", "--seed", "3", "--hidden-size", "8"]


def make_bed(path, rng):
    """train/valid/test: 300 bp rows (labels for bend train), some on the - strand, one across the
    end of chr2's leading N run; split "odd": lengths 1..3001 (shorter than a 6-mer, leftovers,
    N runs, all N)."""
    rows = []
    for split, n in (("train", 24), ("valid", 8), ("test", 8)):
        for i in range(n):
            start = 9850 if (split, i) == ("train", 3) else rng.randrange(10000, 2333275 - 300)
            label = ",".join(str(c) for c in range(3) if rng.random() < 0.4)
            rows.append(("chr2", start, start + 300, "-" if i % 3 == 0 else "+", label, split))
    for start, length in ((20000, 1), (20100, 2), (20200, 5), (20300, 6), (20400, 7), (20500, 13),
                          (30000, 777), (9990, 31), (9000, 100), (9400, 1999), (44000, 3001)):
        rows.append(("chr2", start, start + length, "+", "", "odd"))
    with open(path, "w") as f:
        f.write("chromosome\tstart\tend\tstrand\tlabel\tsplit\n")
        f.writelines("\t".join(map(str, r)) + "\n" for r in rows)
    return rows


def nt_token_lengths(seq):
    """InstaDeep's rule: split at N, 6-mers from the left of each run, leftovers and N single."""
    out, i = [], 0
    while i < len(seq):
        if seq[i] == "N":
            out.append(1)
            i += 1
            continue
        j = i
        while j < len(seq) and seq[j] != "N":
            j += 1
        out += [6] * ((j - i) // 6) + [1] * ((j - i) % 6)
        i = j
    return out


def dnabert6_vector_lengths(seq):
    """BEND's DNABERT-6 upsampling as its code does it (`--rules bend`, the default):
    [e0] + E + [e0] + [e_last] x 3, so nucleotide p gets k-mer p - 1; the echo of e0 is a row of
    its own, splitting the last k-mer's nucleotides into 1 + 3."""
    n = len(seq) - 5
    return [2, 1, 3] if n == 1 else [2] + [1] * (n - 2) + [1, 1, 3]


def hf_token_lengths(seqs, tokdir, workdir):
    """Nucleotides of each DNABERT-2 token from Hugging Face's JavaScript tokenizers: special
    tokens dropped, [UNK] (an N) 1 nt, every other token its string."""
    path = os.path.join(workdir, "hf_seqs.txt")
    with open(path, "w") as f:
        f.write("".join(s + "\n" for s in seqs))
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node not found: run tools/install_deps.sh (Debian: nodejs npm)")
    out = bt.run([node, HF_JS, os.path.join(tokdir, "tokenizer.json"),
                  os.path.join(tokdir, "tokenizer_config.json"), path]).stdout.splitlines()
    result = []
    for seq, line in zip(seqs, out):
        toks = [t for t in json.loads(line)["tokens"] if t not in ("[CLS]", "[SEP]")]
        assert "".join("N" if t == "[UNK]" else t for t in toks) == seq, "tokens do not spell the sequence"
        result.append([1 if t == "[UNK]" else len(t) for t in toks])
    assert len(result) == len(seqs)
    return result


def read_spans(out_dir):
    """{BED row: flattened token_spans} of every record (python3-protobuf)."""
    spans = {}
    for name in sorted(os.listdir(out_dir)):
        if ".tfrecord" in name:
            for data in bt.read_tfrecord(os.path.join(out_dir, name)):
                ex = bt.example_pb2().Example()
                ex.ParseFromString(data)
                f = ex.features.feature
                spans[f["index"].int64_list.value[0]] = (list(f["token_spans"].int64_list.value)
                                                         if "token_spans" in f else None)
    return spans


def shard_bytes(out_dir):
    return sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir) if ".tfrecord" in n)


def upsample(x, spans):
    starts, lens = np.array(spans[0::2]), np.array(spans[1::2])
    assert starts[0] == 0 and (starts[1:] == np.cumsum(lens)[:-1]).all() and (lens >= 1).all()
    return np.repeat(x, lens, axis=0)


class TokenLevel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="bend-token-level-")
        cls.work = cls.tmp.name
        cls.bed = os.path.join(cls.work, "task.bed")
        cls.rows = make_bed(cls.bed, random.Random(4))
        cls.seqs = [bt.samtools_seq(GENOME, c, s, e, st == "-") for c, s, e, st, _, _ in cls.rows]
        cls.ckpt = {}
        for name, args in (("nt", ["--config", os.path.join(bt.SOURCE_DIR, "tests", "models", "configs",
                                                             "nt-v1-small.json")]),
                           ("dnabert2", ["--config", os.path.join(TOK, "dnabert2", "config.json"),
                                         "--tokenizer", os.path.join(TOK, "dnabert2")]),
                           ("dnabert", ["--config", os.path.join(TOK, "dnabert-6", "config.json")])):
            cls.ckpt[name] = os.path.join(cls.work, "ckpt-" + name)
            bt.bend(["model", "init", "--arch", name, "--out", cls.ckpt[name], *SMALL, *args])
        # DNABERT refuses sequences shorter than k: not the "odd" split
        cls.embedded = {"nt": list(range(len(cls.rows))), "dnabert2": list(range(len(cls.rows))),
                        "dnabert": [i for i, r in enumerate(cls.rows) if r[5] != "odd"]}
        cls.out = {}
        for name in cls.ckpt:
            extra = ["--splits", "train,valid,test"] if name == "dnabert" else []
            for mode in ("default", "token"):
                cls.out[name, mode] = cls.embed(name, mode, "%s-%s" % (name, mode), extra=extra)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def embed(cls, name, mode, out, np_ranks=1, check=True, extra=()):
        path = os.path.join(cls.work, out)
        args = ["embed", "--bed", cls.bed, "--genome", GENOME, "--read-strand", "--label-depth", "3",
                "--model", name, "--checkpoint", cls.ckpt[name], "--out", path, "--shard-rows", "16",
                "--batch-nt", "2048"] + (["--token-level"] if mode == "token" else []) + list(extra)
        p = bt.bend(args, np_ranks=np_ranks, check=check)
        return path if check else p

    def test_upsampled_token_level_vectors_equal_the_default_output(self):
        for name in self.ckpt:
            default = bt.read_shard_dir(self.out[name, "default"])
            token = bt.read_shard_dir(self.out[name, "token"])
            spans = read_spans(self.out[name, "token"])
            self.assertEqual(set(read_spans(self.out[name, "default"]).values()), {None})
            self.assertEqual(sorted(default), self.embedded[name])
            self.assertEqual(sorted(token), sorted(default))
            for i in self.embedded[name]:
                seq, d, t = self.seqs[i], default[i], token[i]
                self.assertEqual(d["inputs"].shape, (len(seq), 32), (name, i))
                self.assertEqual(len(spans[i]), 2 * t["inputs"].shape[0], (name, i))
                up = upsample(t["inputs"], spans[i])
                self.assertEqual(up.tobytes(), d["inputs"].tobytes(), (name, i))
                for key in ("dtype", "outputs", "outputs_shape", "index", "region", "file"):
                    self.assertEqual(t[key], d[key], (name, i, key))

    def test_spans_are_the_tokens_nucleotides(self):
        want = {"nt": [nt_token_lengths(s) for s in self.seqs],
                "dnabert2": hf_token_lengths(self.seqs, os.path.join(TOK, "dnabert2"), self.work),
                "dnabert": [dnabert6_vector_lengths(s) for s in self.seqs]}
        for name in self.ckpt:
            spans = read_spans(self.out[name, "token"])
            self.assertEqual(sorted(spans), self.embedded[name])
            for i in self.embedded[name]:
                seq, lens = self.seqs[i], want[name][i]
                starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).tolist()
                self.assertEqual(spans[i], [v for pair in zip(starts, lens) for v in pair], (name, i, seq[:60]))
                self.assertEqual(sum(lens), len(seq))
        n_tokens = sum(len(t) for t in want["nt"])
        self.assertGreater(sum(len(s) for s in self.seqs) / n_tokens, 4.0)  # mostly 6-mers

    def test_stored_bytes_shrink(self):
        ratios = {}
        for name in self.ckpt:
            ratios[name] = shard_bytes(self.out[name, "default"]) / shard_bytes(self.out[name, "token"])
            print("  %s: default %d bytes, --token-level %d bytes: %.2fx smaller"
                  % (name, shard_bytes(self.out[name, "default"]), shard_bytes(self.out[name, "token"]),
                     ratios[name]))
        self.assertGreater(ratios["nt"], 4.0)
        self.assertGreater(ratios["dnabert2"], 2.5)
        self.assertLess(ratios["dnabert"], 1.0)  # overlapping k-mers: ~1 vector per nt, plus the spans

    def test_train_sees_the_same_samples_and_writes_the_same_results(self):
        for name in ("nt", "dnabert2"):
            dumps = []
            for mode in ("default", "token"):
                d = os.path.join(self.work, "dump-%s-%s" % (name, mode))
                os.makedirs(d)
                bt.run([os.path.join(TOOLS, "tool_dataset"), "dump", self.out[name, mode], "train,valid,test,odd",
                        "seq", d])
                reads = [json.loads(l) for l in bt.read_text(os.path.join(d, "records.jsonl")).splitlines()]
                for r in reads:
                    r["file"] = os.path.basename(r["file"])  # the directories differ
                dumps.append((bt.read_bytes(os.path.join(d, "inputs.f32")), reads))
            self.assertEqual(len(dumps[0][1]), len(self.rows))
            self.assertEqual([r["length"] for r in dumps[1][1]], [len(self.seqs[r["index"]]) for r in dumps[1][1]])
            self.assertEqual(dumps[0][1], dumps[1][1], name)
            self.assertEqual(dumps[0][0], dumps[1][0], name)
            if name != "dnabert2":
                continue  # training (seconds) on the variable-length BPE spans only
            results = []
            for mode in ("default", "token"):
                res = os.path.join(self.work, "train-%s-%s" % (name, mode))
                bt.bend(["train", "--data", self.out[name, mode], "--out", res] + TRAIN)
                results.append([bt.read_bytes(os.path.join(res, f)) for f in ("losses.csv", "best_model_metrics.csv")])
            self.assertEqual(len(results[0][0].splitlines()), 4)
            self.assertEqual(results[0], results[1], name)

    def test_two_ranks_write_the_same_bytes_and_resume_settings_are_checked(self):
        out = self.embed("dnabert2", "token", "dnabert2-token-np2", np_ranks=2)
        self.assertEqual(bt.dir_bytes(out), bt.dir_bytes(self.out["dnabert2", "token"]))
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertIs(manifest["params"]["token_level"], True)
        self.assertNotIn("token_level", json.loads(bt.read_text(
            os.path.join(self.out["dnabert2", "default"], "manifest.json")))["params"])
        p = self.embed("dnabert2", "default", "dnabert2-token-np2", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("different parameters", p.stderr)
        self.assertIn("token_level", p.stderr)

    def test_inspect_reports_vectors_and_positions(self):
        out = self.out["nt", "token"]
        p = bt.bend(["inspect", "--json", out])
        summaries = [json.loads(l) for l in p.stdout.splitlines()]
        spans = read_spans(out)
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertEqual(sum(s["positions"] for s in summaries), manifest["totals"]["nt"])
        self.assertEqual(sum(s["positions"] for s in summaries), sum(len(s) for s in self.seqs))
        self.assertEqual(sum(s["vectors"] for s in summaries), sum(len(v) // 2 for v in spans.values()))
        self.assertEqual(sum(s["token_level_records"] for s in summaries), len(self.rows))
        p = bt.bend(["inspect", "--records", out])
        lines = [l.split("\t") for l in p.stdout.splitlines()[1:]]
        self.assertEqual(len(lines), len(self.rows))
        for l in lines:
            i = int(l[2])
            self.assertEqual(l[4], "[%d,32]" % (len(spans[i]) // 2))
            self.assertEqual(l[7], str(len(self.seqs[i])))

    def test_bad_spans_are_refused_naming_shard_and_record(self):
        src = os.path.join(self.out["nt", "token"], "train-00001.tfrecord")
        records = list(bt.read_tfrecord(src))
        ex = bt.example_pb2().Example()
        ex.ParseFromString(records[2])
        spans = ex.features.feature["token_spans"].int64_list.value
        spans[3] += 1  # vector 1 one nucleotide longer: vector 2 no longer starts where it ends
        records[2] = ex.SerializeToString(deterministic=True)
        bad = os.path.join(self.work, "bad-spans.tfrecord")
        with open(bad, "wb") as f:
            for r in records:
                head = struct.pack("<Q", len(r))
                f.write(head + struct.pack("<I", bt.masked_crc(head)) + r + struct.pack("<I", bt.masked_crc(r)))
        p = bt.bend(["inspect", bad], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%s: record 2" % bad, p.stderr)
        self.assertIn("token_spans: vector 2 covers", p.stderr)

    def test_genome_token_level_upsamples_to_its_default_output(self):
        regions = os.path.join(self.work, "regions.bed")
        with open(regions, "w") as f:
            f.write("chr2\t9000\t11000\nchr2\t50000\t51234\n")
        outs = {}
        for mode in ("default", "token"):
            outs[mode] = os.path.join(self.work, "genome-" + mode)
            bt.bend(["genome", "--genome", GENOME, "--regions", regions, "--window", "500", "--max-n", "1",
                     "--model", "nt", "--checkpoint", self.ckpt["nt"], "--out", outs[mode]]
                    + (["--token-level"] if mode == "token" else []))
        d, t, spans = bt.read_shard_dir(outs["default"]), bt.read_shard_dir(outs["token"]), read_spans(outs["token"])
        self.assertEqual(sorted(d), sorted(t))
        self.assertGreater(len(d), 5)
        for i in d:
            self.assertEqual(upsample(t[i]["inputs"], spans[i]).tobytes(), d[i]["inputs"].tobytes())
        bt.bend(["inspect", outs["token"]])
        p = bt.bend(["genome", "--genome", GENOME, "--regions", regions, "--model", "nt", "--checkpoint",
                     self.ckpt["nt"], "--out", os.path.join(self.work, "genome-reduce"), "--token-level",
                     "--reduce", "mean"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--token-level cannot be combined with --reduce", p.stderr)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
