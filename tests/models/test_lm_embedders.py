"""The transformer Embedders end to end: "dnabert", "nt", "dnabert2", "gena-lm" built by name
through the registry (tool_transformer embed), on real human sequence with their real tokenizer
files, against the python3-torch references of transformer_reference.py.

For each sequence: the packed model inputs tokenize() wrote are parsed here; every input has its
special tokens and fits the model; the nucleotide count given to each token is checked against
BEND's rules computed here from the token strings and the sequence (DNABERT: 1 per k-mer plus
the edge repeats; BPE / 6-mers: len(token); DNABERT-2's [UNK]: 1; GENA-LM's '-': its whole N
run); and the output equals the reference run on each input, special tokens dropped, each
vector repeated, <= 1e-4, alone and in a padded batch. These are bend's `--rules corrected`
(balanced inputs, centred k-mers); test_bend_rules.py checks the default `--rules bend`.
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import transformer_reference as ref  # noqa: E402
from test_transformer_reference import run_script  # noqa: E402

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_transformer")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")  # tests/data: real test data
HERE = os.path.dirname(os.path.abspath(__file__))
TOK = os.path.join(DATA, "tokenizers")
TOL = 1e-4
SMALL = {"num_hidden_layers": 2, "hidden_size": 48, "num_attention_heads": 4,
         "intermediate_size": 64, "initializer_range": 0.15}
GENA_CONFIG = os.path.join(DATA, "configs", "gena-lm", "L12-H768-A12-V32k-preln-lastln.json")
# name: (arch, config.json, tokenizer files copied in, config keys beyond SMALL)
CHECKPOINTS = {
    "dnabert6": ("bert", os.path.join(TOK, "dnabert-6", "config.json"),
                 [os.path.join(TOK, "dnabert-6", "vocab.txt")], {}),
    "gena": ("bert", GENA_CONFIG, [os.path.join(TOK, "gena-lm-t2t-32k", "tokenizer.json")], {}),
    "dnabert2": ("mosaic-bert", os.path.join(TOK, "dnabert2", "config.json"),
                 [os.path.join(TOK, "dnabert2", "tokenizer.json")],
                 {"num_attention_heads": 12, "hidden_size": 48}),
    "nt1": ("esm", os.path.join(HERE, "configs", "nt-v1-small.json"), [],
            {"intermediate_size": 32}),
    "nt2": ("esm", os.path.join(HERE, "configs", "nt-v2-small.json"), [],
            {"intermediate_size": 32}),
    "wrong_vocab": ("bert", os.path.join(TOK, "dnabert-6", "config.json"),
                    [os.path.join(TOK, "dnabert-5", "vocab.txt")], {}),
}


def run(*args, expect_ok=True):
    r = subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True)
    if expect_ok and r.returncode != 0:
        raise AssertionError(f"tool_transformer {' '.join(map(str, args))} failed:\n{r.stderr}")
    return r


def read_chr2():
    with gzip.open(os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz"), "rt") as f:
        return "".join(line.strip() for line in f if not line.startswith(">")).upper()


def unpack(packed):
    """Packed token vector (token_chunks.hpp) -> (list of inputs, repeat counts)."""
    n_chunks, pos, chunks = packed[0], 1, []
    for _ in range(n_chunks):
        n = packed[pos]
        chunks.append(packed[pos + 1:pos + 1 + n])
        pos += 1 + n
    repeat = packed[pos:]
    assert len(repeat) == sum(len(c) for c in chunks)
    return chunks, repeat


def bend_repeats(tokens, seq):
    """BEND's nucleotides per BPE / 6-mer token, walking the sequence: len(token); [UNK] (an N
    the vocabulary lacks) 1; GENA-LM's '-' the whole run of N it replaced."""
    out, p = [], 0
    for t in tokens:
        if t == "-":
            n = len(seq[p:]) - len(seq[p:].lstrip("N"))
            assert n >= 10, f"'-' at {p} replaces {n} N"
        elif t == "[UNK]":
            n = 1
        else:
            n = len(t)
            assert seq[p:p + n] == t, f"token {t} at {p}: sequence has {seq[p:p + n]}"
        out.append(n)
        p += n
    assert p == len(seq), (p, len(seq))
    return out


