"""`--output logits | loss`: the language-model heads of the transformer models and HyenaDNA,
and `--tokenizer` for TorchScript modules.

The references are written here from the published head architectures, on top of the hidden
states of transformer_reference.py / causal_lm_reference.py:
  BERT, GENA-LM, BigBird (Hugging Face BertLMPredictionHead): dense -> ACT2FN[hidden_act] ->
    LayerNorm(layer_norm_eps) -> decoder (tied to the word embeddings) + cls.predictions.bias
  DNABERT-2 (bert_layers.py): the same with LayerNorm eps 1e-12 and the bias on the decoder
  ESM / Nucleotide Transformer (EsmLMHead): dense -> erf GELU -> layer_norm -> decoder + bias
    (NT configs: tie_word_embeddings false, their own lm_head.decoder.weight)
  HyenaDNA (HyenaDNAForCausalLM): lm_head tied to the word embeddings, no bias; the vector of
    token t is the prediction made at t - 1.
Per-token loss is torch's F.cross_entropy of the input id itself (nothing masked), over the
whole vocabulary: `--rules corrected` (test_bend_rules.py checks BEND's non-special softmax).
Required: max |bend - reference| <= 1e-4 (float32) at two lengths alone and in padded batches,
through the Embedders (BEND's upsampling) and `bend embed --output loss` end to end.
"""
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "app"))
import bendtest as bt  # noqa: E402
import transformer_reference as ref  # noqa: E402
from causal_lm_reference import (HyenaReference, read_safetensors, tool,  # noqa: E402
                                 write_safetensors)
from test_transformer_reference import (CASES, SMALL, init_args, random_ids,  # noqa: E402
                                        run_script)

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")  # tests/data: real test data
TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_transformer")
TOK = os.path.join(DATA, "tokenizers")
GENOME = os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
TOL = 1e-4
HEAD_CASES = ["dnabert6", "gena_preln_lastln", "bigbird", "nt_v1", "nt_v2", "dnabert2"]
VOCAB_FILES = {"dnabert6": os.path.join(TOK, "dnabert-6", "vocab.txt"),
               "dnabert2": os.path.join(TOK, "dnabert2", "tokenizer.json")}
EMBED_MODEL = {"dnabert6": "dnabert", "nt_v2": "nt", "dnabert2": "dnabert2"}


def gelu_erf(x):
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


@torch.no_grad()
def mlm_logits(arch, weights, cfg, hidden):
    """Masked-LM head logits [n, vocab] of hidden states [n, hidden] (numpy)."""
    t = {k: torch.from_numpy(v) for k, v in weights.items()}
    h = torch.from_numpy(np.asarray(hidden, dtype=np.float32))
    if arch == "esm":
        p, transform, norm_name, act = "lm_head.", "lm_head.", "lm_head.layer_norm", gelu_erf
        embeddings = t["esm.embeddings.word_embeddings.weight"]
        eps = cfg.get("layer_norm_eps", 1e-12)
    else:
        p, transform = "cls.predictions.", "cls.predictions.transform."
        norm_name = transform + "LayerNorm"
        default_act = "gelu_new" if cfg.get("model_type") == "big_bird" else "gelu"
        act = gelu_tanh if cfg.get("hidden_act", default_act) == "gelu_new" else gelu_erf
        embeddings = t["bert.embeddings.word_embeddings.weight"]
        eps = 1e-12 if arch == "mosaic-bert" else cfg.get("layer_norm_eps", 1e-12)
    x = act(h @ t[transform + "dense.weight"].T + t[transform + "dense.bias"])
    x = F.layer_norm(x, x.shape[-1:], t[norm_name + ".weight"], t[norm_name + ".bias"], eps)
    decoder = t.get(p + "decoder.weight", embeddings)
    bias = t[p + "bias"] if p + "bias" in t else t[p + "decoder.bias"]
    return (x @ decoder.T + bias).numpy()


def token_loss(logits, ids):
    """Per-token cross-entropy [n, 1] of ids under logits [n, vocab]."""
    return F.cross_entropy(torch.from_numpy(logits), torch.tensor(ids, dtype=torch.long),
                           reduction="none").numpy()[:, None]


