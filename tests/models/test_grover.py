"""GROVER in bend: `bend model init --arch grover` (a BERT-base config.json, shrunk, with a
greedy-match vocab.txt), then `bend embed` (also `--token-level`), `bend genome` and
`bend variants --model grover` on
real hg38 sequence (samtools faidx; a - strand row; the leading N run) against a python3-torch
reference that follows BEND's GROVEREmbedder code step by step: max_match_tokenize (longest
vocabulary token first, one [UNK] per unmatched byte), [CLS] tokens [SEP] through BertModel
(transformer_reference.py's BERT, written from the published architecture), special tokens
dropped, each token's vector repeated len(token) times. Hidden states, masked-LM logits and
per-token loss within 1e-4.

GROVER's own vocab.txt is not in the test data: the vocabulary here is DNABERT-2's BPE token
list (tests/data/tokenizers/dnabert2), which has the same shape (specials, then DNA words of
varying length).
"""
import csv
import json
import os
import sys
import unittest

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import distance

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "app"))
import bendtest as bt  # noqa: E402
import transformer_reference as ref  # noqa: E402
from test_resnetlm_reference import read_safetensors  # noqa: E402

GENOME = os.path.join(bt.TEST_DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
TOK = os.path.join(bt.TEST_DATA, "tokenizers")
BERT_CONFIG = os.path.join(TOK, "dnabert-6", "config.json")
SMALL = ["--n-layers", "2", "--hidden-size", "32", "--set", "num_attention_heads=4",
         "--set", "intermediate_size=48", "--set", "initializer_range=0.15", "--vocab-size", "4096"]
MAX_TOKENS = 510  # BEND: self.max_length (content tokens per input)


class GroverReference:
    """BEND's GROVEREmbedder.embed on a seeded checkpoint (see the module doc)."""

    def __init__(self, ckpt):
        with open(os.path.join(ckpt, "vocab.txt")) as f:
            self.tokens = [line.rstrip("\n") for line in f]
        self.vocab = {t: i for i, t in enumerate(self.tokens)}
        self.max_len = max(len(t) for t in self.vocab)
        with open(os.path.join(ckpt, "config.json")) as f:
            self.cfg = json.load(f)
        self.model = ref.reference("bert", ckpt, self.cfg)
        self.w = read_safetensors(os.path.join(ckpt, "model.safetensors"))

    def max_match(self, seq):
        toks, i = [], 0
        while i < len(seq):
            for j in range(i + self.max_len, i, -1):
                if seq[i:j] in self.vocab:
                    toks.append(seq[i:j])
                    i = j
                    break
            else:
                toks.append("[UNK]")
                i += 1
        return toks

    def chunks(self, toks):
        """BEND's GROVEREmbedder (bend's default --rules bend): consecutive runs of 510 tokens."""
        return [toks[c:c + MAX_TOKENS] for c in range(0, max(len(toks), 1), MAX_TOKENS)]

    def loss(self, logits, ids):
        """BEND has no GROVER loss; bend's --rules bend takes the softmax over the vocabulary
        without its bracketed special tokens ([UNK] kept), as for DNABERT and GENA-LM."""
        inv = {i: t for t, i in self.vocab.items()}
        keep = [i for i in range(logits.shape[-1])
                if not (inv.get(i, "").startswith("[") and inv.get(i, "").endswith("]")) or inv.get(i) == "[UNK]"]
        pos = {i: k for k, i in enumerate(keep)}
        lp = F.log_softmax(logits[:, keep], dim=-1)
        return np.array([[-lp[r, pos[i]].item()] if i in pos else [float("nan")]
                         for r, i in enumerate(ids)], dtype=np.float32)

    def head(self, hidden):
        w = {k: torch.from_numpy(v) for k, v in self.w.items()}
        p = "cls.predictions."
        x = F.linear(torch.from_numpy(hidden), w[p + "transform.dense.weight"], w[p + "transform.dense.bias"])
        x = F.gelu(x)
        x = F.layer_norm(x, x.shape[-1:], w[p + "transform.LayerNorm.weight"],
                         w[p + "transform.LayerNorm.bias"], self.cfg.get("layer_norm_eps", 1e-12))
        return F.linear(x, w["bert.embeddings.word_embeddings.weight"], w[p + "bias"])

    def embed(self, seq, output="hidden", token_level=False):
        """[len(seq), dim]; token_level: ([n_tokens, dim], flattened (start, len_bp) spans)."""
        toks = self.max_match(seq)
        pieces = []
        for chunk in self.chunks(toks):
            ids = [self.vocab["[CLS]"]] + [self.vocab[t] for t in chunk] + [self.vocab["[SEP]"]]
            out = self.model(ids)  # [n + 2, hidden]
            if output != "hidden":
                logits = self.head(out)
                out = logits.numpy() if output == "logits" else self.loss(logits, ids)
            pieces.append(out[1:-1])  # per chunk, as BEND's slicing leaves it after [1:-1]
        if token_level:
            lens = [1 if t == "[UNK]" else len(t) for t in toks]
            starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
            return np.concatenate(pieces), [int(v) for pair in zip(starts, lens) for v in pair]
        rows = []
        for t, v in zip(toks, np.concatenate(pieces)):
            rows += [v] * (1 if t == "[UNK]" else len(t))
        return np.stack(rows)


def write_grover_vocab(d):
    with open(os.path.join(TOK, "dnabert2", "tokenizer.json")) as f:
        v = json.load(f)["model"]["vocab"]
    os.makedirs(d)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.writelines(t + "\n" for t in sorted(v, key=v.get))
    return d


class Grover(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir("bend-grover-")
        cls.ckpt = os.path.join(cls.work, "grover")
        tok = write_grover_vocab(os.path.join(cls.work, "vocab"))
        bt.bend(["model", "init", "--arch", "grover", "--config", BERT_CONFIG, "--out", cls.ckpt,
                 "--tokenizer", tok, "--seed", "11", *SMALL])
        cls.model = GroverReference(cls.ckpt)
        cls.rows = [("chr2", 9900, 10300, "+"), ("chr2", 40000, 41500, "-"),
                    ("chr2", 52000, 52077, "+"), ("chr2", 60000, 64000, "+")]
        cls.bed = os.path.join(cls.work, "rows.bed")
        with open(cls.bed, "w") as f:
            f.write("chromosome\tstart\tend\tstrand\tsplit\n")
            f.writelines(f"{c}\t{s}\t{e}\t{st}\ttrain\n" for c, s, e, st in cls.rows)
        cls.seqs = [bt.samtools_seq(GENOME, c, s, e, st == "-") for c, s, e, st in cls.rows]

    def test_init_copies_the_vocabulary_and_writes_bert_names(self):
        self.assertEqual(sorted(os.listdir(self.ckpt)), ["config.json", "model.safetensors", "vocab.txt"])
        w = read_safetensors(os.path.join(self.ckpt, "model.safetensors"))
        self.assertEqual(w["bert.embeddings.word_embeddings.weight"].shape, (4096, 32))
        self.assertIn("cls.predictions.transform.dense.weight", w)
        r = bt.bend(["model", "init", "--arch", "grover", "--config", BERT_CONFIG, "--out",
                     os.path.join(self.work, "x"), *SMALL], check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("needs --tokenizer DIR holding the model's vocab.txt", r.stderr)
        self.assertIn("\ngrover ", "\n" + bt.bend(["models"]).stdout)

    def test_embed_hidden_logits_and_loss_follow_bends_grover_embedder(self):
        self.assertGreater(len(self.model.max_match(self.seqs[3])), MAX_TOKENS)  # several inputs
        self.assertIn("[UNK]", self.model.max_match(self.seqs[0]))  # the N run
        for output in ("hidden", "logits", "loss"):
            out = os.path.join(self.work, "emb_" + output)
            bt.bend(["embed", "--bed", self.bed, "--genome", GENOME, "--read-strand", "--model",
                     "grover", "--checkpoint", self.ckpt, "--out", out, "--batch-nt", "4096",
                     "--output", output])
            recs = bt.read_shard_dir(out)
            worst = 0.0
            for i, seq in enumerate(self.seqs):
                want = self.model.embed(seq, output)
                got = recs[i]["inputs"]
                self.assertEqual(got.shape, want.shape, output)
                worst = max(worst, float(np.abs(got - want).max()))
            print(f"  grover --output {output}: max |bend - reference| = {worst:.2e}")
            self.assertLessEqual(worst, 1e-4, output)

    def test_token_level_stores_one_vector_per_token_with_its_nucleotides(self):
        out = os.path.join(self.work, "emb_tokens")
        bt.bend(["embed", "--bed", self.bed, "--genome", GENOME, "--read-strand", "--model",
                 "grover", "--checkpoint", self.ckpt, "--out", out, "--token-level"])
        for name in sorted(os.listdir(out)):
            if ".tfrecord" not in name or ".tmp" in name:
                continue
            for data in bt.read_tfrecord(os.path.join(out, name)):
                ex = bt.example_pb2().Example()
                ex.ParseFromString(data)
                f = ex.features.feature
                i = f["index"].int64_list.value[0]
                want, want_spans = self.model.embed(self.seqs[i], token_level=True)
                self.assertEqual(list(f["token_spans"].int64_list.value), want_spans, i)
                got = bt.parse_record(data)["inputs"]
                self.assertEqual(got.shape, want.shape, i)
                self.assertLessEqual(float(np.abs(got - want).max()), 1e-4, i)

    def test_genome_windows_follow_bends_grover_embedder(self):
        bed = os.path.join(self.work, "regions.bed")
        with open(bed, "w") as f:
            f.write("chr2\t9500\t11500\nchr2\t300000\t301000\n")
        out = os.path.join(self.work, "genome")
        bt.bend(["genome", "--genome", GENOME, "--regions", bed, "--window", "1000", "--model",
                 "grover", "--checkpoint", self.ckpt, "--out", out], np_ranks=2)
        n = 0
        for name in sorted(os.listdir(out)):
            if ".tfrecord" not in name or ".tmp" in name:
                continue
            for data in bt.read_tfrecord(os.path.join(out, name)):
                ex = bt.example_pb2().Example()
                ex.ParseFromString(data)
                f = ex.features.feature
                s, e = f["start"].int64_list.value[0], f["end"].int64_list.value[0]
                want = self.model.embed(bt.samtools_seq(GENOME, "chr2", s, e, False))
                got = bt.parse_record(data)["inputs"]
                self.assertLessEqual(float(np.abs(got - want).max()), 1e-4, (s, e))
                n += 1
        self.assertGreaterEqual(n, 2)

    def test_variants_cosine_compares_the_tokens_covering_the_variant(self):
        pos = [70000 + 1009 * k for k in range(5)]
        refs = [bt.samtools_seq(GENOME, "chr2", p, p + 1, False) for p in pos]
        alts = ["C" if r != "C" else "G" for r in refs]
        path = os.path.join(self.work, "variants.bed")
        with open(path, "w") as f:
            f.write("chromosome\tstart\tend\tref\talt\tlabel\n")
            f.writelines(f"chr2\t{p}\t{p + 1}\t{r}\t{a}\t{k % 2}\n"
                         for k, (p, r, a) in enumerate(zip(pos, refs, alts)))
        out = os.path.join(self.work, "variants")
        bt.bend(["variants", "--bed", path, "--genome", GENOME, "--model", "grover", "--checkpoint",
                 self.ckpt, "--out", out, "--score", "cosine", "--bootstrap", "10"])
        with open(os.path.join(out, "scores.tsv")) as f:
            table = list(csv.DictReader(f, delimiter="\t"))
        for p, a, got in zip(pos, alts, table):
            ref_seq = bt.samtools_seq(GENOME, "chr2", p - 256, p + 257, False)
            alt_seq = ref_seq[:256] + a + ref_seq[257:]
            e_ref, e_alt = self.model.embed(ref_seq), self.model.embed(alt_seq)
            want = distance.cosine(e_alt[256].astype(np.float64), e_ref[256].astype(np.float64))
            self.assertAlmostEqual(float(got["cosine"]), want, delta=1e-5 + 1e-4 * want)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
