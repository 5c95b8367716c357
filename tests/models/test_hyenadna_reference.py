"""bend's LibTorch HyenaDNA against an independent PyTorch reference (causal_lm_reference.py).

Checkpoints are seeded by bend (tool_causal_lm init) from the real hyenadna-tiny-1k config.json
in tests/data and from a small config in Hugging Face's flat layout; the reference reads the
same model.safetensors. The reference's long convolution is an explicit causal convolution (not
an FFT), and it applies BEND's embedding rule itself (pieces of l_max - 2 bp, [CLS] .. [SEP],
both vectors dropped).
"""
import json
import os
import random
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from causal_lm_reference import (HyenaReference, bend_embed, read_safetensors, tool,  # noqa: E402
                                 write_safetensors)

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")  # tests/data: real test data
TINY_1K = os.path.join(DATA, "configs", "hyenadna-tiny-1k", "config.json")
# Hugging Face's flat HyenaConfig layout, order 3, one inner MLP, l_max 66 (pieces of 64 bp).
SMALL_FLAT = dict(d_model=16, n_layer=2, d_inner=40, vocab_size=12, max_seq_len=66, emb_dim=3,
                  filter_order=8, num_inner_mlps=1, hyena_order=3, short_filter_order=3,
                  activation_freq=10, pad_vocab_size_multiple=8, initializer_range=0.3)


def random_seqs(rng, lengths, n_frac=0.05):
    return ["".join(rng.choice("ACGT") if rng.random() > n_frac else "N" for _ in range(n))
            for n in lengths]


