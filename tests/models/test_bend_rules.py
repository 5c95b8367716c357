"""`--rules bend` (the default): the transformer and HyenaDNA Embedders give the vectors BEND's
own code computes, on seeded checkpoints and real hg38 sequence (tests/data), <= 1e-4.

The reference below follows BEND's bend/utils/embedders.py *code* per family (written here from
reading it; the upstream packages are not installed), on top of the model forward passes of
transformer_reference.py / causal_lm_reference.py and the LM heads of test_lm_outputs.py:
  DNABERT-k  [CLS] k-mers [SEP] tokenized once, the ids cut bare into 512-id pieces, outputs
             concatenated, then _repeat_embedding_vectors: k=3 [e0] E [e_last]; k=4 [e0] E
             [e_last]x2; k=5 [e0] E [e0] [e_last]x2; k=6 [e0] E [e0] [e_last]x3; [CLS]/[SEP] cut.
  GENA-LM    the content ids cut into consecutive 510-id (BigBird: 4094-id) runs, each [CLS] run
             [SEP] (BigBird: block-sparse attention above 704 ids, transformer_reference); inner
             special vectors dropped; each token's vector repeated len(token) times. A row with
             a run of >= 10 N ('-', len 1) comes out shorter than the sequence: BEND's scripts
             drop it; bend keeps it with '-' repeated over its N run (checked here).
  NT v1 / v2 pieces of 5994 / 12282 bp, each tokenized with <cls>; more than 1000 / 2048 ids
             cut bare; each token len(token) times; <cls> cut. Loss: logits[1:, 4:] (v1) /
             [1:, 6:] (v2) against id - 4 / id - 6.
  DNABERT-2  loss over the vocabulary without ids 1-4, targets id - 4 for ids > 4.
  HyenaDNA   loss over logits[:, 7:12] (A C G T N), next-token.
Ids of the BPE / NT tokenizers come from tool_tokenize (bend's tokenizers, checked against
Hugging Face's in tests/tokenize); the k-mers of DNABERT are made here from vocab.txt.
`--rules corrected` (bend's own rules) is what test_lm_embedders.py / test_lm_outputs.py check.
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "app"))
import bendtest as bt  # noqa: E402
import transformer_reference as ref  # noqa: E402
from causal_lm_reference import HyenaReference, read_safetensors, tool as causal_tool  # noqa: E402
from test_lm_outputs import HYENA_IDS, HYENA_SMALL, mlm_logits  # noqa: E402
from test_transformer_reference import run_script  # noqa: E402

TOOLS = os.environ.get("BEND_TEST_TOOLS", ".")
DATA = os.path.join(HERE, "..", "data")  # tests/data: real test data
TOK = os.path.join(DATA, "tokenizers")
TOL = 1e-4
SMALL = {"num_hidden_layers": 2, "hidden_size": 48, "num_attention_heads": 4,
         "intermediate_size": 64, "initializer_range": 0.15}
GENA_CONFIG = os.path.join(DATA, "configs", "gena-lm", "L12-H768-A12-V32k-preln-lastln.json")
CHECKPOINTS = {  # name: (arch, config.json, tokenizer file, config keys beyond SMALL)
    **{f"dnabert{k}": ("bert", os.path.join(TOK, f"dnabert-{k}", "config.json"),
                       os.path.join(TOK, f"dnabert-{k}", "vocab.txt"), {}) for k in (3, 4, 5, 6)},
    "gena": ("bert", GENA_CONFIG, os.path.join(TOK, "gena-lm-t2t-32k", "tokenizer.json"), {}),
    "bigbird": ("bert", os.path.join(DATA, "configs", "gena-lm",
                                     "hf_bigbird_L12-H768-A12-V32k-L4096.json"),
                os.path.join(TOK, "gena-lm-t2t-32k", "tokenizer.json"), {}),
    "dnabert2": ("mosaic-bert", os.path.join(TOK, "dnabert2", "config.json"),
                 os.path.join(TOK, "dnabert2", "tokenizer.json"),
                 {"num_attention_heads": 12, "hidden_size": 48}),
    "nt1": ("esm", os.path.join(HERE, "configs", "nt-v1-small.json"), None,
            {"intermediate_size": 32}),
    "nt2": ("esm", os.path.join(HERE, "configs", "nt-v2-small.json"), None,
            {"intermediate_size": 32}),
}


def read_chr2():
    with gzip.open(os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz"), "rt") as f:
        return "".join(line.strip() for line in f if not line.startswith(">")).upper()


def tokenize(kind, d, seq):
    """bend's Tokenizer::encode of `seq`: (ids, spans) with the model's special tokens."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
        f.write(seq + "\n")
        f.flush()
        r = subprocess.run([os.path.join(TOOLS, "tool_tokenize"), kind, d, f.name],
                           capture_output=True, text=True, check=True)
    j = json.loads(r.stdout.splitlines()[0])
    return j["ids"], j["spans"]


