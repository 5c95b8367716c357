"""bend's "torchscript" embedder: modules scripted here with torch.jit.script and saved with
torch.jit.save, run by bend (torch::jit::load) with a named tokenizer, against the same modules
run eagerly in python on the token ids built here (BEND's rules: special tokens dropped, each
token's vector repeated over its nucleotides). Plain torch.save pickles must be refused.
"""
import json
import os
import random
import shutil
import sys
import tempfile
import unittest
from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from causal_lm_reference import bend_embed, tool  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")  # tests/data: real test data
HYENA_IDS = {"A": 7, "C": 8, "G": 9, "T": 10, "N": 11}  # [CLS]=0 [SEP]=1 [PAD]=4 [UNK]=6


class ConvModel(nn.Module):
    """Not causal (a centred convolution): bend must run it one input per call."""

    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.conv = nn.Conv1d(dim, dim, 5, padding=2)
        self.out = nn.Linear(dim, dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids)
        x = x + F.gelu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return self.out(x)


class CausalModel(nn.Module):
    """Causal (running mean + a GRU), returns a tuple: right-padded batches are exact."""

    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, dim, batch_first=True)

    def forward(self, ids: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        x = self.emb(ids)
        n = torch.arange(1, ids.shape[1] + 1, dtype=x.dtype).view(1, -1, 1)
        h, _ = self.gru(x.cumsum(1) / n)
        return h, h.sum(-1)


class MaskedModel(nn.Module):
    """Mixes every position with the masked mean (like attention), returns a dict."""

    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> Dict[str, torch.Tensor]:
        x = self.emb(ids)
        m = mask.unsqueeze(-1).to(x.dtype)
        mean = (x * m).sum(1, keepdim=True) / m.sum(1, keepdim=True)
        return {"last_hidden_state": torch.tanh(x + self.mix(mean)), "pooled": mean}


def random_seqs(rng, lengths):
    return ["".join(rng.choice("ACGTN") for _ in range(n)) for n in lengths]


class TorchScriptEmbedder(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(0)
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def checkpoint(self, name, module, spec, files=()):
        d = os.path.join(self.tmp.name, name)
        os.makedirs(d)
        torch.jit.save(torch.jit.script(module.eval()), os.path.join(d, spec.get("module", "model.pt")))
        with open(os.path.join(d, "torchscript.json"), "w") as f:
            json.dump(spec, f)
        for src in files:
            shutil.copy(src, d)
        return d

    def check(self, got, want, what):
        self.assertEqual(len(got), len(want))
        worst = 0.0
        for g, w in zip(got, want):
            self.assertEqual(g.shape, w.shape)
            worst = max(worst, float(np.abs(g - w).max()) if g.size else 0.0)
        print(f"  {what}: max |bend - python| = {worst:.2e}")
        self.assertLessEqual(worst, 1e-5)

    @torch.no_grad()
    def hyena_tokens_reference(self, module, seqs, max_bp):
        """HyenaDNA's tokens: pieces of max_bp, [CLS] chars [SEP], both vectors dropped."""
        out = []
        for s in seqs:
            parts = []
            for p in range(0, len(s), max_bp) if max_bp else [0]:
                piece = s[p:p + max_bp] if max_bp else s
                ids = torch.tensor([[0] + [HYENA_IDS.get(c, 6) for c in piece] + [1]])
                y = module(ids)
                y = y[0] if isinstance(y, tuple) else y
                parts.append(y[0, 1:-1])
            out.append(torch.cat(parts).numpy())
        return out

    def test_non_causal_module_one_input_per_call(self):
        model = ConvModel(12, 16)
        ckpt = self.checkpoint("conv", model, {"tokenizer": "hyenadna"})
        self.assertEqual(tool("check-archive", os.path.join(ckpt, "model.pt")).stdout, "ok\n")
        seqs = random_seqs(random.Random(1), [1, 50, 300, 7])
        want = self.hyena_tokens_reference(model, seqs, 0)
        self.check(bend_embed(self.tmp.name, "torchscript", ckpt, seqs), want, "conv alone")
        self.check(bend_embed(self.tmp.name, "torchscript", ckpt, seqs, "--batch"), want,
                   "conv batch")

    def test_causal_module_with_chunks_and_padded_batches(self):
        model = CausalModel(12, 8)
        ckpt = self.checkpoint("causal", model, {"tokenizer": "hyenadna", "max_bp": 100,
                                                 "batching": "causal", "module": "m.pt"})
        seqs = random_seqs(random.Random(2), [1, 99, 100, 101, 250])
        want = self.hyena_tokens_reference(model, seqs, 100)
        self.check(bend_embed(self.tmp.name, "torchscript", ckpt, seqs), want, "causal alone")
        self.check(bend_embed(self.tmp.name, "torchscript", ckpt, seqs, "--batch"), want,
                   "causal batch")

    @torch.no_grad()
    def test_masked_module_with_dnabert6_tokens(self):
        """DNABERT-6 k-mers ([CLS] k-mers [SEP]) and BEND's edge upsampling: nucleotide j gets
        k-mer clamp(j - 2, 0, n_kmers - 1); forward(ids, attention_mask) returns a dict."""
        vocab = os.path.join(DATA, "tokenizers", "dnabert-6", "vocab.txt")
        with open(vocab) as f:
            ids_of = {t: i for i, t in enumerate(f.read().split("\n")) if t}
        model = MaskedModel(len(ids_of), 8)
        ckpt = self.checkpoint("masked", model, {"tokenizer": "dnabert-6", "max_tokens": 512,
                                                 "batching": "mask"}, files=[vocab])
        seqs = ["".join(random.Random(3).choice("ACGT") for _ in range(n)) for n in [6, 40, 300]]
        want = []
        for s in seqs:
            kmers = [s[i:i + 6] for i in range(len(s) - 5)]
            ids = torch.tensor([[ids_of["[CLS]"]] + [ids_of[k] for k in kmers] +
                                [ids_of["[SEP]"]]])
            y = model(ids, torch.ones_like(ids))["last_hidden_state"][0, 1:-1]
            idx = [min(max(j - 2, 0), len(kmers) - 1) for j in range(len(s))]
            want.append(y[idx].numpy())
        self.check(bend_embed(self.tmp.name, "torchscript", ckpt, seqs), want, "masked alone")
        self.check(bend_embed(self.tmp.name, "torchscript", ckpt, seqs, "--batch"), want,
                   "masked batch")

    def test_torch_save_pickles_are_refused(self):
        model = ConvModel(12, 4)
        for name, save in [
                ("state_dict", lambda p: torch.save(model.state_dict(), p)),
                ("legacy", lambda p: torch.save(model.state_dict(), p,
                                                _use_new_zipfile_serialization=False))]:
            ckpt = self.checkpoint("pickle_" + name, model, {"tokenizer": "hyenadna"})
            save(os.path.join(ckpt, "model.pt"))
            r = tool("check-archive", os.path.join(ckpt, "model.pt"), expect_ok=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("never unpickles", r.stderr)
            self.assertIn("torch.save checkpoint" if name == "state_dict" else "Python pickle",
                          r.stderr)
            seq_path = os.path.join(self.tmp.name, "one.txt")
            with open(seq_path, "w") as f:
                f.write("ACGT\n")
            r = tool("embed", "torchscript", ckpt, seq_path, os.devnull, expect_ok=False)
            self.assertIn("not a TorchScript archive", r.stderr)

    def test_bad_modules_and_specs(self):
        class Short(nn.Module):
            def forward(self, ids: torch.Tensor) -> torch.Tensor:
                return ids[:, 1:].unsqueeze(-1).float()

        ckpt = self.checkpoint("short", Short(), {"tokenizer": "hyenadna"})
        seq_path = os.path.join(self.tmp.name, "one.txt")
        with open(seq_path, "w") as f:
            f.write("ACGT\n")
        r = tool("embed", "torchscript", ckpt, seq_path, os.devnull, expect_ok=False)
        self.assertIn("one vector per input id", r.stderr)
        ckpt = self.checkpoint("nospec", ConvModel(12, 4), {"batching": "none"})
        r = tool("embed", "torchscript", ckpt, seq_path, os.devnull, expect_ok=False)
        self.assertIn("needs \"tokenizer\"", r.stderr)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