class HyenaDNAReference(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def checkpoint(self, name, config_path, seed, *keys):
        d = os.path.join(self.tmp.name, name)
        tool("init", "hyenadna", d, seed, config_path, *keys)
        with open(os.path.join(d, "config.json")) as f:
            return d, json.load(f)

    def small_config_path(self):
        p = os.path.join(self.tmp.name, "small_flat.json")
        with open(p, "w") as f:
            json.dump(SMALL_FLAT, f)
        return p

    def compare(self, ckpt, cfg, seqs, got, prefix="hyena.backbone."):
        """Max |bend - reference| <= 1e-4 against the float32 reference, and against a float64
        one: bend's float32 error must be of float32 size, not a mistake shared with ours.
        (Seeded weights are kept well-conditioned: with initializer_range 0.3 at d_model 128
        two float32 implementations agree to 2e-5 but both sit 1e-3 from float64.)"""
        weights = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        refs = {"float32": HyenaReference(cfg, weights, prefix),
                "float64": HyenaReference(cfg, weights, prefix, torch.float64)}
        for kind, ref in refs.items():
            worst = 0.0
            for s, g in zip(seqs, got):
                want = ref.embed(s)
                self.assertEqual(want.shape, g.shape)
                self.assertGreater(np.abs(want).max(), 0.1)  # not a degenerate output
                diff = float(np.abs(want - g).max())
                worst = max(worst, diff)
                self.assertLessEqual(diff, 1e-4, f"length {len(s)} vs {kind} reference")
            print(f"  {os.path.basename(ckpt)}: lengths {[len(s) for s in seqs]}: "
                  f"max |bend - {kind} reference| = {worst:.2e}")

    def test_reference_fft_equals_direct_convolution(self):
        """The reference's direct long convolution equals hyena-dna's fftconv (float64)."""
        ckpt, cfg = self.checkpoint("fft", TINY_1K, 3, "initializer_range=0.1")
        w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        seq = random_seqs(random.Random(9), [700])[0]
        a = HyenaReference(cfg, w, "hyena.backbone.", torch.float64, "direct").embed(seq)
        b = HyenaReference(cfg, w, "hyena.backbone.", torch.float64, "fft").embed(seq)
        self.assertLess(float(np.abs(a - b).max()), 1e-9)

    def test_tiny_1k_config_two_lengths(self):
        """Real tiny-1k config: one piece (<= 1024 bp) and two or three pieces (> 1024 bp)."""
        ckpt, cfg = self.checkpoint("tiny", TINY_1K, 11, "initializer_range=0.1")
        seqs = random_seqs(random.Random(1), [1, 2, 37, 300, 1024, 1025, 2100])
        seqs[3] = seqs[3][:100] + "N" * 60 + "acgtRY" + seqs[3][166:]  # N run, unknown bytes
        self.compare(ckpt, cfg, seqs, bend_embed(self.tmp.name, "hyenadna", ckpt, seqs))

    def test_flat_layout_order_3_many_pieces(self):
        ckpt, cfg = self.checkpoint("flat", self.small_config_path(), 5)
        seqs = random_seqs(random.Random(2), [1, 20, 64, 65, 130, 500])
        self.compare(ckpt, cfg, seqs, bend_embed(self.tmp.name, "hyenadna", ckpt, seqs))

    def test_padded_batch_equals_batch_size_one(self):
        for name, path, keys, lengths in [
                ("batch_tiny", TINY_1K, ["initializer_range=0.1"], [900, 3, 1500, 64, 1024]),
                ("batch_flat", self.small_config_path(), [], [200, 1, 33, 64, 7, 130])]:
            ckpt, cfg = self.checkpoint(name, path, 99, *keys)
            seqs = random_seqs(random.Random(4), lengths, n_frac=0.2)
            single = bend_embed(self.tmp.name, "hyenadna", ckpt, seqs)
            batched = bend_embed(self.tmp.name, "hyenadna", ckpt, seqs, "--batch")
            worst = max(float(np.abs(a - b).max()) for a, b in zip(single, batched))
            print(f"  {name}: max |batched - single| = {worst:.2e}")
            # Different FFT sizes (2 x the batch's longest input) round differently: ~3e-6.
            self.assertLessEqual(worst, 2e-5)
            self.compare(ckpt, cfg, seqs, batched)

    def test_converted_checkpoint_names(self):
        """A converted Lightning checkpoint: "model.backbone." names, one shared Sin freq kept per
        filter, F16 storage, and a head that is ignored."""
        ckpt, cfg = self.checkpoint("converted", self.small_config_path(), 8)
        w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        conv = {}
        for k, v in w.items():
            if k.endswith(".freq") and not k.endswith("implicit_filter.1.freq"):
                continue  # deduplicated shared tensor
            conv["model.backbone." + k[len("hyena.backbone."):]] = v
        conv["model.head.weight"] = np.ones((2, 16), np.float32)
        write_safetensors(os.path.join(ckpt, "model.safetensors"), conv, "F16")
        seqs = random_seqs(random.Random(3), [90, 15])
        got = bend_embed(self.tmp.name, "hyenadna", ckpt, seqs)
        self.compare(ckpt, cfg, seqs, got, prefix="model.backbone.")

    def test_bad_checkpoints_are_refused_with_names(self):
        ckpt, _ = self.checkpoint("bad", self.small_config_path(), 8)
        path = os.path.join(ckpt, "model.safetensors")
        w = read_safetensors(path)
        del w["hyena.backbone.layers.1.mixer.filter_fn.modulation.deltas"]
        w["hyena.backbone.layers.0.mlp.fc1.weight"] = np.zeros((41, 16), np.float32)
        w["hyena.backbone.layers.0.extra"] = np.zeros(3, np.float32)
        write_safetensors(path, w)
        seq_path = os.path.join(self.tmp.name, "one.txt")
        with open(seq_path, "w") as f:
            f.write("ACGT\n")
        r = tool("embed", "hyenadna", ckpt, seq_path, os.devnull, expect_ok=False)
        self.assertEqual(r.returncode, 1)
        for part in ["missing tensors: hyena.backbone.layers.1.mixer.filter_fn.modulation.deltas",
                     "hyena.backbone.layers.0.mlp.fc1.weight (expected F32 [40, 16], got F32 "
                     "[41, 16])", "unexpected tensors: hyena.backbone.layers.0.extra"]:
            self.assertIn(part, r.stderr)
        bad = dict(SMALL_FLAT, emb_dim=4)
        cfg_path = os.path.join(self.tmp.name, "even.json")
        with open(cfg_path, "w") as f:
            json.dump(bad, f)
        r = tool("init", "hyenadna", os.path.join(self.tmp.name, "even"), 1, cfg_path,
                 expect_ok=False)
        self.assertIn("emb_dim must be odd", r.stderr)
        r = tool("init", "hyenadna", os.path.join(self.tmp.name, "vocab"), 1, cfg_path,
                 "emb_dim=3", "vocab_size=10")
        r = tool("embed", "hyenadna", os.path.join(self.tmp.name, "vocab"), seq_path, os.devnull,
                 expect_ok=False)
        self.assertIn("vocab_size", r.stderr)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
