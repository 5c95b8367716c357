"""`bend variants` for the Nucleotide Transformer (v1, v2), DNABERT-2, GENA-LM BERT and the
AWD-LSTM against python3-torch references that follow BEND's scripts/predict_variant_effects.py
step by step, on seeded checkpoints (`bend model init`) and SNVs at real positions of the hg38
region the tests ship (tests/data), N-free and next to chr2's leading 10 kbp N run.

Cosine (BEND's score): the window is the variant +- 256 bp (samtools faidx), the alt base
replaces base 256, ref and alt are tokenized and embedded apart as BEND's embedder for the family
does with upsample_embeddings=True (NT: EsmTokenizer's split of <cls> + 6-mers, each vector
len(token) times, <cls> cut; DNABERT-2: Hugging Face's tokenizer ([CLS] .. [SEP], [UNK] once,
others len(token)); GENA-LM: the same with its '-' for >= 10 N), vector 256 is compared with
scipy.spatial.distance.cosine. BPE tokenization is Hugging Face's own (@huggingface/tokenizers,
tests/tokenize/hf_tokenize.mjs); the NT split is the python port of Hugging Face's slow
tokenizer (tests/tokenize); the encoders are tests/models/transformer_reference.py.

llr (masked LMs, docs/differences.md): in the ref window the token covering base 256 is replaced
by the mask token; log_softmax of the LM head (tests/models/test_lm_outputs.mlm_logits) at that
token, alt token = the ref token's string with the alt base at the variant's offset (NaN when the
vocabulary lacks it).

Each comparison is run again with a deliberately wrong reference (the neighbouring token's
vector, no alt substitution, an unmasked input) to show that the check can fail.
"""
import csv
import json
import math
import os
import random
import sys
import tempfile
import unittest

import numpy as np
import torch
from scipy.spatial import distance

HERE = os.path.dirname(os.path.abspath(__file__))
for sub in ("app", "models", "tokenize"):
    sys.path.insert(0, os.path.join(HERE, "..", sub))
import bendtest as bt  # noqa: E402
import transformer_reference  # noqa: E402
from causal_lm_reference import AwdLstmReference, char_ids, read_safetensors  # noqa: E402
from test_hf_tokenizers import NtReference, nt_vocab, run_hf_js  # noqa: E402
from test_lm_outputs import mlm_logits  # noqa: E402
import caduceus_reference  # noqa: E402
import gpn_reference  # noqa: E402
import test_grover  # noqa: E402

