"""bend's LibTorch ResNet LM against an independent PyTorch model written from BEND's description.

The reference below is built from torch.nn modules (Conv1d with padding='same', nn.GELU,
nn.LayerNorm, nn.Linear) and reads model.safetensors and tokenizer.json with its own small
parsers (json + numpy). Checkpoints are seeded by bend's tool_resnetlm; the comparison is on the
float32 vectors the tool writes.
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_resnetlm")

SMALL = dict(vocab_size=7, hidden_size=16, n_layers=5, kernel_size=3, dilation_double_every=2,
             dilation_max=4, dilation_cycle=4, initializer_range=0.1)
EVEN_KERNEL = dict(vocab_size=7, hidden_size=24, n_layers=4, kernel_size=4,
                   dilation_double_every=1, dilation_max=8, dilation_cycle=4,
                   initializer_range=0.05)
BEND_FULL = dict(vocab_size=7, hidden_size=256, n_layers=30, kernel_size=9, dilation_double_every=1,
                 dilation_max=32, dilation_cycle=6, initializer_range=0.02)


# ---- safetensors, read and written here from the format description -------------------------
def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        buf = data[b:e]
        if t["dtype"] == "F32":
            arr = np.frombuffer(buf, dtype="<f4")
        elif t["dtype"] == "F16":
            arr = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif t["dtype"] == "BF16":
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name}: dtype {t['dtype']}")
        out[name] = arr.reshape(t["shape"]).copy()
    return out


def write_safetensors(path, tensors, dtype):
    """tensors: dict name -> float32 array; dtype 'F32' | 'F16' | 'BF16'."""
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype=np.float32)
        if dtype == "F32":
            b = a.astype("<f4").tobytes()
        elif dtype == "F16":
            b = a.astype("<f2").tobytes()
        else:  # BF16 by truncation is fine: the reference reads back the same bits
            b = (a.view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---- tokenizer.json, character level ---------------------------------------------------------
def tokenize(tokenizer_json, seq):
    with open(tokenizer_json) as f:
        tok = json.load(f)
    vocab = tok["model"]["vocab"]
    norm = tok.get("normalizer") or {}
    lower = norm.get("type") == "Lowercase" or any(
        n.get("type") == "Lowercase" for n in norm.get("normalizers", []))
    unk = vocab[tok["model"].get("unk_token", "[UNK]")]
    s = seq.lower() if lower else seq
    return [vocab.get(c, unk) for c in s]


# ---- the reference model ---------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, h, k, d):
        super().__init__()
        self.conv = nn.Conv1d(h, h, k, dilation=d, padding="same")
        self.conv_norm = nn.LayerNorm(h)
        self.ffn = nn.Linear(h, h)
        self.ffn_norm = nn.LayerNorm(h)

    def forward(self, x):  # [batch, len, hidden]
        c = self.conv(x.transpose(1, 2)).transpose(1, 2)
        x = x + self.conv_norm(F.gelu(c))
        return x + self.ffn_norm(F.gelu(self.ffn(x)))


class ReferenceResNetLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.h = cfg["hidden_size"]
        cycle, every = cfg["dilation_cycle"], cfg["dilation_double_every"]
        n, top = cfg["n_layers"], cfg["dilation_max"]
        dil = [min(top, 2 ** ((i % cycle) // every)) for i in range(n)]
        self.blocks = nn.ModuleList(Block(self.h, cfg["kernel_size"], d) for d in dil)

    def load(self, weights, prefix=""):
        names = {"conv.weight": "conv.1.weight", "conv.bias": "conv.1.bias",
                 "conv_norm.weight": "conv.4.weight", "conv_norm.bias": "conv.4.bias",
                 "ffn.weight": "ffn.0.weight", "ffn.bias": "ffn.0.bias",
                 "ffn_norm.weight": "ffn.2.weight", "ffn_norm.bias": "ffn.2.bias"}
        state = {}
        for i in range(len(self.blocks)):
            for ours, bend in names.items():
                w = weights[f"{prefix}encoder.{i}.{bend}"]
                state[f"blocks.{i}.{ours}"] = torch.from_numpy(w)
        self.load_state_dict(state, strict=True)
        return self

    def forward(self, ids):  # one sequence -> [len, hidden] numpy
        return self.forward_batch(torch.tensor([ids], dtype=torch.long))[0].numpy()

    @torch.no_grad()
    def forward_batch(self, ids):  # [batch, len] equal-length sequences -> [batch, len, hidden]
        dtype = self.blocks[0].conv.weight.dtype  # float32, or float64 after .double()
        x = F.one_hot(ids, num_classes=self.h).to(dtype)
        for b in self.blocks:
            x = b(x)
        return x


# ---- helpers ---------------------------------------------------------------------------------
def random_seqs(rng, lengths, n_frac=0.05):
    out = []
    for n in lengths:
        s = [rng.choice("ACGT") if rng.random() > n_frac else "N" for _ in range(n)]
        out.append("".join(s))
    return out


def run(*args):
    r = subprocess.run([TOOL, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"tool_resnetlm {' '.join(args)} failed:\n{r.stderr}")
    return r.stdout


class ResNetLMReference(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def make_checkpoint(self, name, cfg, seed):
        d = os.path.join(self.tmp.name, name)
        cfg_path = d + ".config.json"
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        run("init", d, str(seed), cfg_path)
        return d

    def embed(self, ckpt, seqs, batch):
        seq_path = os.path.join(self.tmp.name, "seqs.txt")
        out_path = os.path.join(self.tmp.name, "out.bin")
        with open(seq_path, "w") as f:
            f.write("".join(s + "\n" for s in seqs))
        flags = ["--threads", "1"] + (["--batch"] if batch else [])
        stdout = run("embed", ckpt, seq_path, out_path, *flags)
        h = int(stdout.split()[1])
        flat = np.fromfile(out_path, dtype="<f4")
        self.assertEqual(flat.size, sum(len(s) for s in seqs) * h)
        out, off = [], 0
        for s in seqs:
            out.append(flat[off:off + len(s) * h].reshape(len(s), h))
            off += len(s) * h
        return out

    def compare_with_reference(self, ckpt, cfg, seqs, got, prefix="", deep=False):
        """Max |bend - reference| <= 1e-4.

        deep: BEND's full size. Its residual stream grows with depth (rms ~8, max ~40), where two
        float32 implementations differ by ~20 ulps (~8e-5) after 30 layers: the issue's absolute
        1e-4 still holds against the float32 reference (measured 7.8e-5), and bend is also
        checked against a float64 reference with 1e-4 * rms: its float32 error must be of
        float32 size, not a mistake shared with ours.
        """
        weights = read_safetensors(os.path.join(ckpt, "model.safetensors"))
        refs = {"float32": ReferenceResNetLM(cfg).load(weights, prefix)}
        if deep:
            w64 = {k: v.astype(np.float64) for k, v in weights.items()}
            refs["float64"] = ReferenceResNetLM(cfg).double().load(w64, prefix)
        for kind, ref in refs.items():
            for s, g in zip(seqs, got):
                want = ref(tokenize(os.path.join(ckpt, "tokenizer.json"), s))
                self.assertEqual(want.shape, g.shape)
                self.assertTrue(np.abs(want).max() > 0.1)  # not a degenerate all-zero output
                rms = float(np.sqrt(np.mean(want.astype(np.float64) ** 2)))
                bound = 1e-4 * max(1.0, rms) if kind == "float64" else 1e-4
                diff = float(np.abs(want - g).max())
                print(f"  len {len(s)}: max |bend - {kind} reference| = {diff:.2e} "
                      f"(rms {rms:.2f}, bound {bound:.1e})")
                self.assertLessEqual(diff, bound, f"length {len(s)} vs {kind} reference")

    def test_tokenizer_ids(self):
        ckpt = self.make_checkpoint("tok", SMALL, 1)
        self.assertEqual(tokenize(os.path.join(ckpt, "tokenizer.json"), "ACGTN"), [3, 4, 5, 6, 2])

    def test_small_config_matches_reference(self):
        cfg = SMALL
        ckpt = self.make_checkpoint("small", cfg, 7)
        seqs = random_seqs(random.Random(1), [1, 2, 17, 64, 200]) + ["NNNNACGTNNNN"]
        self.compare_with_reference(ckpt, cfg, seqs, self.embed(ckpt, seqs, batch=False))

    def test_even_kernel_same_padding_matches_reference(self):
        cfg = EVEN_KERNEL
        ckpt = self.make_checkpoint("even", cfg, 8)
        seqs = random_seqs(random.Random(2), [3, 50, 129])
        self.compare_with_reference(ckpt, cfg, seqs, self.embed(ckpt, seqs, batch=False))

    def test_bend_full_size_matches_reference(self):
        cfg = BEND_FULL
        ckpt = self.make_checkpoint("full", cfg, 2024)
        seqs = random_seqs(random.Random(3), [300, 1000])
        seqs[0] = seqs[0][:100] + "N" * 50 + seqs[0][150:]
        got = self.embed(ckpt, seqs, batch=False)
        self.compare_with_reference(ckpt, cfg, seqs, got, deep=True)

    def test_padded_batch_equals_batch_size_one(self):
        for name, cfg, lengths in [("batch_small", SMALL, [200, 1, 33, 64, 7]),
                                   ("batch_full", BEND_FULL, [57, 600, 301])]:
            ckpt = self.make_checkpoint(name, cfg, 99)
            seqs = random_seqs(random.Random(4), lengths, n_frac=0.2)
            single = self.embed(ckpt, seqs, batch=False)
            batched = self.embed(ckpt, seqs, batch=True)
            worst = max(float(np.abs(a - b).max()) for a, b in zip(single, batched))
            print(f"  {name}: max |batched - single| = {worst:.2e}")
            self.assertLessEqual(worst, 1e-5)

    def test_masked_lm_checkpoint_in_half_precision(self):
        """model.-prefixed names, an ignored cls.* head, F16 and BF16 storage."""
        cfg = SMALL
        seqs = random_seqs(random.Random(5), [40, 90])
        for dtype in ["F16", "BF16"]:
            ckpt = self.make_checkpoint("mlm_" + dtype, cfg, 31)
            weights = read_safetensors(os.path.join(ckpt, "model.safetensors"))
            mlm = {"model." + k: v for k, v in weights.items()}
            mlm["cls.decoder.3.weight"] = np.ones((7, cfg["hidden_size"]), np.float32)
            write_safetensors(os.path.join(ckpt, "model.safetensors"), mlm, dtype)
            got = self.embed(ckpt, seqs, batch=False)
            self.compare_with_reference(ckpt, cfg, seqs, got, prefix="model.")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
