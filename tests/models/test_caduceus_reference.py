"""bend's LibTorch Caduceus against an independent PyTorch reference (caduceus_reference.py).

Checkpoints are seeded by bend (tool_causal_lm init) from configs in the layout of the published
Caduceus-Ph / Caduceus-PS configs (tests/models/configs, sizes reduced with --set); the reference
reads the same model.safetensors and follows the published modules literally. Sequences come from
the real hg38 chr2 excerpt in tests/data, with N runs, lower case and unknown bytes spliced in.
"""
import gzip
import json
import os
import random
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from caduceus_reference import CHUNK_BP, CaduceusReference  # noqa: E402
from causal_lm_reference import bend_embed, read_safetensors, tool, write_safetensors  # noqa: E402

DATA = os.path.join(HERE, "..", "data")  # tests/data: real test data
PH = os.path.join(HERE, "configs", "caduceus-ph.json")
PS = os.path.join(HERE, "configs", "caduceus-ps.json")
SMALL = ["d_model=32", "n_layer=3", "initializer_range=0.1"]
COMP = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}


def read_chr2():
    with gzip.open(os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz"), "rt") as f:
        return "".join(line.strip() for line in f if not line.startswith(">"))


def revcomp(s):
    return "".join(COMP[c] for c in reversed(s))


class CaduceusReferenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.chr2 = read_chr2()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def seqs(self, lengths, seed, upper=True):
        """Real chr2 pieces (outside the leading N run), upper-cased unless asked otherwise."""
        rng = random.Random(seed)
        out = []
        for n in lengths:
            s = rng.randrange(20000, len(self.chr2) - n)
            piece = self.chr2[s:s + n]
            out.append(piece.upper() if upper else piece)
        return out

    def checkpoint(self, name, config_path, seed, *keys):
        d = os.path.join(self.tmp.name, name)
        tool("init", "caduceus", d, seed, config_path, *keys)
        with open(os.path.join(d, "config.json")) as f:
            return d, json.load(f)

    def compare(self, ckpt, cfg, seqs, got, output="hidden", prefix="caduceus.backbone.",
                head=None):
        """Max |bend - reference| <= 1e-4 against float32 and float64 references."""
        weights = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        for dtype in (torch.float32, torch.float64):
            ref = CaduceusReference(cfg, weights, prefix, dtype)
            worst = 0.0
            for s, g in zip(seqs, got):
                want = ref.embed(s, output, head)
                self.assertEqual(want.shape, g.shape)
                self.assertGreater(np.abs(want).max(), 0.1)  # not a degenerate output
                diff = float(np.abs(want - g).max())
                worst = max(worst, diff)
                self.assertLessEqual(diff, 1e-4, f"{output}, length {len(s)} vs {dtype}")
            print(f"  {os.path.basename(ckpt)} {output}: lengths {[len(s) for s in seqs]}: "
                  f"max |bend - {dtype} reference| = {worst:.2e}")

    def test_ps_and_ph_published_layouts_on_chr2(self):
        """The published configs' layout (fused_add_norm, RMSNorm, tied bidirectional Mamba):
        PS (hidden 2 d_model) and Ph (d_model), with N runs, lower case and unknown bytes."""
        for name, path in [("ps", PS), ("ph", PH)]:
            ckpt, cfg = self.checkpoint(name, path, 11, *SMALL)
            seqs = self.seqs([1, 5, 300, 1000], 1, upper=False)
            seqs[2] = seqs[2][:100] + "N" * 40 + "acgtRY" + seqs[2][146:]
            got = bend_embed(self.tmp.name, "caduceus", ckpt, seqs)
            self.assertEqual(got[0].shape[1], 64 if name == "ps" else 32)
            self.compare(ckpt, cfg, seqs, got)

    def test_config_variants(self):
        """Non-fused RCPS wrappers with LayerNorm; ew_multiply with untied directions and biases;
        forward-only Mamba with other sizes and no conv bias; a vocab_size already padded."""
        variants = [
            ("ps_unfused_ln", PS, ["rcps=true", "fused_add_norm=false", "rms_norm=false"]),
            ("ph_ewmul", PH, ['bidirectional_strategy="ew_multiply"',
                              "bidirectional_weight_tie=false", "ssm_cfg.bias=true"]),
            ("ph_forward", PH, ["bidirectional=false", "ssm_cfg.d_state=4", "ssm_cfg.d_conv=3",
                                "ssm_cfg.expand=3", "ssm_cfg.dt_rank=5",
                                "ssm_cfg.conv_bias=false"]),
            ("ps_vocab16", PS, ["vocab_size=16", "bidirectional_weight_tie=false"]),
        ]
        for i, (name, path, keys) in enumerate(variants):
            ckpt, cfg = self.checkpoint(name, path, 20 + i, *SMALL, *keys)
            seqs = self.seqs([7, 400], 30 + i)
            self.compare(ckpt, cfg, seqs, bend_embed(self.tmp.name, "caduceus", ckpt, seqs))

    def test_ps_is_reverse_complement_equivariant(self):
        """Caduceus-PS: the embedding of the reverse complement is the embedding flipped along
        the sequence and the channels (fused and non-fused blocks); Ph is not."""
        seqs = self.seqs([257, 900], 5)
        both = seqs + [revcomp(s) for s in seqs]
        for name, path, keys in [("eq_ps", PS, []), ("eq_ps_unfused", PS, ["fused_add_norm=false"]),
                                 ("eq_ph", PH, [])]:
            ckpt, _ = self.checkpoint(name, path, 7, *SMALL, *keys)
            got = bend_embed(self.tmp.name, "caduceus", ckpt, both)
            for a, b in zip(got[:2], got[2:]):
                diff = float(np.abs(b - a[::-1, ::-1]).max())
                print(f"  {name}: max |emb(rc(s)) - flip(emb(s))| = {diff:.2e}")
                if name == "eq_ph":
                    self.assertGreater(diff, 1e-2)
                else:
                    self.assertLessEqual(diff, 1e-5)

    def test_padded_batch_equals_single_inputs(self):
        """Inputs of different lengths in one right-padded batch: the reverse scans run within
        each input's length, so the vectors equal those of inputs run alone."""
        for name, path, keys in [("batch_ps", PS, []), ("batch_ph", PH, ["fused_add_norm=false"])]:
            ckpt, cfg = self.checkpoint(name, path, 99, *SMALL, *keys)
            seqs = self.seqs([700, 3, 1200, 64, 1200], 4)
            single = bend_embed(self.tmp.name, "caduceus", ckpt, seqs)
            batched = bend_embed(self.tmp.name, "caduceus", ckpt, seqs, "--batch")
            worst = max(float(np.abs(a - b).max()) for a, b in zip(single, batched))
            print(f"  {name}: max |batched - single| = {worst:.2e}")
            self.assertLessEqual(worst, 1e-5)
            self.compare(ckpt, cfg, seqs, batched)

    def test_aten_scan_of_other_devices(self):
        """The scan path CUDA runs (ATen ops in blocks of positions), forced on CPU."""
        ckpt, cfg = self.checkpoint("aten", PS, 12, *SMALL)
        seqs = self.seqs([3, 700, 150], 13)
        os.environ["BEND_CADUCEUS_ATEN_SCAN"] = "1"
        try:
            got = bend_embed(self.tmp.name, "caduceus", ckpt, seqs, "--batch")
        finally:
            del os.environ["BEND_CADUCEUS_ATEN_SCAN"]
        self.compare(ckpt, cfg, seqs, got)

    def test_logits_and_loss(self):
        """CaduceusForMaskedLM's head (tied, and an explicit lm_head weight) and BEND's loss:
        cross-entropy over the A, C, G, T, N logits of each input base."""
        seqs = self.seqs([1, 333], 8)
        for name, path in [("lm_ps", PS), ("lm_ph", PH)]:
            ckpt, cfg = self.checkpoint(name, path, 3, *SMALL)
            for output in ("logits", "loss"):
                got = bend_embed(self.tmp.name, "caduceus", ckpt, seqs, "--output", output)
                self.assertEqual(got[0].shape[1], 16 if output == "logits" else 1)
                self.compare(ckpt, cfg, seqs, got, output)
            path_w = os.path.join(ckpt, "model.safetensors")
            w = read_safetensors(path_w)
            head = np.random.default_rng(1).normal(0, 0.3, (16, 32)).astype(np.float32)
            w["lm_head.lm_head.weight" if name == "lm_ps" else "lm_head.weight"] = head
            write_safetensors(path_w, w)
            got = bend_embed(self.tmp.name, "caduceus", ckpt, seqs, "--output", "logits")
            self.compare(ckpt, cfg, seqs, got, "logits", head=head)

    def test_converted_names_tied_copies_and_f16(self):
        """"backbone." names (the Caduceus base model), mamba_rev's tied projections stored as
        copies, F16 storage, a head that is ignored for hidden output."""
        ckpt, cfg = self.checkpoint("conv", PS, 8, *SMALL)
        w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        out = {}
        for k, v in w.items():
            out["backbone." + k[len("caduceus.backbone."):]] = v
            if ".mamba_fwd.in_proj" in k or ".mamba_fwd.out_proj" in k:
                out["backbone." + k[len("caduceus.backbone."):].replace("fwd", "rev")] = v
        out["lm_head.lm_head.weight"] = np.ones((16, 32), np.float32)
        write_safetensors(os.path.join(ckpt, "model.safetensors"), out, "F16")
        seqs = self.seqs([90, 15], 3)
        got = bend_embed(self.tmp.name, "caduceus", ckpt, seqs)
        self.compare(ckpt, cfg, seqs, got, prefix="backbone.")

    def test_sequence_longer_than_one_piece(self):
        """BEND cuts pieces of 131072 bp from the start, each embedded on its own."""
        ckpt, cfg = self.checkpoint("long", PH, 5, "d_model=8", "n_layer=1", "initializer_range=0.3",
                                    "ssm_cfg.d_state=4")
        seqs = self.seqs([CHUNK_BP + 300], 6)
        self.compare(ckpt, cfg, seqs, bend_embed(self.tmp.name, "caduceus", ckpt, seqs))

    def test_bad_configs_and_checkpoints_are_refused_with_names(self):
        ckpt, _ = self.checkpoint("bad", PS, 8, *SMALL)
        path = os.path.join(ckpt, "model.safetensors")
        w = read_safetensors(path)
        del w["caduceus.backbone.layers.1.mixer.submodule.mamba_fwd.A_log"]
        w["caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.D"] = np.zeros(63, np.float32)
        w["caduceus.backbone.layers.0.extra"] = np.zeros(3, np.float32)
        write_safetensors(path, w)
        seq_path = os.path.join(self.tmp.name, "one.txt")
        with open(seq_path, "w") as f:
            f.write("ACGT\n")
        r = tool("embed", "caduceus", ckpt, seq_path, os.devnull, expect_ok=False)
        self.assertEqual(r.returncode, 1)
        for part in ["missing tensors: caduceus.backbone.layers.1.mixer.submodule.mamba_fwd.A_log",
                     "caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.D (expected F32 [64], "
                     "got F32 [63])", "unexpected tensors: caduceus.backbone.layers.0.extra"]:
            self.assertIn(part, r.stderr)
        with open(PS) as f:
            base = json.load(f)
        for change, message in [
                ({"bidirectional_strategy": "concat"}, 'bidirectional_strategy "concat" is not'),
                ({"ssm_cfg": {"layer": "Mamba2", "headdim": 64}}, "ssm_cfg.headdim is not supported"),
                ({"complement_map": None}, '"rcps": true needs a "complement_map"'),
                ({"complement_map": {"0": 99}}, 'complement_map entry "0": 99'),
                ({"model_type": "mamba"}, 'model_type is "mamba"')]:
            cfg_path = os.path.join(self.tmp.name, "bad.json")
            with open(cfg_path, "w") as f:
                json.dump(dict(base, **change), f)
            r = tool("init", "caduceus", os.path.join(self.tmp.name, "never"), 1, cfg_path,
                     expect_ok=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn(message, r.stderr)
            self.assertIn("bad.json", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