FASTA = os.path.join(bt.TEST_DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
TOK = os.path.join(bt.TEST_DATA, "tokenizers")
HEADER = ["chromosome", "start", "end", "ref", "alt", "label"]
SMALL = ["num_hidden_layers=2", "hidden_size=48", "num_attention_heads=4", "intermediate_size=64",
         "initializer_range=0.15"]
COS_TOL = 1e-5   # |bend - reference| of a cosine distance
LLR_TOL = 1e-4   # of a log-likelihood ratio (logits of magnitude ~10 in float32)
# name: (--model, --arch, --config, --tokenizer dir, --set keys, reference encoder)
MODELS = {
    "nt1": ("nt", "nt", os.path.join(HERE, "..", "models", "configs", "nt-v1-small.json"), None,
            ["intermediate_size=32", "initializer_range=0.3"], "esm"),
    "nt2": ("nt", "nt", os.path.join(HERE, "..", "models", "configs", "nt-v2-small.json"), None,
            ["intermediate_size=32", "initializer_range=0.3"], "esm"),
    "dnabert2": ("dnabert2", "dnabert2", os.path.join(TOK, "dnabert2", "config.json"),
                 os.path.join(TOK, "dnabert2"), SMALL + ["num_attention_heads=12"], "mosaic-bert"),
    "gena": ("gena-lm", "gena-lm",
             os.path.join(bt.TEST_DATA, "configs", "gena-lm", "L12-H768-A12-V32k-preln-lastln.json"),
             os.path.join(TOK, "gena-lm-t2t-32k"), SMALL, "bert"),
}


def variant_rows(seed):
    """SNVs: 8 at random N-free positions; 3 whose window holds part of chr2's leading N run
    (196, 61 and 12 N before the variant). REF from samtools, a seeded ALT and label."""
    rng = random.Random(seed)
    pos = sorted(rng.sample(range(20000, 2300000), 8)) + [10060, 10195, 10244]
    rows = []
    for p in pos:
        ref = bt.samtools_seq(FASTA, "chr2", p, p + 1, False)
        assert ref in "ACGT", (p, ref)
        alt = rng.choice([b for b in "ACGT" if b != ref])
        rows.append(["chr2", str(p), str(p + 1), ref, alt, str(rng.randint(0, 1))])
    return rows


def windows(row):
    """BEND: the variant extended by 256 bp each side, dna_alt[len // 2] = alt."""
    p = int(row[1])
    ref = bt.samtools_seq(FASTA, "chr2", p - 256, p + 257, False)
    assert len(ref) == 513 and ref[256] == row[3]
    return ref, ref[:256] + row[4] + ref[257:]


def masked_llr(logits_fn, ids, i, mask_id, ref_str, n_bp, off, alt, vocab, mask=True):
    """log P(alt) - log P(ref) at token i of `ids` with token i masked: logits_fn(ids) ->
    [n_tokens, vocab]; alt = ref_str with `alt` at offset `off`, NaN when not in `vocab` (or
    when the token's string is not its nucleotides: '-', [UNK])."""
    ids = list(ids)
    ref_id = ids[i]
    if mask:
        ids[i] = mask_id
    logp = torch.log_softmax(torch.as_tensor(np.asarray(logits_fn(ids))[i]).double(), -1)
    alt_id = vocab.get(ref_str[:off] + alt + ref_str[off + 1:]) if len(ref_str) == n_bp else None
    return float("nan") if alt_id is None else float(logp[alt_id] - logp[ref_id])


def mismatches(got, want, tol):
    """Rows where bend and the reference differ by more than tol (1 + |want|); NaN only
    matches NaN."""
    bad = []
    for k, (g, w) in enumerate(zip(got, want)):
        if math.isnan(w) or math.isnan(g):
            if not (math.isnan(w) and math.isnan(g)):
                bad.append((k, g, w))
        elif abs(g - w) > tol * (1 + abs(w)):
            bad.append((k, g, w))
    return bad


def read_table(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def cosine(a, b):
    return float(distance.cosine(a.astype(np.float64), b.astype(np.float64)))


class Tokenized:
    """A window's model input (special tokens included) and what BEND's upsampling does with it:
    n_bp[i] = nucleotides token i covers in the sequence ('-' its whole N run, [UNK] 1, specials
    0); bend_rows[i] = rows BEND's _repeat_embedding_vectors gives it (len(token), [UNK] 1,
    specials 1 and cut afterwards)."""

    def __init__(self, ids, tokens, seq, specials):
        self.ids, self.tokens = list(ids), list(tokens)
        self.n_bp, self.bend_rows, p = [], [], 0
        for t in tokens:
            if t in specials:
                n, rows = 0, 1
            elif t == "-":
                n = len(seq[p:]) - len(seq[p:].lstrip("N"))
                assert n >= 10, (p, n)
                rows = 1
            elif t in ("[UNK]", "<unk>"):
                n = rows = 1
            else:
                n = rows = len(t)
                assert seq[p:p + n] == t, (t, p)
            self.n_bp.append(n)
            self.bend_rows.append(rows)
            p += n
        assert p == len(seq), (p, len(seq))

    def token_at(self, pos_bp):
        """(index of the token covering nucleotide pos_bp, its first nucleotide)."""
        p = 0
        for i, n in enumerate(self.n_bp):
            if p <= pos_bp < p + n:
                return i, p
            p += n
        raise AssertionError(pos_bp)

    def bend_token_at_row(self, row):
        """The token whose vector is row `row` of BEND's upsampled output, specials cut."""
        r = -1  # the first special token's row is cut
        for i, n in enumerate(self.bend_rows):
            if r <= row < r + n and self.n_bp[i] > 0:
                return i
            r += n
        raise AssertionError(row)


class VariantsLm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.work = cls.tmp.name
        cls.rows = variant_rows(seed=1601)
        cls.bed = os.path.join(cls.work, "variants.bed")
        with open(cls.bed, "w") as f:
            f.write("\t".join(HEADER) + "\n" + "".join("\t".join(r) + "\n" for r in cls.rows))
        cls.win = [windows(r) for r in cls.rows]
        cls.ckpt, cls.cfg, cls.weights, cls.model, cls.tables = {}, {}, {}, {}, {}
        for name, (model, arch, config, tok_dir, sets, encoder) in MODELS.items():
            d = os.path.join(cls.work, name)
            args = ["model", "init", "--arch", arch, "--out", d, "--config", config, "--seed", "11"]
            args += ["--tokenizer", tok_dir] if tok_dir else []
            bt.bend(args + [a for s in sets for a in ("--set", s)])
            with open(os.path.join(d, "config.json")) as f:
                cls.cfg[name] = json.load(f)
            cls.ckpt[name] = d
            cls.weights[name] = read_safetensors(os.path.join(d, "model.safetensors"))
            cls.model[name] = transformer_reference.reference(encoder, d, cls.cfg[name])
            out = os.path.join(cls.work, name + "_out")
            bt.bend(["variants", "--bed", cls.bed, "--genome", FASTA, "--model", model, "--checkpoint", d,
                     "--out", out, "--score", "cosine,llr", "--bootstrap", "10"], np_ranks=2 if name == "gena" else 1)
            cls.tables[name] = read_table(os.path.join(out, "scores.tsv"))
        cls.tokens = {}  # name: [(ref Tokenized, alt Tokenized)] per row

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    # ---- tokenizers -----------------------------------------------------------------------
    def tokenized(self, name):
        if name in self.tokens:
            return self.tokens[name]
        seqs = [s for pair in self.win for s in pair]
        if name.startswith("nt"):
            vocab = nt_vocab(int(name[-1]))
            split = NtReference(vocab)  # Hugging Face's EsmTokenizer, <cls> first
            out = []
            for s in seqs:
                ids, _ = split(s)
                out.append(Tokenized(ids, [vocab[i] for i in ids], s, {"<cls>"}))
        else:
            d = MODELS[name][3]
            path = os.path.join(self.work, name + "_seqs.txt")
            with open(path, "w") as f:
                f.write("".join(s + "\n" for s in seqs))
            hf = run_hf_js(os.path.join(d, "tokenizer.json"), os.path.join(d, "tokenizer_config.json"), path)
            out = [Tokenized(h["ids"], h["tokens"], s, {"[CLS]", "[SEP]"}) for h, s in zip(hf, seqs)]
        self.tokens[name] = list(zip(out[0::2], out[1::2]))
        return self.tokens[name]

    def vocab(self, name):
        if name.startswith("nt"):
            return {t: i for i, t in enumerate(nt_vocab(int(name[-1])))}
        with open(os.path.join(MODELS[name][3], "tokenizer.json")) as f:
            tj = json.load(f)
        v = dict(tj["model"]["vocab"])
        v.update({a["content"]: a["id"] for a in tj["added_tokens"]})
        return v

    # ---- references --------------------------------------------------------------------------
    def bend_vector(self, name, tok, neighbour=False):
        """Row 256 (predict_variant_effects.py's --embedding_idx) of BEND's upsampled embedding
        of one window: each token's vector bend_rows times, the special tokens' rows cut.
        A GENA-LM window with a run of >= 10 N comes out shorter in BEND (its '-' gets one row)
        and row 256 is then another nucleotide's; bend keeps '-' over its whole run
        (docs/differences.md), so there the row is the token covering nucleotide 256. With
        `neighbour` (a deliberately wrong reference) the row of the next token."""
        hidden = self.model[name](tok.ids)  # [n_tokens, hidden]
        rows = np.concatenate([hidden[[i]] for i, n in enumerate(tok.bend_rows) for _ in range(n)])
        n_special = sum(1 for n in tok.n_bp if n == 0)
        rows = rows[1:1 + len(rows) - n_special]  # [CLS] (<cls>) first, [SEP] last
        i, start = tok.token_at(256)
        if len(rows) != 513:
            self.assertIn("-", tok.tokens)
            return hidden[i + (1 if neighbour else 0)]
        return rows[start + tok.n_bp[i] if neighbour else 256]

    def cosine_ref(self, name, mode="right"):
        """Reference cosine per row; mode 'neighbour' (the next token's vector) and 'no_alt'
        (the ref window embedded as the alt) are the wrong references."""
        out = []
        for ref_tok, alt_tok in self.tokenized(name):
            if mode == "no_alt":
                alt_tok = ref_tok
            nb = mode == "neighbour"
            out.append(cosine(self.bend_vector(name, alt_tok, nb), self.bend_vector(name, ref_tok, nb)))
        return out

    def llr_ref(self, name, mask=True):
        """log P(alt token) - log P(ref token) at the masked token covering the variant."""
        vocab = self.vocab(name)
        mask_id = vocab["<mask>" if name.startswith("nt") else "[MASK]"]
        encoder = MODELS[name][5]

        def logits(ids):
            return mlm_logits(encoder, self.weights[name], self.cfg[name], self.model[name](ids))
        out = []
        for (tok, _), row in zip(self.tokenized(name), self.rows):
            i, start = tok.token_at(256)
            out.append(masked_llr(logits, tok.ids, i, mask_id, tok.tokens[i], tok.n_bp[i], 256 - start,
                                  row[4], vocab, mask))
        return out

    def check_cosine(self, name):
        got = [float(t["cosine"]) for t in self.tables[name]]
        self.assertEqual(len(got), len(self.rows))
        for t, r in zip(self.tables[name], self.rows):
            self.assertEqual([t[h] for h in HEADER], r)
        want = self.cosine_ref(name)
        worst = max(abs(g - w) for g, w in zip(got, want))
        print(f"  {name} cosine: max |bend - reference| = {worst:.2e} over {len(got)} variants")
        self.assertEqual(mismatches(got, want, COS_TOL), [], name)
        self.assertGreater(min(want), 1e-6, "every variant changes its vector")
        for mode in ("neighbour", "no_alt"):
            wrong = mismatches(got, self.cosine_ref(name, mode), COS_TOL)
            self.assertGreater(len(wrong), 0, f"{name}: the '{mode}' reference must fail")

    def check_llr(self, name, got=None, want=None, wrong=None):
        if got is None:
            got = [float(t["llr"]) for t in self.tables[name]]
            want, wrong = self.llr_ref(name), self.llr_ref(name, mask=False)
        finite = [(g, w) for g, w in zip(got, want) if not math.isnan(w)]
        worst = max(abs(g - w) for g, w in finite)
        print(f"  {name} llr: max |bend - reference| = {worst:.2e}, "
              f"{len(got) - len(finite)} of {len(got)} NaN (no alt token)")
        self.assertEqual(mismatches(got, want, LLR_TOL), [], name)
        self.assertGreaterEqual(len(finite), len(got) // 2)
        self.assertGreater(max(abs(w) for _, w in finite), 1e-2)
        self.assertGreater(len(mismatches(got, wrong, LLR_TOL)), 0, f"{name}: the unmasked reference must fail")

    def run_variants(self, name, model, ckpt, rows, score="llr"):
        bed = os.path.join(self.work, name + ".bed")
        with open(bed, "w") as f:
            f.write("\t".join(HEADER) + "\n" + "".join("\t".join(r) + "\n" for r in rows))
        out = os.path.join(self.work, name + "_out")
        bt.bend(["variants", "--bed", bed, "--genome", FASTA, "--model", model, "--checkpoint", ckpt,
                 "--out", out, "--score", score, "--bootstrap", "10"])
        table = read_table(os.path.join(out, "scores.tsv"))
        self.assertEqual(len(table), len(rows))
        return [float(t[score]) for t in table]

    # ---- tests -----------------------------------------------------------------------------------
    def test_nt_v1_and_v2_cosine_at_the_6mer_covering_the_variant(self):
        for name in ("nt1", "nt2"):
            self.check_cosine(name)
            toks = self.tokenized(name)
            i, start = toks[0][0].token_at(256)
            self.assertEqual((i, start), (1 + 42, 252), "N-free: 6-mer 42 holds base 256 at offset 4")
            i, start = toks[8][0].token_at(256)  # 196 N, then 6-mers from base 196
            self.assertEqual(start, 196 + 60)

    def test_nt_v1_and_v2_masked_llr(self):
        for name in ("nt1", "nt2"):
            self.check_llr(name)

    def test_dnabert2_cosine_at_the_bpe_token_covering_the_variant(self):
        self.check_cosine("dnabert2")
        toks = self.tokenized("dnabert2")
        inner = [(i, s, t) for t, _ in toks for i, s in [t.token_at(256)] if s < 256 < s + t.n_bp[i] - 1]
        self.assertGreater(len(inner), 0, "a variant inside a multi-nucleotide token")
        retok = sum(r.tokens != a.tokens and len(r.tokens) != len(a.tokens) for r, a in toks)
        self.assertGreater(retok, 0, "an alt window tokenized into a different number of tokens")
        self.assertIn("[UNK]", toks[8][0].tokens, "N: one [UNK] each")

    def test_dnabert2_masked_llr(self):
        self.check_llr("dnabert2")

    def test_gena_lm_cosine_and_the_n_run_row(self):
        self.check_cosine("gena")
        toks = self.tokenized("gena")
        ref_tok = toks[8][0]
        self.assertEqual(ref_tok.tokens[1], "-", "196 N are one '-' token")
        # BEND's own row 256 of this window is that of nucleotide 256 + 195: '-' gets one row.
        self.assertNotEqual(ref_tok.bend_token_at_row(256), ref_tok.token_at(256)[0])
        self.assertEqual(toks[0][0].bend_token_at_row(256), toks[0][0].token_at(256)[0])

    def test_gena_lm_masked_llr(self):
        self.check_llr("gena")

    def test_awdlstm_cosine_at_the_variant_own_vector(self):
        ckpt = os.path.join(self.work, "awdlstm")
        bt.bend(["model", "init", "--arch", "awdlstm", "--out", ckpt, "--seed", "5", "--set", "hidden_size=24",
                 "--set", "input_size=16", "--set", "num_hidden_layers=2", "--set", "initializer_range=0.4"])
        out = os.path.join(self.work, "awd_out")
        bt.bend(["variants", "--bed", self.bed, "--genome", FASTA, "--model", "awdlstm", "--checkpoint", ckpt,
                 "--out", out, "--bootstrap", "10"])
        got = [float(t["cosine"]) for t in read_table(os.path.join(out, "scores.tsv"))]
        with open(os.path.join(ckpt, "config.json")) as f:
            cfg = json.load(f)
        model = AwdLstmReference(cfg, read_safetensors(os.path.join(ckpt, "model.safetensors")))
        tok = os.path.join(ckpt, "tokenizer.json")
        want, blind = [], []
        for row in self.rows:  # causal: 512 bp to the left, the alt base last
            p = int(row[1])
            ref = bt.samtools_seq(FASTA, "chr2", p - 512, p + 1, False)
            alt = ref[:-1] + row[4]
            e_ref, e_alt = model.forward(char_ids(tok, ref)), model.forward(char_ids(tok, alt))
            want.append(cosine(e_alt[512], e_ref[512]))
            blind.append(cosine(e_alt[511], e_ref[511]))  # BEND's index 511 (--bend-compat)
        self.assertEqual(mismatches(got, want, COS_TOL), [])
        self.assertGreater(len(mismatches(got, blind, COS_TOL)), 0)

    def test_grover_masked_llr_at_the_greedy_token_covering_the_variant(self):
        ckpt = os.path.join(self.work, "grover")
        tok_dir = test_grover.write_grover_vocab(os.path.join(self.work, "grover_vocab"))
        bt.bend(["model", "init", "--arch", "grover", "--config", test_grover.BERT_CONFIG, "--out", ckpt,
                 "--tokenizer", tok_dir, "--seed", "11", *test_grover.SMALL])
        got = self.run_variants("grover", "grover", ckpt, self.rows)
        ref = test_grover.GroverReference(ckpt)  # BEND's GROVEREmbedder: max_match, [CLS] .. [SEP]

        def logits(ids):
            return ref.head(ref.model(ids)).numpy()
        want, wrong = [], []
        for (seq, _), row in zip(self.win, self.rows):
            tokens = ["[CLS]"] + ref.max_match(seq) + ["[SEP]"]
            tok = Tokenized([ref.vocab[t] for t in tokens], tokens, seq, {"[CLS]", "[SEP]"})
            i, start = tok.token_at(256)
            for out, mask in ((want, True), (wrong, False)):
                out.append(masked_llr(logits, tok.ids, i, ref.vocab["[MASK]"], tokens[i], tok.n_bp[i],
                                      256 - start, row[4], ref.vocab, mask))
        self.check_llr("grover", got, want, wrong)

    def test_gpn_masked_llr_at_the_variant_base(self):
        # GPN's own zero-shot score (Benegas et al.): the variant's base masked, log P(alt) - log P(ref).
        config = os.path.join(self.work, "gpn.json")
        with open(config, "w") as f:
            json.dump({"model_type": "GPN", "vocab_size": 7, "hidden_size": 24, "num_hidden_layers": 4,
                       "intermediate_size": 40, "initializer_range": 0.3, "dilation_cycle": 3}, f)
        ckpt = os.path.join(self.work, "gpn")
        bt.bend(["model", "init", "--arch", "gpn", "--config", config, "--out", ckpt, "--seed", "9"])
        got = self.run_variants("gpn", "gpn", ckpt, self.rows)
        model, vocab = gpn_reference.GpnReference(ckpt), gpn_reference.VOCAB
        want, wrong = [], []
        for (seq, _), row in zip(self.win, self.rows):
            for out, mask in ((want, True), (wrong, False)):
                out.append(masked_llr(model.logits, gpn_reference.tokenize(seq), 256, vocab["[MASK]"],
                                      seq[256].lower(), 1, 0, row[4].lower(), vocab, mask))
        self.check_llr("gpn", got, want, wrong)

    def test_caduceus_masked_llr_at_the_variant_base(self):
        ckpt = os.path.join(self.work, "caduceus")
        bt.bend(["model", "init", "--arch", "caduceus", "--config",
                 os.path.join(HERE, "..", "models", "configs", "caduceus-ps.json"), "--out", ckpt, "--seed", "4",
                 "--set", "d_model=16", "--set", "n_layer=2", "--initializer-range", "0.3"])
        rows, win = self.rows[::3], self.win[::3]  # the python scan is slow: 4 variants, one near the N run
        got = self.run_variants("caduceus", "caduceus", ckpt, rows)
        with open(os.path.join(ckpt, "config.json")) as f:
            cfg = json.load(f)
        model = caduceus_reference.CaduceusReference(cfg, read_safetensors(os.path.join(ckpt, "model.safetensors")))
        vocab = caduceus_reference.VOCAB  # A C G T N = 7..11; [MASK] = 3 (CharacterTokenizer)

        def logits(ids):
            with torch.no_grad():
                return model.logits(model.hidden(ids)).numpy()
        want, wrong = [], []
        for (seq, _), row in zip(win, rows):
            for out, mask in ((want, True), (wrong, False)):
                out.append(masked_llr(logits, caduceus_reference.tokenize(seq), 256, 3, seq[256], 1, 0, row[4],
                                      vocab, mask))
        self.check_llr("caduceus", got, want, wrong)


if __name__ == "__main__":
    unittest.main(verbosity=2)