def read_rows(path, lengths, dim):
    flat = np.fromfile(path, dtype="<f4")
    assert flat.size == sum(lengths) * dim, (flat.size, sum(lengths), dim)
    out, off = [], 0
    for n in lengths:
        out.append(flat[off:off + n * dim].reshape(n, dim))
        off += n * dim
    return out


def unpack(packed):
    """tool_transformer --tokens line -> (model inputs, repeat count per id)."""
    n_chunks, pos, chunks = packed[0], 1, []
    for _ in range(n_chunks):
        chunks.append(packed[pos + 1:pos + 1 + packed[pos]])
        pos += 1 + packed[pos]
    return chunks, packed[pos:]


class LmOutputs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ckpts = {}
        commands = []
        for name in HEAD_CASES:
            arch, config, extra = CASES[name]
            d = os.path.join(cls.tmp.name, name)
            args = init_args(arch, d, 11, config, dict(SMALL, **extra))
            if name in VOCAB_FILES:
                args += ["--file", os.path.basename(VOCAB_FILES[name]) + "=" + VOCAB_FILES[name]]
            commands.append(args)
            cls.ckpts[name] = (arch, d)
        for ok, err, _ in run_script(cls.tmp.name, commands):
            assert ok, err

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def case(self, name):
        arch, d = self.ckpts[name]
        with open(os.path.join(d, "config.json")) as f:
            return arch, d, json.load(f)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    # ---- the encoder's head against the reference ------------------------------------------
    def test_logits_and_loss_match_the_reference_alone_and_batched(self):
        """Every family's head: lengths 5 and 130 alone, then 130, 5, 64, 1 in one batch."""
        commands, expected = [], []
        for name in HEAD_CASES:
            arch, d, cfg = self.case(name)
            rng = random.Random(sum(name.encode()) + 1)
            inputs = [random_ids(rng, n, cfg) for n in (5, 130, 130, 5, 64, 1)]
            ids_path = self.path(f"ids_{name}.txt")
            with open(ids_path, "w") as f:
                f.write("".join(" ".join(map(str, i)) + "\n" for i in inputs))
            for output in ("logits", "loss"):
                out = self.path(f"{name}_{output}.bin")
                commands.append(["forward", arch, d, ids_path, out, "--alone", "2",
                                 "--output", output])
                expected.append((name, output, inputs, out))
        results = run_script(self.tmp.name, commands)
        for (ok, err, _), (name, output, inputs, out) in zip(results, expected):
            self.assertTrue(ok, err)
            arch, d, cfg = self.case(name)
            weights = read_safetensors(os.path.join(d, "model.safetensors"))
            hidden = ref.reference(arch, d, cfg)
            dim = cfg["vocab_size"] if output == "logits" else 1
            got = read_rows(out, [len(i) for i in inputs], dim)
            worst = 0.0
            for ids, g in zip(inputs, got):
                logits = mlm_logits(arch, weights, cfg, hidden(ids))
                want = logits if output == "logits" else token_loss(logits, ids)
                self.assertEqual(want.shape, g.shape)
                self.assertGreater(float(np.abs(want).max()), 0.1)
                worst = max(worst, float(np.abs(want - g).max()))
            print(f"  {name} {output}: max |bend - reference| = {worst:.2e}")
            self.assertLessEqual(worst, TOL, f"{name} {output}")

    def test_hidden_states_do_not_change_with_the_head_in_the_checkpoint(self):
        """The seeded head is drawn after the encoder: a checkpoint with the head tensors
        removed gives bit-identical hidden states (and the encoder ignores them)."""
        arch, d, cfg = self.case("nt_v2")
        bare = self.path("nt_v2_bare")
        shutil.copytree(d, bare)
        w = read_safetensors(os.path.join(d, "model.safetensors"))
        self.assertIn("lm_head.decoder.weight", w)  # NT: tie_word_embeddings false
        write_safetensors(os.path.join(bare, "model.safetensors"),
                          {k: v for k, v in w.items() if not k.startswith("lm_head.")})
        ids_path = self.path("ids_bare.txt")
        with open(ids_path, "w") as f:
            f.write("3 5 6 7 8 9\n3 10 11\n")
        a, b = self.path("with_head.bin"), self.path("without_head.bin")
        results = run_script(self.tmp.name, [["forward", arch, d, ids_path, a],
                                             ["forward", arch, bare, ids_path, b]])
        self.assertTrue(all(ok for ok, _, _ in results), results)
        self.assertEqual(bt.read_bytes(a), bt.read_bytes(b))

    def test_missing_head_tensors_are_listed_by_name(self):
        arch, d, cfg = self.case("dnabert6")
        bare = self.path("dnabert6_bare")
        shutil.copytree(d, bare)
        w = read_safetensors(os.path.join(d, "model.safetensors"))
        write_safetensors(os.path.join(bare, "model.safetensors"),
                          {k: v for k, v in w.items() if not k.startswith("cls.")})
        arch_nt, d_nt, _ = self.case("nt_v1")
        untied = self.path("nt_v1_no_decoder")
        shutil.copytree(d_nt, untied)
        w = read_safetensors(os.path.join(d_nt, "model.safetensors"))
        write_safetensors(os.path.join(untied, "model.safetensors"),
                          {k: v for k, v in w.items() if k != "lm_head.decoder.weight"})
        ids_path = self.path("ids_err.txt")
        with open(ids_path, "w") as f:
            f.write("2 7 8 3\n")
        x = self.path("x.bin")
        results = run_script(self.tmp.name, [
            ["forward", arch, bare, ids_path, x, "--output", "loss"],
            ["forward", arch, bare, ids_path, x],  # hidden states need no head
            ["forward", arch_nt, untied, ids_path, x, "--output", "logits"],
            ["forward", arch, d, ids_path, x, "--output", "probabilities"]])
        (ok1, err1, _), (ok2, _, _), (ok3, err3, _), (ok4, err4, _) = results
        self.assertFalse(ok1)
        self.assertIn(os.path.join(bare, "model.safetensors"), err1)
        for name in ["cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
                     "cls.predictions.transform.LayerNorm.weight", "cls.predictions.bias"]:
            self.assertIn(name, err1)
        self.assertTrue(ok2)
        self.assertFalse(ok3)
        self.assertIn("missing tensors: lm_head.decoder.weight", err3)
        self.assertIn("tie_word_embeddings", err3)
        self.assertFalse(ok4)
        self.assertIn("unknown output 'probabilities'", err4)

    # ---- the Embedders: special tokens dropped, BEND's upsampling ----------------------------
    def test_embedders_upsample_logits_and_loss_like_hidden_states(self):
        """dnabert (k-mer edge repeats, two inputs past 512 tokens), nt v2 and dnabert2 (BPE,
        N as [UNK]) through make_embedder: out[b] = the head's rows repeated per nucleotide."""
        rng = random.Random(4)
        seqs = ["".join(rng.choice("ACGT") if rng.random() > 0.03 else "N" for _ in range(n))
                for n in (7, 700, 150, 40)]
        seq_path = self.path("seqs.txt")
        with open(seq_path, "w") as f:
            f.write("".join(s + "\n" for s in seqs))
        commands, expected = [], []
        for name, model in EMBED_MODEL.items():
            d = self.ckpts[name][1]
            for output in ("loss", "logits"):
                out, tok = self.path(f"e_{name}_{output}.bin"), self.path(f"e_{name}.tok")
                commands.append(["embed", model, d, seq_path, out, "--alone", "2", "--tokens",
                                 tok, "--output", output, "--rules", "corrected"])
                expected.append((name, output, out, tok))
        results = run_script(self.tmp.name, commands)
        for (ok, err, stdout), (name, output, out, tok) in zip(results, expected):
            self.assertTrue(ok, err)
            arch, d, cfg = self.case(name)
            dim = cfg["vocab_size"] if output == "logits" else 1
            self.assertIn(f"dim {dim}\n", stdout)
            weights = read_safetensors(os.path.join(d, "model.safetensors"))
            hidden = ref.reference(arch, d, cfg)
            with open(tok) as f:
                packed = [list(map(int, line.split())) for line in f]
            got = read_rows(out, [len(s) for s in seqs], dim)
            worst = 0.0
            for p, g in zip(packed, got):
                chunks, repeat = unpack(p)
                rows = []
                for ids in chunks:
                    logits = mlm_logits(arch, weights, cfg, hidden(ids))
                    rows.append(logits if output == "logits" else token_loss(logits, ids))
                want = np.repeat(np.concatenate(rows), repeat, axis=0)
                self.assertEqual(want.shape, g.shape)
                worst = max(worst, float(np.abs(want - g).max()))
            print(f"  {name} embedder --output {output}: max |bend - reference| = {worst:.2e}")
            self.assertLessEqual(worst, TOL)
            if name == "dnabert6":
                self.assertGreater(len(unpack(packed[1])[0]), 1, "700 bp: two DNABERT inputs")

    # ---- bend embed end to end ---------------------------------------------------------------
    def test_bend_embed_output_loss_end_to_end_and_resume_refusal(self):
        ckpt = self.path("cli_dnabert")
        bt.bend(["model", "init", "--arch", "dnabert", "--config",
                 os.path.join(TOK, "dnabert-6", "config.json"), "--out", ckpt, "--n-layers", "2",
                 "--hidden-size", "32", "--set", "num_attention_heads=4", "--set",
                 "intermediate_size=48", "--set", "initializer_range=0.15"])
        w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        self.assertIn("cls.predictions.transform.dense.weight", w)
        self.assertNotIn("cls.predictions.decoder.weight", w)  # tied, as Hugging Face saves it
        rows = [("chr2", 10000, 10200, "+"), ("chr2", 40000, 40611, "-")]
        bed = self.path("t.bed")
        with open(bed, "w") as f:
            f.write("chromosome\tstart\tend\tstrand\tsplit\n")
            f.writelines(f"{c}\t{s}\t{e}\t{st}\ttrain\n" for c, s, e, st in rows)
        out = self.path("cli_out")
        args = ["embed", "--bed", bed, "--genome", GENOME, "--read-strand", "--model", "dnabert",
                "--checkpoint", ckpt, "--out", out, "--rules", "corrected"]
        bt.bend(args + ["--output", "loss"])
        recs = bt.read_shard_dir(out)
        with open(os.path.join(out, "manifest.json")) as f:
            manifest = json.load(f)
        self.assertEqual(manifest["params"]["output"], "loss")
        self.assertEqual(manifest["model"]["dim"], 1)
        seqs = [bt.samtools_seq(GENOME, c, s, e, st == "-") for c, s, e, st in rows]
        seq_path, tok = self.path("cli_seqs.txt"), self.path("cli.tok")
        with open(seq_path, "w") as f:
            f.write("".join(s + "\n" for s in seqs))
        r = subprocess.run([TOOL, "embed", "dnabert", ckpt, seq_path, self.path("y.bin"),
                            "--tokens", tok, "--rules", "corrected"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(ckpt, "config.json")) as f:
            cfg = json.load(f)
        hidden = ref.reference("bert", ckpt, cfg)
        with open(tok) as f:
            packed = [list(map(int, line.split())) for line in f]
        worst = 0.0
        for i, (s, p) in enumerate(zip(seqs, packed)):
            chunks, repeat = unpack(p)
            losses = [token_loss(mlm_logits("bert", w, cfg, hidden(ids)), ids) for ids in chunks]
            want = np.repeat(np.concatenate(losses), repeat, axis=0)
            got = recs[i]["inputs"]
            self.assertEqual(got.shape, (len(s), 1))
            worst = max(worst, float(np.abs(want - got).max()))
        print(f"  bend embed --output loss: max |stored - reference| = {worst:.2e}")
        self.assertLessEqual(worst, TOL)
        # the same directory with other outputs: refused as different parameters
        r = bt.bend(args, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("different parameters", r.stderr)
        self.assertIn("output", r.stderr)
        r = bt.bend(args + ["--output", "logits"], check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("different parameters", r.stderr)

    def test_models_without_a_head_refuse_logits_and_loss(self):
        bed = self.path("one.bed")
        with open(bed, "w") as f:
            f.write("chr2\t10000\t10100\n")
        base = ["embed", "--bed", bed, "--genome", GENOME, "--out", self.path("refused")]
        r = bt.bend(base + ["--model", "onehot", "--output", "logits"], check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("model 'onehot' has no language-model head: --output logits", r.stderr)
        r = bt.bend(base + ["--model", "onehot", "--output", "entropy"], check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--output 'entropy': expected hidden, logits or loss", r.stderr)
        ckpt = self.ckpts["dnabert6"][1]
        r = bt.bend(base + ["--model", "dnabert", "--checkpoint", ckpt, "--tokenizer", "bpe"],
                    check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--tokenizer (here 'bpe') is only for torchscript", r.stderr)
        awd = self.path("awd")
        tool("init", "awdlstm", awd, 1, "-", "num_hidden_layers=1", "hidden_size=8",
             "input_size=4")
        seq_path = self.path("acgt.txt")
        with open(seq_path, "w") as f:
            f.write("ACGT\n")
        r = tool("embed", "awdlstm", awd, seq_path, os.devnull, "--output", "loss",
                 expect_ok=False)
        self.assertIn("model 'awdlstm' has no language-model head", r.stderr)
        self.assertIn("dnabert", r.stderr)  # names the models that have one
        blocks = {}
        for line in bt.bend(["models"]).stdout.splitlines():
            if not line.startswith(" "):
                name = line.split()[0]
            blocks[name] = blocks.get(name, "") + line + "\n"
        for name in ["dnabert", "nt", "dnabert2", "gena-lm", "hyenadna", "caduceus"]:
            self.assertIn("--output: hidden, logits, loss\n", blocks[name])
        for name in ["onehot", "resnetlm", "awdlstm", "torchscript"]:
            self.assertIn("--output: hidden", blocks[name])
            self.assertNotIn("logits", blocks[name])
        self.assertIn("--tokenizer KIND", blocks["torchscript"])


# ---- HyenaDNA's causal head ---------------------------------------------------------------------
HYENA_SMALL = dict(d_model=16, n_layer=2, d_inner=40, vocab_size=12, max_seq_len=66, emb_dim=3,
                   filter_order=8, num_inner_mlps=1, hyena_order=2, short_filter_order=3,
                   activation_freq=10, pad_vocab_size_multiple=8, initializer_range=0.3)
HYENA_IDS = {"A": 7, "C": 8, "G": 9, "T": 10, "N": 11}


class HyenaDnaHead(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        config = os.path.join(cls.tmp.name, "small.json")
        with open(config, "w") as f:
            json.dump(HYENA_SMALL, f)
        cls.ckpt = os.path.join(cls.tmp.name, "hyena")
        tool("init", "hyenadna", cls.ckpt, 3, config)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def embed(self, ckpt, seqs, output, *flags):
        seq_path, out = os.path.join(self.tmp.name, "s.txt"), os.path.join(self.tmp.name, "o.bin")
        with open(seq_path, "w") as f:
            f.write("".join(s + "\n" for s in seqs))
        stdout = tool("embed", "hyenadna", ckpt, seq_path, out, "--output", output,
                      "--rules", "corrected", *flags).stdout
        dim = int(stdout.split()[1])
        return read_rows(out, [len(s) for s in seqs], dim), dim

    @torch.no_grad()
    def reference(self, ckpt, seqs, output, lm_head=None):
        """BEND's pieces of l_max - 2 bp, [CLS] chars [SEP]; nucleotide i of a piece (token
        i + 1) gets the head applied to the hidden state of token i."""
        weights = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        model = HyenaReference(HYENA_SMALL, weights, "hyena.backbone.")
        head = torch.from_numpy(weights["hyena.backbone.embeddings.word_embeddings.weight"]
                                if lm_head is None else lm_head)
        piece = HYENA_SMALL["max_seq_len"] - 2
        out = []
        for s in seqs:
            rows = []
            for p in range(0, len(s), piece):
                chars = [HYENA_IDS[c] for c in s[p:p + piece]]
                h = model.forward([[0] + chars + [1]])[0]
                logits = h[:len(chars)] @ head.T
                rows.append(logits if output == "logits" else F.cross_entropy(
                    logits, torch.tensor(chars), reduction="none")[:, None])
            out.append(torch.cat(rows).numpy())
        return out

    def check(self, got, want, what):
        worst = 0.0
        for g, w in zip(got, want):
            self.assertEqual(g.shape, w.shape)
            worst = max(worst, float(np.abs(g - w).max()))
        print(f"  hyenadna {what}: max |bend - reference| = {worst:.2e}")
        self.assertLessEqual(worst, TOL)

    def test_logits_and_loss_of_the_tied_head_alone_and_batched(self):
        rng = random.Random(8)
        seqs = ["".join(rng.choice("ACGTN") for _ in range(n)) for n in (1, 64, 65, 150, 9)]
        for output in ("logits", "loss"):
            want = self.reference(self.ckpt, seqs, output)
            got, dim = self.embed(self.ckpt, seqs, output)
            self.assertEqual(dim, 16 if output == "logits" else 1)  # 12 ids padded to 16 rows
            self.check(got, want, output + " alone")
            got, _ = self.embed(self.ckpt, seqs, output, "--batch")
            self.check(got, want, output + " batched")

    def test_an_untied_lm_head_weight_is_used(self):
        ckpt = os.path.join(self.tmp.name, "untied")
        shutil.copytree(self.ckpt, ckpt)
        w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        head = np.random.default_rng(1).normal(0, 0.5, (16, 16)).astype(np.float32)
        w["lm_head.weight"] = head
        write_safetensors(os.path.join(ckpt, "model.safetensors"), w)
        seqs = ["ACGTTGCANNACGT" * 7]
        got, _ = self.embed(ckpt, seqs, "loss")
        self.check(got, self.reference(ckpt, seqs, "loss", lm_head=head), "untied lm_head loss")
        w["lm_head.weight"] = head[:, :8]
        write_safetensors(os.path.join(ckpt, "model.safetensors"), w)
        seq_path = os.path.join(self.tmp.name, "one.txt")
        with open(seq_path, "w") as f:
            f.write("ACGT\n")
        r = tool("embed", "hyenadna", ckpt, seq_path, os.devnull, "--output", "logits",
                 expect_ok=False)
        self.assertIn("lm_head.weight has shape [16, 8]", r.stderr)


# ---- TorchScript: --tokenizer ------------------------------------------------------------------
class Mixer(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(12, 6)
        self.conv = nn.Conv1d(6, 6, 3, padding=1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids)
        return x + torch.tanh(self.conv(x.transpose(1, 2))).transpose(1, 2)


class TorchScriptTokenizer(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.tmp = tempfile.TemporaryDirectory()
        self.model = Mixer().eval()
        self.seqs = ["ACGTN", "GATTACA" * 11]
        self.seq_path = os.path.join(self.tmp.name, "s.txt")
        with open(self.seq_path, "w") as f:
            f.write("".join(s + "\n" for s in self.seqs))

    def tearDown(self):
        self.tmp.cleanup()

    def checkpoint(self, name, spec):
        d = os.path.join(self.tmp.name, name)
        os.makedirs(d)
        torch.jit.save(torch.jit.script(self.model), os.path.join(d, "model.pt"))
        if spec is not None:
            with open(os.path.join(d, "torchscript.json"), "w") as f:
                json.dump(spec, f)
        return d

    @torch.no_grad()
    def want(self):
        out = []
        for s in self.seqs:
            ids = torch.tensor([[0] + [HYENA_IDS[c] for c in s] + [1]])
            out.append(self.model(ids)[0, 1:-1].numpy())
        return out

    def run_embed(self, ckpt, *flags, ok=True):
        out = os.path.join(self.tmp.name, "o.bin")
        r = tool("embed", "torchscript", ckpt, self.seq_path, out, *flags, expect_ok=ok)
        if not ok:
            return r
        got = read_rows(out, [len(s) for s in self.seqs], 6)
        for g, w in zip(got, self.want()):
            self.assertLessEqual(float(np.abs(g - w).max()), 1e-5)
        return r

    def test_tokenizer_is_required_and_overrides_torchscript_json(self):
        no_tok = self.checkpoint("no_tokenizer", {"batching": "none"})
        r = self.run_embed(no_tok, ok=False)
        self.assertIn("no tokenizer", r.stderr)
        self.assertIn("--tokenizer", r.stderr)
        self.run_embed(no_tok, "--tokenizer", "hyenadna")
        no_json = self.checkpoint("no_json", None)  # model.pt only: --tokenizer is enough
        r = self.run_embed(no_json, ok=False)
        self.assertIn("torchscript.json", r.stderr)
        self.run_embed(no_json, "--tokenizer", "hyenadna")
        # torchscript.json names DNABERT-6 (no vocab.txt here): --tokenizer replaces it
        other = self.checkpoint("other", {"tokenizer": "dnabert-6"})
        r = self.run_embed(other, ok=False)
        self.assertIn("vocab.txt", r.stderr)
        self.run_embed(other, "--tokenizer", "hyenadna")
        r = self.run_embed(no_tok, "--tokenizer", "hyenadna", "--output", "logits", ok=False)
        self.assertIn("has no language-model head", r.stderr)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
