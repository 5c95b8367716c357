"""`bend variants` end to end on the real hg38 region the tests ship (chr2:1-2,333,275).

The reference follows BEND's scripts/predict_variant_effects.py step by step: the window is the
variant extended by 256 bp on each side (samtools faidx), the alt base replaces the centre base,
both sequences are embedded (one-hot here; BEND's ResNet LM by an independent torch.nn model),
and the score is scipy.spatial.distance.cosine(alt[256], ref[256]). AUROCs are checked against
sklearn.metrics.roc_auc_score on the written table.
"""
import csv
import gzip
import json
import math
import os
import random
import sys
import unittest

import numpy as np
import torch
from scipy.spatial import distance
from sklearn.metrics import roc_auc_score

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "app"))
sys.path.insert(0, os.path.join(HERE, "..", "models"))
import bendtest as bt  # noqa: E402
from test_resnetlm_reference import ReferenceResNetLM, read_safetensors, tokenize  # noqa: E402
import transformer_reference  # noqa: E402
from causal_lm_reference import HyenaReference  # noqa: E402

FASTA = os.path.join(bt.TEST_DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
HEADER = ["chromosome", "start", "end", "ref", "alt", "label", "consequence", "note"]
CATEGORIES = ["intron", "UTR", "missense"]


def make_variants(n, seed):
    """n SNVs at random positions of chr2 past the leading N run, REF from samtools, seeded
    labels (correlated with nothing) and categories."""
    rng = random.Random(seed)
    pos = sorted(rng.sample(range(20000, 2300000), n))
    regions = ["chr2:%d-%d" % (p + 1, p + 1) for p in pos]
    out = bt.run(["samtools", "faidx", FASTA] + regions).stdout.split("\n")
    refs = [line.strip().upper() for line in out if line and not line.startswith(">")]
    rows = []
    for p, ref in zip(pos, refs):
        if ref not in "ACGT":
            continue
        alt = rng.choice([b for b in "ACGT" if b != ref])
        rows.append(["chr2", str(p), str(p + 1), ref, alt, str(rng.randint(0, 1)),
                     rng.choice(CATEGORIES), "n%d" % p])
    return rows


def write_bed(path, rows, header=HEADER):
    with open(path, "w") as f:
        f.write("\t".join(header) + "\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    return path


def load_json(path):
    with open(path) as f:
        return json.load(f)


def read_table(path, delimiter="\t"):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def bend_window(row, left=256, right=256):
    """BEND: Annotation.extend_segments + get_dna_segment, then dna_alt[len // 2] = alt."""
    p = int(row[1])
    ref = bt.samtools_seq(FASTA, "chr2", p - left, p + 1 + right, False)
    alt = list(ref)
    alt[len(alt) // 2 if left == right else -1] = row[4]
    return ref, "".join(alt)


class Variants(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir()
        cls.rows = make_variants(36, seed=16)
        cls.bed = write_bed(os.path.join(cls.work, "variants.bed"), cls.rows)
        cls.ckpt = os.path.join(cls.work, "resnetlm")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", cls.ckpt, "--hidden-size", "32",
                 "--n-layers", "4", "--seed", "7"])
        cls.outs = {}
        for n in (1, 2, 3):
            out = os.path.join(cls.work, "resnet_np%d" % n)
            cls.outs[n] = out
            cls.last = bt.bend(cls.args(out, "resnetlm", "--checkpoint", cls.ckpt, "--score", "cosine,l2",
                                        "--shard-rows", "5", "--batch-nt", "3000", "--category",
                                        "consequence"), np_ranks=n)

    @classmethod
    def args(cls, out, model, *extra, bed=None):
        return ["variants", "--bed", bed or cls.bed, "--genome", FASTA, "--model", model, "--out", out,
                "--bootstrap", "200", "--seed", "3"] + list(extra)

    def test_resnetlm_scores_equal_a_torch_reference_following_bends_script(self):
        table = read_table(os.path.join(self.outs[1], "scores.tsv"))
        self.assertEqual(len(table), len(self.rows))
        cfg = load_json(os.path.join(self.ckpt, "config.json"))
        weights = read_safetensors(os.path.join(self.ckpt, "model.safetensors"))
        prefix = "model." if any(k.startswith("model.") for k in weights) else ""
        model = ReferenceResNetLM(cfg).load(weights, prefix)
        tok = os.path.join(self.ckpt, "tokenizer.json")
        for row, got in zip(self.rows, table):
            self.assertEqual([got[h] for h in HEADER], row, "input columns are kept as given")
            ref, alt = bend_window(row)
            self.assertEqual(len(ref), 513)
            e_ref = model.forward(tokenize(tok, ref))
            e_alt = model.forward(tokenize(tok, alt))
            want_cos = distance.cosine(e_alt[256].astype(np.float64), e_ref[256].astype(np.float64))
            want_l2 = float(np.linalg.norm(e_alt[256].astype(np.float64) - e_ref[256]))
            self.assertGreater(want_cos, 1e-6, "the variant changes its own vector")
            self.assertAlmostEqual(float(got["cosine"]), want_cos, delta=1e-5 + 1e-4 * want_cos)
            self.assertAlmostEqual(float(got["l2"]), want_l2, delta=1e-4 + 1e-4 * want_l2)

    def test_dnabert6_compares_bends_kmer_254_with_the_variant_at_its_third_base(self):
        ckpt = os.path.join(self.work, "dnabert6")
        tok_dir = os.path.join(bt.TEST_DATA, "tokenizers", "dnabert-6")
        bt.bend(["model", "init", "--arch", "dnabert", "--out", ckpt, "--config", os.path.join(tok_dir, "config.json"),
                 "--tokenizer", tok_dir, "--seed", "3", "--set", "num_hidden_layers=2", "--set", "hidden_size=48",
                 "--set", "num_attention_heads=4", "--set", "intermediate_size=64", "--set", "initializer_range=0.15"])
        rows = self.rows[:6]
        out = os.path.join(self.work, "dnabert6_out")
        bt.bend(self.args(out, "dnabert", "--checkpoint", ckpt,
                          bed=write_bed(os.path.join(self.work, "dnabert.bed"), rows)), np_ranks=2)
        table = read_table(os.path.join(out, "scores.tsv"))
        cfg = load_json(os.path.join(ckpt, "config.json"))
        vocab = {t: i for i, t in enumerate(bt.read_text(os.path.join(tok_dir, "vocab.txt")).split())}
        model = transformer_reference.reference("bert", ckpt, cfg)

        def embed(seq):  # BEND's DNABertEmbedder: [CLS] k-mers [SEP], special tokens removed
            ids = [vocab["[CLS]"]] + [vocab.get(seq[i:i + 6], vocab["[UNK]"]) for i in range(len(seq) - 5)]
            return model(ids + [vocab["[SEP]"]])[1:-1]
        for row, got in zip(rows, table):
            ref, alt = bend_window(row)
            self.assertEqual(alt[254:260][2], row[4], "k-mer 254 holds the variant at its 3rd base")
            want = distance.cosine(embed(alt)[254].astype(np.float64), embed(ref)[254].astype(np.float64))
            self.assertAlmostEqual(float(got["cosine"]), want, delta=1e-5 + 1e-3 * want)

    def test_onehot_compares_the_variant_base_itself(self):
        out = os.path.join(self.work, "onehot")
        bt.bend(self.args(out, "onehot", "--score", "l2,cosine"))
        table = read_table(os.path.join(out, "scores.tsv"))
        self.assertEqual(list(table[0])[-2:], ["l2", "cosine"])
        for row, got in zip(self.rows, table):
            ref, alt = bend_window(row)
            e_ref, e_alt = bt.onehot(ref), bt.onehot(alt)
            self.assertAlmostEqual(float(got["cosine"]), distance.cosine(e_alt[256], e_ref[256]), delta=1e-12)
            self.assertAlmostEqual(float(got["l2"]), math.sqrt(float(np.sum((e_alt[256] - e_ref[256]) ** 2))), delta=1e-9)
            self.assertEqual(float(got["cosine"]), 1.0)  # the vectors one base away would be equal
        gz_out = os.path.join(self.work, "onehot_gz")
        r = bt.bend(self.args(gz_out, "onehot", "--score", "l2,cosine", "--gzip"), np_ranks=2)
        # every row fits the default 2048-row shard: rank 1 gets nothing, and the run says so
        self.assertIn("1 shard to do for 2 ranks: 1 rank will have no work (--shard-rows", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(gz_out, "scores.tsv")))
        with gzip.open(os.path.join(gz_out, "scores.tsv.gz")) as f:
            self.assertEqual(f.read(), bt.read_bytes(os.path.join(out, "scores.tsv")))
        self.assertEqual(bt.read_bytes(os.path.join(gz_out, "auroc.csv")), bt.read_bytes(os.path.join(out, "auroc.csv")))

    def test_bytes_identical_for_1_2_and_3_ranks(self):
        names = sorted(os.listdir(self.outs[1]))
        self.assertIn("scores.tsv", names)
        self.assertIn("auroc.csv", names)
        self.assertGreaterEqual(sum(n.startswith("scores-") for n in names), 7)
        for n in (2, 3):
            self.assertEqual(sorted(os.listdir(self.outs[n])), names)
            for name in names:
                if name == "manifest.json":
                    continue
                self.assertEqual(bt.read_bytes(os.path.join(self.outs[1], name)),
                                 bt.read_bytes(os.path.join(self.outs[n], name)), "%s, np %d" % (name, n))
        manifest = load_json(os.path.join(self.outs[3], "manifest.json"))
        self.assertEqual(manifest["status"], "complete")
        self.assertEqual(manifest["params"]["window"], [256, 256, 256])

    def test_auroc_equals_sklearn_overall_and_per_category(self):
        table = read_table(os.path.join(self.outs[1], "scores.tsv"))
        got = {(r["score"], r["category"]): r for r in read_table(os.path.join(self.outs[1], "auroc.csv"), ",")}
        self.assertEqual(len(got), 2 * (1 + len(CATEGORIES)))
        for score in ("cosine", "l2"):
            for cat in ["all"] + CATEGORIES:
                sub = [r for r in table if cat == "all" or r["consequence"] == cat]
                y = [int(r["label"]) for r in sub]
                s = [float(r[score]) for r in sub]
                want = roc_auc_score(y, s)
                row = got[(score, cat)]
                self.assertAlmostEqual(float(row["auroc"]), want, delta=1e-9, msg="%s %s" % (score, cat))
                self.assertEqual(int(row["n_pos"]), sum(y))
                self.assertEqual(int(row["n_neg"]), len(y) - sum(y))
                self.assertLessEqual(float(row["ci_low"]), float(row["ci_high"]))
        self.assertIn("AUROC", self.last.stdout, "the table is printed")

    def test_chr_prefix_differences_are_matched_and_reported(self):
        rows = [["2"] + r[1:] for r in self.rows[:8]]
        bed = write_bed(os.path.join(self.work, "nochr.bed"), rows)
        out = os.path.join(self.work, "nochr")
        r = bt.bend(self.args(out, "onehot", bed=bed))
        self.assertIn("contig '2'", r.stderr)
        self.assertIn("'chr2'", r.stderr)
        table = read_table(os.path.join(out, "scores.tsv"))
        self.assertEqual([t["chromosome"] for t in table], ["2"] * 8)
        self.assertEqual({t["cosine"] for t in table}, {"1"})
        manifest = load_json(os.path.join(out, "manifest.json"))
        self.assertEqual(manifest["variants"]["contigs_renamed"], [{"file": "2", "fasta": "chr2", "rows": 8}])

    def test_ref_mismatch_is_refused_listed_and_scored_when_allowed(self):
        rows = [list(r) for r in self.rows[:6]]
        wrong = [b for b in "ACGT" if b not in (rows[2][3], rows[2][4])][0]
        rows[2][3] = wrong
        bed = write_bed(os.path.join(self.work, "mismatch.bed"), rows)
        out = os.path.join(self.work, "mismatch")
        for np_ranks in (1, 2):
            r = bt.bend(self.args(out, "onehot", bed=bed), np_ranks=np_ranks, check=False)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("1 of 6 variants have a REF that differs", r.stderr)
            self.assertIn("mismatch.bed:4", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(out, "scores.tsv")))
        listed = bt.read_text(os.path.join(out, "ref_mismatches.tsv")).splitlines()
        self.assertEqual(listed[1].split("\t"), ["4", "chr2", str(int(rows[2][1]) + 1), wrong, self.rows[2][3]])
        bt.bend(self.args(out, "onehot", "--allow-ref-mismatch", bed=bed))
        table = read_table(os.path.join(out, "scores.tsv"))
        self.assertEqual(len(table), 6)
        self.assertEqual(table[2]["cosine"], "1")

    def test_bad_rows_name_file_and_line(self):
        cases = [
            (["chr2", "30000", "30002", "A", "G", "1", "x", "y"], "a variant row covers one base"),
            (["chr2", "30000", "30001", "A", "GT", "1", "x", "y"], "alt 'GT' is not one base"),
            (["chr2", "30000", "30001", "A", "G", "1", "x"], "7 tab-separated fields, the header has 8"),
            (["chr9", "30000", "30001", "A", "G", "1", "x", "y"], "chromosome 'chr9' is not in"),
        ]
        for i, (bad, msg) in enumerate(cases):
            bed = write_bed(os.path.join(self.work, "bad%d.bed" % i), self.rows[:3] + [bad])
            for np_ranks in (1, 2):
                r = bt.bend(self.args(os.path.join(self.work, "bad%d" % i), "onehot", bed=bed),
                            np_ranks=np_ranks, check=False)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn("bend: error: ", r.stderr)
                self.assertIn("bad%d.bed:5: %s" % (i, msg), r.stderr)
                self.assertEqual(r.stderr.count("bend: error"), 1, r.stderr)

    def test_an_embed_output_directory_is_not_taken_over(self):
        out = os.path.join(self.work, "embed_dir")
        os.makedirs(out)
        with open(os.path.join(out, "manifest.json"), "w") as f:
            json.dump({"format": "bend-embed-manifest", "params": {}}, f)
        r = bt.bend(self.args(out, "onehot"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a bend variants manifest", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "scores.tsv")))

    def test_variants_near_a_contig_end_are_listed_and_na(self):
        rows = [["chr2", "100", "101", "N", "A", "1", "x", "y"]] + self.rows[:3]
        bed = write_bed(os.path.join(self.work, "edge.bed"), rows)
        out = os.path.join(self.work, "edge")
        bt.bend(self.args(out, "onehot", bed=bed))
        table = read_table(os.path.join(out, "scores.tsv"))
        self.assertEqual(table[0]["cosine"], "NA")
        self.assertEqual(len(table), 4)
        skipped = bt.read_text(os.path.join(out, "skipped.tsv")).splitlines()
        self.assertEqual(skipped[1].split("\t")[:3], ["2", "chr2", "101"])

    def test_causal_model_compares_the_variant_own_vector_bend_compat_a_blind_one(self):
        ckpt = os.path.join(self.work, "awdlstm")
        bt.bend(["model", "init", "--arch", "awdlstm", "--out", ckpt, "--seed", "5", "--set", "hidden_size=24",
                 "--set", "input_size=16", "--set", "num_hidden_layers=2", "--set", "initializer_range=0.4"])
        scores = {}
        for name, extra in (("own", []), ("compat", ["--bend-compat"])):
            out = os.path.join(self.work, "awd_" + name)
            bt.bend(self.args(out, "awdlstm", "--checkpoint", ckpt, "--score", "cosine,l2", *extra,
                              bed=write_bed(os.path.join(self.work, "awd.bed"), self.rows[:8])))
            scores[name] = read_table(os.path.join(out, "scores.tsv"))
            window = load_json(os.path.join(out, "manifest.json"))["params"]["window"]
            self.assertEqual(window, [512, 0, 511 if extra else 512])
        for own, compat in zip(scores["own"], scores["compat"]):
            self.assertLess(abs(float(compat["cosine"])), 1e-6, "vector 511 cannot see the alt base at 512")
            self.assertLess(abs(float(compat["l2"])), 1e-5)
            self.assertGreater(float(own["cosine"]), 1e-6)

    HYENA_CFG = dict(d_model=16, n_layer=2, d_inner=40, vocab_size=12, max_seq_len=1026, emb_dim=3, filter_order=8,
                     num_inner_mlps=1, hyena_order=2, short_filter_order=3, activation_freq=10,
                     pad_vocab_size_multiple=8, initializer_range=0.3)

    def hyena_checkpoint(self):
        ckpt = os.path.join(self.work, "hyena")
        if not os.path.exists(os.path.join(ckpt, "config.json")):
            config = os.path.join(self.work, "hyena.json")
            with open(config, "w") as f:
                json.dump(self.HYENA_CFG, f)
            bt.bend(["model", "init", "--arch", "hyenadna", "--out", ckpt, "--config", config, "--seed", "3"])
        return ckpt

    def test_rows_sharing_a_window_score_as_if_alone(self):
        # Three alts at each of four sites (a split multi-allelic site), one site listed again
        # after another row: the ref window of consecutive rows is embedded once; shards of 4 rows
        # and batches of 1-2 sequences put shared refs across batch and shard boundaries.
        rows = []
        for base in self.rows[:4]:
            rows += [base[:4] + [alt] + base[5:] for alt in "ACGT" if alt != base[3]]
        rows += [self.rows[5], rows[0]]
        bed = write_bed(os.path.join(self.work, "multi.bed"), rows)
        outs = {}
        for n in (1, 2):
            outs[n] = os.path.join(self.work, "multi_np%d" % n)
            bt.bend(self.args(outs[n], "resnetlm", "--checkpoint", self.ckpt, "--score", "cosine,l2", "--shard-rows",
                              "4", "--batch-nt", "1100", bed=bed), np_ranks=n)
        self.assertEqual(bt.read_bytes(os.path.join(outs[1], "scores.tsv")),
                         bt.read_bytes(os.path.join(outs[2], "scores.tsv")))
        table = read_table(os.path.join(outs[1], "scores.tsv"))
        cfg = load_json(os.path.join(self.ckpt, "config.json"))
        weights = read_safetensors(os.path.join(self.ckpt, "model.safetensors"))
        model = ReferenceResNetLM(cfg).load(weights, "model." if any(k.startswith("model.") for k in weights) else "")
        tok = os.path.join(self.ckpt, "tokenizer.json")
        self.assertEqual(len(table), len(rows))
        for row, got in zip(rows, table):
            self.assertEqual([got[h] for h in HEADER], row)
            ref, alt = bend_window(row)
            e_ref, e_alt = model.forward(tokenize(tok, ref)), model.forward(tokenize(tok, alt))
            want = distance.cosine(e_alt[256].astype(np.float64), e_ref[256].astype(np.float64))
            self.assertAlmostEqual(float(got["cosine"]), want, delta=1e-5 + 1e-4 * want)
        # llr (causal LM, ref windows only): shared refs give what the same rows give apart.
        ckpt = self.hyena_checkpoint()
        apart = rows[0::3] + rows[1::3] + rows[2::3]  # no two consecutive rows share a site
        got = {}
        for name, rs in (("shared", rows), ("apart", apart)):
            out = os.path.join(self.work, "multi_llr_" + name)
            bt.bend(self.args(out, "hyenadna", "--checkpoint", ckpt, "--score", "llr", "--shard-rows", "4",
                              "--batch-nt", "1100", bed=write_bed(os.path.join(self.work, name + ".bed"), rs)))
            got[name] = {(r["start"], r["alt"]): float(r["llr"]) for r in read_table(os.path.join(out, "scores.tsv"))}
        self.assertEqual(sorted(got["shared"]), sorted(got["apart"]))
        for k, v in got["shared"].items():
            self.assertAlmostEqual(v, got["apart"][k], delta=1e-5, msg=str(k))
        self.assertGreater(len(set(round(v, 6) for v in got["shared"].values())), 4)

    def test_hyenadna_llr_is_the_next_base_log_likelihood_ratio(self):
        cfg = self.HYENA_CFG
        ckpt = self.hyena_checkpoint()
        rows = self.rows[:5]
        out = os.path.join(self.work, "hyena_out")
        bt.bend(self.args(out, "hyenadna", "--checkpoint", ckpt, "--score", "llr,cosine",
                          bed=write_bed(os.path.join(self.work, "hyena.bed"), rows)), np_ranks=2)
        table = read_table(os.path.join(out, "scores.tsv"))
        weights = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        model = HyenaReference(cfg, weights, "hyena.backbone.")
        head = torch.from_numpy(weights["hyena.backbone.embeddings.word_embeddings.weight"])
        ids = {"A": 7, "C": 8, "G": 9, "T": 10, "N": 11}  # HyenaDNA's character vocabulary
        for row, got in zip(rows, table):
            ref, alt = bend_window(row, left=512, right=0)
            self.assertEqual(alt[-1], row[4])
            with torch.no_grad():
                h_ref = model.forward([[0] + [ids[c] for c in ref] + [1]])[0]  # [CLS] bases [SEP]
                h_alt = model.forward([[0] + [ids[c] for c in alt] + [1]])[0]
            logits = h_ref[512] @ head.T  # token 512 = base 511: the prediction of base 512
            want_llr = float(logits[ids[row[4]]] - logits[ids[row[3]]])
            self.assertAlmostEqual(float(got["llr"]), want_llr, delta=1e-4 + 1e-4 * abs(want_llr))
            want_cos = distance.cosine(h_alt[513].double().numpy(), h_ref[513].double().numpy())  # base 512
            self.assertAlmostEqual(float(got["cosine"]), want_cos, delta=1e-5 + 1e-3 * want_cos)
        self.assertGreater(max(abs(float(t["llr"])) for t in table), 1e-3)
        r = bt.bend(self.args(os.path.join(self.work, "llr_bad"), "resnetlm", "--checkpoint", self.ckpt, "--score",
                              "llr"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--score llr: needs a model with a language-model head", r.stderr)

    def test_nt_masked_llr_masks_the_6mer_covering_the_variant(self):
        # Masked-LM llr as the Nucleotide Transformer authors score zero-shot effects: in the ref
        # window the 6-mer token covering the variant is replaced by <mask>; the score is
        # logit(alt 6-mer) - logit(ref 6-mer) of the head at that token (= log P(alt) - log P(ref),
        # the softmax's normalizer cancels). Reference: InstaDeep's 6-mer rule, esm encoder and
        # EsmLMHead written in python3-torch (tests/models), on a seeded NT v2 checkpoint.
        sys.path.insert(0, os.path.join(HERE, "..", "tokenize"))
        from test_hf_tokenizers import nt_instadeep, nt_vocab
        from test_lm_outputs import mlm_logits
        ckpt = os.path.join(self.work, "nt2")
        bt.bend(["model", "init", "--arch", "nt", "--out", ckpt, "--config",
                 os.path.join(HERE, "..", "models", "configs", "nt-v2-small.json"), "--seed", "4",
                 "--set", "initializer_range=0.3"])
        rows = self.rows[:8]
        out = os.path.join(self.work, "nt2_llr")
        bt.bend(self.args(out, "nt", "--checkpoint", ckpt, "--score", "llr,cosine",
                          bed=write_bed(os.path.join(self.work, "nt2.bed"), rows)), np_ranks=2)
        table = read_table(os.path.join(out, "scores.tsv"))
        cfg = load_json(os.path.join(ckpt, "config.json"))
        weights = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        model = transformer_reference.reference("esm", ckpt, cfg)
        vocab = {t: i for i, t in enumerate(nt_vocab(2))}
        for row, got in zip(rows, table):
            ref, _ = bend_window(row)
            tokens = nt_instadeep(ref)
            self.assertEqual(tokens[42], ref[252:258], "6-mer 42 covers base 256 at offset 4")
            ids = [vocab["<cls>"]] + [vocab[t] for t in tokens]
            ids[1 + 42] = vocab["<mask>"]
            logits = mlm_logits("esm", weights, cfg, model(ids))[1 + 42]
            alt6 = ref[252:256] + row[4] + ref[257:258]
            want = float(logits[vocab[alt6]]) - float(logits[vocab[ref[252:258]]])
            self.assertAlmostEqual(float(got["llr"]), want, delta=1e-4 + 1e-4 * abs(want))
        self.assertGreater(max(abs(float(t["llr"])) for t in table), 1e-2)
        r = bt.bend(self.args(os.path.join(self.work, "llr_dnabert"), "dnabert", "--checkpoint", ckpt, "--score",
                              "llr"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("overlapping k-mers", r.stderr)

    def test_rerun_resumes_and_other_parameters_are_refused(self):
        out = os.path.join(self.work, "resume")
        bt.bend(self.args(out, "onehot", "--shard-rows", "4"))
        before = bt.read_bytes(os.path.join(out, "scores.tsv"))
        # a run killed after some shards: drop the table, two shard files and their manifest entries
        m = load_json(os.path.join(out, "manifest.json"))
        m["status"] = "running"
        for s in m["shards"][2:4]:
            os.remove(os.path.join(out, s["file"]))
        m["shards"] = m["shards"][:2] + m["shards"][4:]
        with open(os.path.join(out, "manifest.json"), "w") as f:
            json.dump(m, f)
        os.remove(os.path.join(out, "scores.tsv"))
        r = bt.bend(self.args(out, "onehot", "--shard-rows", "4"))
        self.assertIn("resuming: %d of %d shards" % (len(m["shards"]), len(m["shards"]) + 2), r.stderr)
        self.assertEqual(bt.read_bytes(os.path.join(out, "scores.tsv")), before)
        r = bt.bend(self.args(out, "onehot", "--shard-rows", "5"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("shard_rows: 4 -> 5", r.stderr)


if __name__ == "__main__":
    unittest.main()
