"""bend's LibTorch AWD-LSTM against an independent PyTorch reference (causal_lm_reference.py),
which runs BEND's LSTMCell step by step as bend/models/awd_lstm.py does (gate order i, f, o, g;
WeightDrop's weight_raw; reset tokens zeroing the state in place).

Checkpoints are seeded by bend (tool_causal_lm init); their module.h2h.weight is a dropped-out
copy of weight_raw, which must not be read.
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
from causal_lm_reference import (AwdLstmReference, bend_embed, char_ids,  # noqa: E402
                                 read_safetensors, tool, write_safetensors)

SMALL = ["input_size=16", "hidden_size=24", "num_hidden_layers=3", "initializer_range=0.3"]


def random_seqs(rng, lengths, n_frac=0.05):
    return ["".join(rng.choice("ACGT") if rng.random() > n_frac else "N" for _ in range(n))
            for n in lengths]


class AwdLstmReferenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def checkpoint(self, name, seed, *keys):
        d = os.path.join(self.tmp.name, name)
        tool("init", "awdlstm", d, seed, "-", *keys)
        with open(os.path.join(d, "config.json")) as f:
            return d, json.load(f)

    def compare(self, ckpt, cfg, seqs, got):
        weights = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        tok = os.path.join(ckpt, "tokenizer.json")
        for kind, dtype in [("float32", torch.float32), ("float64", torch.float64)]:
            ref, worst, top = AwdLstmReference(cfg, weights, dtype), 0.0, 0.0
            for s, g in zip(seqs, got):
                want = ref.forward(char_ids(tok, s))
                self.assertEqual(want.shape, g.shape)
                top = max(top, float(np.abs(want).max()))
                diff = float(np.abs(want - g).max())
                worst = max(worst, diff)
                self.assertLessEqual(diff, 1e-4, f"length {len(s)} vs {kind} reference")
            self.assertGreater(top, 0.1)  # not a degenerate output
            print(f"  {os.path.basename(ckpt)}: lengths {[len(s) for s in seqs]}: "
                  f"max |bend - {kind} reference| = {worst:.2e}")

    def test_weight_drop_checkpoint_two_lengths(self):
        """Lengths below and across bend's 256-step blocks; the stored dropped-out
        module.h2h.weight differs from weight_raw."""
        ckpt, cfg = self.checkpoint("wd", 7, *SMALL)
        w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        raw = w["encoder.encoder.lstm.0.weight_raw"]
        dropped = w["encoder.encoder.lstm.0.module.h2h.weight"]
        self.assertGreater(float(np.mean(dropped == 0)), 0.2)
        self.assertFalse(np.allclose(raw, dropped))
        seqs = random_seqs(random.Random(1), [1, 2, 40, 257, 600])
        seqs[2] = seqs[2][:10] + "acgtRY" + seqs[2][16:]
        self.compare(ckpt, cfg, seqs, bend_embed(self.tmp.name, "awdlstm", ckpt, seqs))

    def test_plain_names_and_bend_default_sizes(self):
        """Without WeightDrop (weight_dropout_prob 0): lstm.{l}.{i2h,h2h}.* names; BEND's default
        sizes (input 64, hidden 512) with two layers; and an AWDLSTMModel saved alone (no
        "encoder." prefix) with an LM decoder that is ignored."""
        ckpt, cfg = self.checkpoint("plain", 3, "weight_dropout_prob=0", "num_hidden_layers=2",
                                    "initializer_range=0.05")
        w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        self.assertIn("encoder.encoder.lstm.1.h2h.weight", w)
        bare = {k[len("encoder."):]: v for k, v in w.items()}
        bare["decoder.weight"] = np.zeros((7, 64), np.float32)
        write_safetensors(os.path.join(ckpt, "model.safetensors"), bare)
        seqs = random_seqs(random.Random(2), [30, 300])
        self.compare(ckpt, cfg, seqs, bend_embed(self.tmp.name, "awdlstm", ckpt, seqs))

    def test_reset_token(self):
        """reset_token_id = 5 ('g'): BEND's reset from step 2 on, zeroing the previous output."""
        ckpt, cfg = self.checkpoint("reset", 5, *SMALL, "reset_token_id=5")
        seqs = ["GGACGTGG", "AG", "GAGC", "ACG"] + random_seqs(random.Random(3), [300])
        got = bend_embed(self.tmp.name, "awdlstm", ckpt, seqs)
        # GGACGTGG: the G at 1, 4 and 6 reset steps 2, 5 and 7, zeroing outputs 1, 4 and 6; the G
        # at 0 precedes step 1 (BEND resets from step 2 on) and the last G has no step after it.
        zero = [float(np.abs(got[0][i]).max()) == 0.0 for i in range(8)]
        self.assertEqual(zero, [False, True, False, False, True, False, True, False])
        self.compare(ckpt, cfg, seqs, got)
        batched = bend_embed(self.tmp.name, "awdlstm", ckpt, seqs, "--batch")
        worst = max(float(np.abs(a - b).max()) for a, b in zip(got, batched))
        print(f"  reset: max |batched - single| = {worst:.2e}")
        self.assertLessEqual(worst, 1e-5)

    def test_padded_batch_equals_batch_size_one(self):
        ckpt, _ = self.checkpoint("batch", 9, *SMALL)
        seqs = random_seqs(random.Random(4), [270, 1, 33, 600, 7], n_frac=0.2)
        single = bend_embed(self.tmp.name, "awdlstm", ckpt, seqs)
        batched = bend_embed(self.tmp.name, "awdlstm", ckpt, seqs, "--batch")
        worst = max(float(np.abs(a - b).max()) for a, b in zip(single, batched))
        print(f"  batch: max |batched - single| = {worst:.2e}")
        self.assertLessEqual(worst, 1e-5)

    def test_bad_input_is_refused(self):
        r = tool("init", "awdlstm", os.path.join(self.tmp.name, "bi"), 1, "-",
                 "bidirectional=true", expect_ok=False)
        self.assertIn("bidirectional", r.stderr)
        ckpt, _ = self.checkpoint("bad", 1, *SMALL)
        path = os.path.join(ckpt, "model.safetensors")
        w = read_safetensors(path)
        del w["encoder.encoder.lstm.2.module.i2h.bias"]
        w["encoder.embedding.weight"] = np.zeros((7, 17), np.float32)
        write_safetensors(path, w)
        seq_path = os.path.join(self.tmp.name, "one.txt")
        with open(seq_path, "w") as f:
            f.write("ACGT\n")
        r = tool("embed", "awdlstm", ckpt, seq_path, os.devnull, expect_ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing tensors: encoder.encoder.lstm.2.module.i2h.bias", r.stderr)
        self.assertIn("encoder.embedding.weight (expected F32 [7, 16], got F32 [7, 17])", r.stderr)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