class LmEmbedders(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import torch
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.chr2 = read_chr2()
        commands = []  # every checkpoint, written by one tool process
        for name, (arch, config, files, extra) in CHECKPOINTS.items():
            sets = dict(SMALL, **extra)
            commands.append(["init", arch, os.path.join(cls.tmp.name, name), 3, config,
                             *[f"{k}={json.dumps(v)}" for k, v in sets.items()],
                             *[a for f in files for a in ("--file", f"{os.path.basename(f)}={f}")]])
        for ok, err, _ in run_script(cls.tmp.name, commands):
            assert ok, err

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def region(self, start, n):
        return self.chr2[start:start + n]

    def make(self, name):
        """(dir, config) of checkpoint `name`."""
        d = os.path.join(self.tmp.name, name)
        with open(os.path.join(d, "config.json")) as f:
            return d, json.load(f)

    def embed(self, model, d, seqs):
        """(packed token vectors, outputs alone, outputs in one padded batch)."""
        seq_path = os.path.join(self.tmp.name, "seqs.txt")
        out_path = os.path.join(self.tmp.name, "out.bin")
        tok_path = os.path.join(self.tmp.name, "tokens.txt")
        with open(seq_path, "w") as f:
            f.write("".join(s + "\n" for s in seqs + seqs))
        stdout = run("embed", model, d, seq_path, out_path, "--alone", len(seqs),
                     "--tokens", tok_path, "--rules", "corrected").stdout
        self.assertIn(f"fingerprint {model}:crc32c=", stdout)
        h = int(stdout.split()[1])
        flat = np.fromfile(out_path, dtype="<f4")
        outs, off = [], 0
        for s in seqs + seqs:
            outs.append(flat[off:off + len(s) * h].reshape(len(s), h))
            off += len(s) * h
        self.assertEqual(off, flat.size)
        with open(tok_path) as f:
            packed = [list(map(int, line.split())) for line in f]
        return packed[:len(seqs)], outs[:len(seqs)], outs[len(seqs):]

    def check_outputs(self, name, model, seqs, packed, alone, batched, max_ids):
        """Reference on every input, repeat counts applied, vs bend alone and batched."""
        worst = worst_batch = 0.0
        for s, p, a, b in zip(seqs, packed, alone, batched):
            chunks, repeat = unpack(p)
            self.assertTrue(all(len(c) <= max_ids for c in chunks), [len(c) for c in chunks])
            states = np.concatenate([model(c) for c in chunks])
            want = np.repeat(states, repeat, axis=0)
            self.assertEqual(want.shape, a.shape)
            worst = max(worst, float(np.abs(want - a).max()))
            worst_batch = max(worst_batch, float(np.abs(a - b).max()))
        print(f"  {name}: max |bend - reference| = {worst:.2e}, |batched - alone| = "
              f"{worst_batch:.2e} over {[len(s) for s in seqs]} bp")
        self.assertLessEqual(worst, TOL)
        self.assertLessEqual(worst_batch, TOL)

    def test_dnabert6_kmers_chunks_and_edge_repeats(self):
        d, cfg = self.make("dnabert6")
        with open(os.path.join(TOK, "dnabert-6", "vocab.txt")) as f:
            vocab = {t.rstrip("\r\n"): i for i, t in enumerate(f)}
        seqs = [self.region(20000, 6), self.region(20006, 515), self.region(9990, 40),
                self.region(30000, 1300)]  # 1 k-mer; 512 ids exactly; N k-mers; 3 inputs
        packed, alone, batched = self.embed("dnabert", d, seqs)
        for s, p in zip(seqs, packed):
            chunks, repeat = unpack(p)
            kmers = [vocab.get(s[i:i + 6], vocab["[UNK]"]) for i in range(len(s) - 5)]
            # every input [CLS] k-mers [SEP]: the fewest runs of <= 510, balanced
            self.assertTrue(all(c[0] == vocab["[CLS]"] and c[-1] == vocab["[SEP]"] for c in chunks))
            self.assertEqual([t for c in chunks for t in c[1:-1]], kmers)
            sizes = [len(c) - 2 for c in chunks]
            self.assertEqual(len(sizes), (len(kmers) + 509) // 510)
            self.assertLessEqual(max(sizes) - min(sizes), 1)
            want = [1] * len(kmers)  # BEND: first k-mer x 3, last x 4 (k = 6)
            want[0] += 2
            want[-1] += 3
            self.assertEqual([r for c, rr in zip(chunks, self.split(repeat, chunks))
                              for r in rr[1:-1]], want)
            self.assertTrue(all(rr[0] == 0 and rr[-1] == 0 for rr in self.split(repeat, chunks)))
        self.check_outputs("dnabert6", ref.reference("bert", d, cfg), seqs, packed, alone,
                           batched, 512)

    @staticmethod
    def split(repeat, chunks):
        out, pos = [], 0
        for c in chunks:
            out.append(repeat[pos:pos + len(c)])
            pos += len(c)
        return out

    def bpe_case(self, name, model, arch, tokenizer_dir, seqs, max_ids):
        d, cfg = self.make(name)
        with open(os.path.join(tokenizer_dir, "tokenizer.json")) as f:
            tj = json.load(f)
        tokens = {i: t for t, i in tj["model"]["vocab"].items()}
        tokens.update({a["id"]: a["content"] for a in tj["added_tokens"]})
        packed, alone, batched = self.embed(model, d, seqs)
        for s, p in zip(seqs, packed):
            chunks, repeat = unpack(p)
            for c in chunks:  # every input: [CLS] content [SEP]
                self.assertEqual((tokens[c[0]], tokens[c[-1]]), ("[CLS]", "[SEP]"))
            content = [(tokens[i], r) for c, rr in zip(chunks, self.split(repeat, chunks))
                       for i, r in zip(c[1:-1], rr[1:-1])]
            self.assertEqual([r for _, r in content], bend_repeats([t for t, _ in content], s))
        self.check_outputs(name, ref.reference(arch, d, cfg), seqs, packed, alone, batched,
                           max_ids)
        return packed

    def test_gena_lm_bpe_pieces_and_n_runs(self):
        seqs = [self.region(9900, 400),      # 100 N -> one '-' covering them all
                self.region(40000, 5200),    # > 510 BPE tokens: several inputs
                self.region(52000, 37) + "N" * 4 + self.region(52100, 30)]  # short N run
        packed = self.bpe_case("gena", "gena-lm", "bert", os.path.join(TOK, "gena-lm-t2t-32k"),
                               seqs, 512)
        self.assertGreater(len(unpack(packed[1])[0]), 1)

    def test_dnabert2_bpe_10kb_pieces_and_unk(self):
        seqs = [self.region(60000, 300) + "NNN" + self.region(60400, 200),
                self.region(70000, 10040)]  # two pieces of <= 10000 bp
        packed = self.bpe_case("dnabert2", "dnabert2", "mosaic-bert",
                               os.path.join(TOK, "dnabert2"), seqs, 10 ** 9)
        self.assertEqual(len(unpack(packed[1])[0]), 2)

    def nt_case(self, name, seqs, chunk_bp, max_ids):
        d, cfg = self.make(name)
        packed, alone, batched = self.embed("nt", d, seqs)
        for s, p in zip(seqs, packed):
            chunks, repeat = unpack(p)
            pieces = [s[i:i + chunk_bp] for i in range(0, len(s), chunk_bp)]
            rr = self.split(repeat, chunks)
            self.assertTrue(all(c[0] == 3 and r[0] == 0 for c, r in zip(chunks, rr)))  # <cls>
            # 6-mers from the left of each piece, then single bases; an N is its own token
            want = []
            for piece in pieces:
                i = 0
                while i < len(piece):
                    n = 6 if len(piece) - i >= 6 and "N" not in piece[i:i + 6] else 1
                    want.append(n)
                    i += n
            self.assertEqual([x for r in rr for x in r[1:]], want)
        self.check_outputs(name, ref.reference("esm", d, cfg), seqs, packed, alone, batched,
                           max_ids)
        return packed

    def test_nucleotide_transformer_v1_pieces_of_5994_bp(self):
        seqs = [self.region(80000, 6100), self.region(9995, 23)]
        packed = self.nt_case("nt1", seqs, 5994, 1000)
        self.assertEqual([len(c) for c in unpack(packed[0])[0]], [1000, 1 + 17 + 4])

    def test_nucleotide_transformer_v2(self):
        self.nt_case("nt2", [self.region(90000, 301), self.region(90500, 6)], 12282, 2048)

    def test_vocabulary_of_another_model_is_refused(self):
        d, _ = self.make("wrong_vocab")
        p = os.path.join(self.tmp.name, "one.txt")
        with open(p, "w") as f:
            f.write("ACGTACGTAC\n")
        r = run("embed", "dnabert", d, p, os.path.join(self.tmp.name, "x.bin"), expect_ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("config.json", r.stderr)
        self.assertIn("vocab_size 4101", r.stderr)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