def cat(rows):
    return np.concatenate(rows, axis=0)


# ---- BEND's embedders.py, per family ---------------------------------------------------------
def bend_dnabert(model, vocab, k, seq):
    """DNABertEmbedder.embed(upsample_embeddings=True): [len(seq), hidden]."""
    kmers = [vocab.get(seq[i:i + k], vocab["[UNK]"]) for i in range(len(seq) + 1 - k)]
    ids = [vocab["[CLS]"]] + kmers + [vocab["[SEP]"]]
    out = cat([model(ids[i:i + 512]) for i in range(0, len(ids), 512)])
    cls_v, sep_v, e = out[[0]], out[[-1]], out[1:-1]
    first, last = e[[0]], e[[-1]]
    e = {3: [first, e, last], 4: [first, e, last, last], 5: [first, e, first, last, last],
         6: [first, e, first, last, last, last]}[k]
    return cat([cls_v] + e + [sep_v])[1:-1]


def bend_gena(model, ids, tokens, cls_id, sep_id, max_length=510):
    """GENALMEmbedder.embed(upsample_embeddings=True) from the tokenizer's ids / token strings
    ([CLS] ... [SEP]): [sum(len(token)), hidden]."""
    content = ids[1:-1]
    chunks = [content[c:c + max_length] for c in range(0, len(content), max_length)]
    parts = []
    for n, c in enumerate(chunks):
        out = model([cls_id] + c + [sep_id])
        if len(chunks) != 1:
            out = out[:-1] if n == 0 else (out[1:] if n == len(chunks) - 1 else out[1:-1])
        parts.append(out)
    emb = cat(parts)
    rows = []
    for i, t in enumerate(tokens):  # DNABert2Embedder-style _repeat_embedding_vectors
        rows.extend([emb[[i]]] * (1 if i in (0, len(tokens) - 1) else len(t)))
    return cat(rows)[1:-1]


def bend_nt(model, tok, seq, max_seq_len, max_tokens, loss=None):
    """NucleotideTransformerEmbedder.embed(upsample_embeddings=True); `loss` = (head, first
    non-special id) gives return_loss=True with remove_special_tokens=True."""
    parts = []
    for p in range(0, len(seq), max_seq_len):
        ids, spans = tok(seq[p:p + max_seq_len])
        lens = [s[1] for s in spans]  # len(token): 6-mers and single letters
        if loss is None:
            out = cat([model(ids[i:i + max_tokens]) for i in range(0, len(ids), max_tokens)])
            rows = [out[[0]]] + [out[[i]] for i in range(1, len(ids)) for _ in range(lens[i])]
            parts.append(cat(rows)[1:])
        else:
            assert len(ids) <= max_tokens  # BEND's split branch fails its own length check
            head, first = loss
            logits = torch.from_numpy(head(model(ids)))[1:, first:]
            ce = F.cross_entropy(logits, torch.tensor(ids[1:]) - first,
                                 reduction="none").numpy()[:, None]
            parts.append(cat([ce[[i]] for i in range(len(ce)) for _ in range(lens[i + 1])]))
    return cat(parts)


class BendRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.chr2 = read_chr2()
        commands = []
        for name, (arch, config, tok_file, extra) in CHECKPOINTS.items():
            sets = dict(SMALL, **extra)
            files = ["--file", f"{os.path.basename(tok_file)}={tok_file}"] if tok_file else []
            commands.append(["init", arch, os.path.join(cls.tmp.name, name), 5, config,
                             *[f"{k}={json.dumps(v)}" for k, v in sets.items()], *files])
        for ok, err, _ in run_script(cls.tmp.name, commands):
            assert ok, err

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def region(self, start, n):
        return self.chr2[start:start + n]

    def ckpt(self, name):
        d = os.path.join(self.tmp.name, name)
        with open(os.path.join(d, "config.json")) as f:
            return d, json.load(f)

    def embed(self, model, d, seqs, *flags):
        """bend's vectors of `seqs` (one batch) and the packed token vector of each."""
        seq_path = os.path.join(self.tmp.name, "seqs.txt")
        out_path = os.path.join(self.tmp.name, "out.bin")
        tok_path = os.path.join(self.tmp.name, "tokens.txt")
        with open(seq_path, "w") as f:
            f.write("".join(s + "\n" for s in seqs))
        r = subprocess.run([os.path.join(TOOLS, "tool_transformer"), "embed", model, d, seq_path,
                            out_path, "--batch", "--tokens", tok_path, *flags],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        dim = int(r.stdout.split()[1])
        flat = np.fromfile(out_path, dtype="<f4")
        outs, off = [], 0
        for s in seqs:
            outs.append(flat[off:off + len(s) * dim].reshape(len(s), dim))
            off += len(s) * dim
        self.assertEqual(off, flat.size)
        with open(tok_path) as f:
            packed = [list(map(int, line.split())) for line in f]
        return outs, packed

    def check(self, what, got, want):
        worst = 0.0
        for g, w in zip(got, want):
            self.assertEqual(g.shape, w.shape, what)
            worst = max(worst, float(np.abs(g - w).max()))
        print(f"  {what}: max |bend - BEND's code| = {worst:.2e}")
        self.assertLessEqual(worst, TOL, what)

    @staticmethod
    def chunk_sizes(packed):
        sizes, pos = [], 1
        for _ in range(packed[0]):
            sizes.append(packed[pos])
            pos += 1 + packed[pos]
        return sizes

    def test_dnabert_k3_to_k6_edges_and_bare_512_id_pieces(self):
        # 1 k-mer; 512 ids; 513 ids (a [SEP]-only piece); 514; 1095 k-mers (k=6: 1100 bp ->
        # 512/512/73 ids);
        # a row with N k-mers ([UNK]) at the chromosome's N run
        starts = [(20000, None), (20006, 510), (21000, 511), (22000, 512), (30000, 1095),
                  (9990, 40)]
        for k in (3, 4, 5, 6):
            d, cfg = self.ckpt(f"dnabert{k}")
            with open(os.path.join(TOK, f"dnabert-{k}", "vocab.txt")) as f:
                vocab = {t.rstrip("\r\n"): i for i, t in enumerate(f)}
            seqs = [self.region(s, k if n is None else n + k - 1) for s, n in starts[:5]]
            seqs.append(self.region(*starts[5]))
            got, packed = self.embed("dnabert", d, seqs)
            model = ref.reference("bert", d, cfg)
            self.check(f"dnabert-{k} --rules bend", got,
                       [bend_dnabert(model, vocab, k, s) for s in seqs])
            # BEND's [CLS] + 1095 k-mers + [SEP] = 1097 ids cut bare
            self.assertEqual(self.chunk_sizes(packed[4]), [512, 512, 73])
            chunks_first = packed[4][2]
            self.assertEqual(chunks_first, vocab["[CLS]"])
            self.assertNotEqual(packed[4][2 + 512 + 1], vocab["[CLS]"])  # piece 2 starts bare
            if k >= 5:  # the echo of e0 near the end: bend corrected differs there
                corr, _ = self.embed("dnabert", d, seqs[:1] + seqs[4:5], "--rules", "corrected")
                self.assertGreater(float(np.abs(corr[1] - got[4]).max()), 1e-3)

    def gena_case(self, name, d, cfg, seqs, got=None, max_length=510):
        with open(os.path.join(TOK, "gena-lm-t2t-32k", "tokenizer.json")) as f:
            tj = json.load(f)
        strings = {i: t for t, i in tj["model"]["vocab"].items()}
        strings.update({a["id"]: a["content"] for a in tj["added_tokens"]})
        model = ref.reference("bert", d, cfg)
        if got is None:
            got, _ = self.embed("gena-lm", d, seqs)
        want, n_dropped = [], 0
        for s, g in zip(seqs, got):
            ids, spans = tokenize("bpe", d, s)
            tokens = [strings[i] for i in ids]
            w = bend_gena(model, ids, tokens, ids[0], ids[-1], max_length)
            if w.shape[0] != len(s):
                # BEND: '-' (>= 10 N) counts 1: the row is shorter and BEND's scripts drop it.
                # bend keeps it: the same token vectors, '-' repeated over its N run.
                self.assertIn("-", tokens)
                n_dropped += 1
                rows, p = [], 0
                for t, sp in zip(tokens[1:-1], spans[1:-1]):
                    rows.extend([w[[p]]] * sp[1])
                    p += len(t)
                w = cat(rows)
            want.append(w)
        self.check(name, got, want)
        return n_dropped

    def test_gena_lm_consecutive_510_id_chunks_and_n_runs(self):
        d, cfg = self.ckpt("gena")
        # one chunk; several (510 + 510 + rest); a 100-N run ('-'); short N runs only
        seqs = [self.region(40000, 300), self.region(50000, 9000), self.region(9900, 700),
                self.region(9995, 400)]
        self.assertEqual(self.gena_case("gena-lm --rules bend", d, cfg, seqs), 1)
        ids, _ = tokenize("bpe", d, seqs[1])
        self.assertGreater(len(ids) - 2, 1020)  # at least three chunks
        got, _ = self.embed("gena-lm", d, seqs[1:2])
        corrected, _ = self.embed("gena-lm", d, seqs[1:2], "--rules", "corrected")
        self.assertGreater(float(np.abs(corrected[0] - got[0]).max()), 1e-3)  # balanced runs

    def test_gena_lm_bigbird_consecutive_4094_id_chunks(self):
        """BigBird (GENALMEmbedder's max_length 4096 - 2): 6976 content ids -> [CLS] 4094 [SEP]
        + [CLS] 2882 [SEP], both block-sparse (> 704 ids); 4094 + a run short enough for full
        attention; one short row."""
        d, cfg = self.ckpt("bigbird")
        seqs = [self.region(100000, 45000), self.region(200000, 29500), self.region(40000, 300)]
        got, packed = self.embed("gena-lm", d, seqs)
        self.gena_case("gena-lm bigbird --rules bend", d, cfg, seqs, got=got, max_length=4094)
        self.assertEqual(self.chunk_sizes(packed[0]), [4096, 2884])
        second = self.chunk_sizes(packed[1])
        self.assertEqual(second[0], 4096)
        self.assertLessEqual(second[1], 704)
        corrected, packed = self.embed("gena-lm", d, seqs[:1], "--rules", "corrected")
        self.assertEqual(self.chunk_sizes(packed[0]), [3490, 3490])  # balanced runs
        self.assertGreater(float(np.abs(corrected[0] - got[0]).max()), 1e-3)

    def test_nt_v1_v2_pieces_and_bare_id_cuts(self):
        for name, piece, max_tokens, region in (("nt1", 5994, 1000, (8000, 7000)),
                                                ("nt2", 12282, 2048, (0, 13000))):
            d, cfg = self.ckpt(name)
            kind = "nt-v2" if name == "nt2" else "nt-v1"
            seqs = [self.region(*region), self.region(60000, 700)]  # N-rich: > max_tokens ids
            model = ref.reference("esm", d, cfg)
            got, packed = self.embed("nt", d, seqs)
            want = [bend_nt(model, lambda x: tokenize(kind, d, x), s, piece, max_tokens)
                    for s in seqs]
            self.check(f"{kind} --rules bend", got, want)
            self.assertEqual(self.chunk_sizes(packed[0])[0], max_tokens)  # cut bare
            corrected, _ = self.embed("nt", d, seqs[:1], "--rules", "corrected")
            self.assertGreater(float(np.abs(corrected[0] - got[0]).max()), 1e-3)

    def test_bend_embed_rules_manifest_resume_and_dropped_rows(self):
        """`bend embed` (default --rules bend) on a BED: BEND's GENA-LM vectors, a warning for
        the row BEND would drop, `rules` in the manifest, a resume with the other rules refused."""
        d, cfg = self.ckpt("gena")
        genome = os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
        rows = [("chr2", 9900, 10600), ("chr2", 50000, 56000), ("chr2", 40000, 40300)]
        bed = os.path.join(self.tmp.name, "t.bed")
        with open(bed, "w") as f:
            f.write("chromosome\tstart\tend\tstrand\tsplit\n")
            f.writelines(f"{c}\t{a}\t{b}\t+\ttrain\n" for c, a, b in rows)
        out = os.path.join(self.tmp.name, "cli")
        args = ["embed", "--bed", bed, "--genome", genome, "--model", "gena-lm", "--checkpoint", d,
                "--out", out, "--batch-nt", "4096"]
        p = bt.bend(args)
        self.assertIn("1 rows have a run of >= 10 N", p.stderr)
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertEqual(json.load(f)["params"]["rules"], "bend")
        recs = bt.read_shard_dir(out)
        seqs = [self.region(a, b - a) for _, a, b in rows]
        self.gena_case("bend embed gena-lm", d, cfg, seqs,
                       got=[recs[i]["inputs"] for i in range(len(rows))])
        r = bt.bend(args + ["--rules", "corrected"], check=False)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("different parameters", r.stderr)
        self.assertIn("rules", r.stderr)
        r = bt.bend(args + ["--rules", "loose"], check=False)
        self.assertEqual(r.returncode, 2, r.stderr)

    def loss_ref(self, name, seqs, kind):
        """BEND's loss of the masked LMs (NT, DNABERT-2) and bend's rule for DNABERT / GENA-LM
        (the softmax over the vocabulary without its special tokens except [UNK])."""
        d, cfg = self.ckpt(name)
        arch = CHECKPOINTS[name][0]
        weights = read_safetensors(os.path.join(d, "model.safetensors"))
        model = ref.reference(arch, d, cfg)

        def head(ids_hidden):
            return mlm_logits(arch, weights, cfg, ids_hidden)
        out = []
        for s in seqs:
            if name.startswith("nt"):
                first = 6 if name == "nt2" else 4
                piece = 12282 if name == "nt2" else 5994
                out.append(bend_nt(model, lambda x: tokenize(kind, d, x), s, piece, 10 ** 9,
                                   loss=(head, first)))
                continue
            if kind is None:  # DNABERT-6 k-mers
                with open(os.path.join(TOK, "dnabert-6", "vocab.txt")) as f:
                    vocab = {t.rstrip("\r\n"): i for i, t in enumerate(f)}
                ids = [2] + [vocab.get(s[i:i + 6], 1) for i in range(len(s) - 5)] + [3]
            else:
                ids, spans = tokenize(kind, d, s)
            logits = torch.from_numpy(head(model(ids)))[1:-1]
            target = torch.tensor(ids[1:-1])
            if name == "dnabert2":
                keep = [0] + list(range(5, cfg["vocab_size"]))
            else:  # dnabert-6 (vocab.txt: [PAD] [UNK] [CLS] [SEP] [MASK] first)
                keep = [1] + list(range(5, cfg["vocab_size"]))
            pos = {v: i for i, v in enumerate(keep)}
            ce = F.cross_entropy(logits[:, keep], torch.tensor([pos[int(t)] for t in target]),
                                 reduction="none").numpy()[:, None]
            if name == "dnabert2":  # each token len(token) times, [UNK] once
                out.append(cat([ce[[i]] for i, sp in enumerate(spans[1:-1]) for _ in range(sp[1])]))
            else:  # dnabert-6: BEND's k-mer edges
                e = ce
                out.append(cat([e[[0]], e, e[[0]], e[[-1]], e[[-1]], e[[-1]]]))
        return out

    def test_loss_softmax_over_the_non_special_vocabulary(self):
        seqs = [self.region(70000, 300), self.region(9995, 200)]
        for name, model, kind in (("nt1", "nt", "nt-v1"), ("nt2", "nt", "nt-v2"),
                                  ("dnabert2", "dnabert2", "bpe"), ("dnabert6", "dnabert", None)):
            d, _ = self.ckpt(name)
            got, _ = self.embed(model, d, seqs, "--output", "loss")
            self.check(f"{name} --output loss --rules bend", got, self.loss_ref(name, seqs, kind))
            corrected, _ = self.embed(model, d, seqs, "--output", "loss", "--rules", "corrected")
            self.assertGreater(float(np.abs(corrected[0] - got[0]).max()), 1e-6)

    @torch.no_grad()
    def test_hyenadna_loss_over_acgtn(self):
        config = os.path.join(self.tmp.name, "hyena.json")
        with open(config, "w") as f:
            json.dump(HYENA_SMALL, f)
        ckpt = os.path.join(self.tmp.name, "hyena")
        causal_tool("init", "hyenadna", ckpt, 3, config)
        seqs = [self.region(80000, 150), self.region(9980, 64)]
        seq_path, out = os.path.join(self.tmp.name, "h.txt"), os.path.join(self.tmp.name, "h.bin")
        with open(seq_path, "w") as f:
            f.write("".join(s + "\n" for s in seqs))
        causal_tool("embed", "hyenadna", ckpt, seq_path, out, "--output", "loss", "--batch")
        flat = np.fromfile(out, dtype="<f4")
        weights = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        model = HyenaReference(HYENA_SMALL, weights, "hyena.backbone.")
        head = torch.from_numpy(weights["hyena.backbone.embeddings.word_embeddings.weight"])
        piece = HYENA_SMALL["max_seq_len"] - 2
        want = []
        for s in seqs:  # HyenaDNAEmbedder: chunks of max_length, [CLS] chars [SEP]
            for p in range(0, len(s), piece):
                tok = [0] + [HYENA_IDS[c] for c in s[p:p + piece]] + [1]
                output = (model.forward([tok])[0] @ head.T)[:, 7:12]
                loss = F.cross_entropy(output[:-2], torch.tensor(tok[1:-1]) - 7, reduction="none")
                want.append(loss.numpy())
        self.check("hyenadna --output loss --rules bend", [flat], [np.concatenate(want)])


if __name__ == "__main__":
    unittest.main()
