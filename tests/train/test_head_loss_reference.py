"""bend's LibTorch head and losses against an independent PyTorch reference.

The reference head is BEND's CNN layout built from torch.nn modules (nn.Sequential of a transpose,
nn.Conv1d, a transpose and nn.GELU; nn.AvgPool1d; nn.Linear), loaded with load_state_dict(strict)
so BEND's parameter names are checked too. Reference losses are torch.nn.functional's
cross_entropy / binary_cross_entropy_with_logits / poisson_nll_loss / mse_loss on the unmasked
elements. Inputs are drawn here with seeded numpy; tool_head_loss runs bend's head forward, the
loss and backward, and writes logits, loss and every gradient, which are compared here.
"""
import json
import os
import struct
import subprocess
import tempfile
import unittest

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_head_loss")
NAMES = ["conv1.1.weight", "conv1.1.bias", "conv2.1.weight", "conv2.1.bias",
         "linear.0.weight", "linear.0.bias"]
IGNORE = -100


# ---- safetensors, written and read here from the format description -------------------------
def write_safetensors(path, tensors, metadata):
    header, blobs, off = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, [], 0
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(np.shape(arr)),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        b, e = t["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(t["shape"])
    return out


# ---- the reference head: BEND's CNN layout from torch.nn modules -----------------------------
class Transpose(nn.Module):
    def forward(self, x):
        return torch.transpose(x, 1, 2)


class RefHead(nn.Module):
    def __init__(self, input_dim, hidden, kernel, window, n_out):
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Sequential(Transpose(), nn.Conv1d(input_dim, hidden, kernel, stride=1,
                                                          padding=pad), Transpose(), nn.GELU())
        self.conv2 = nn.Sequential(Transpose(), nn.Conv1d(hidden, hidden, kernel, stride=1,
                                                          padding=pad), Transpose(), nn.GELU())
        self.downsample = (nn.Sequential(Transpose(), nn.AvgPool1d(window, stride=window),
                                         Transpose()) if window else None)
        self.linear = nn.Sequential(nn.Linear(hidden, n_out))

    def forward(self, x):
        x = self.conv2(self.conv1(x))
        if self.downsample is not None:
            x = self.downsample(x)
        return self.linear(x)


def ref_loss(logits, target, criterion, class_weights, pos_weight):
    """Mean loss as torch.nn.functional computes it, padding (-100) excluded."""
    if criterion == "cross_entropy":
        w = torch.tensor(class_weights, dtype=logits.dtype) if class_weights else None
        return F.cross_entropy(logits.permute(0, 2, 1), target.long(), weight=w,
                               ignore_index=IGNORE)
    y = (target if target.dim() == 3 else target.unsqueeze(-1)).to(logits.dtype)
    m = y != IGNORE
    x, y = logits[m], y[m]
    if criterion == "bce":
        pw = torch.tensor([pos_weight], dtype=logits.dtype) if pos_weight else None
        return F.binary_cross_entropy_with_logits(x, y, pos_weight=pw)
    if criterion == "poisson":
        return F.poisson_nll_loss(x, y, log_input=True, full=False)
    return F.mse_loss(x, y)


def ref_predictions(logits, criterion):
    return {"bce": torch.sigmoid, "cross_entropy": lambda t: t.argmax(-1).float(),
            "poisson": torch.exp, "mse": lambda t: t}[criterion](logits)


def padded_lengths(rng, batch, length):
    """Row lengths of a padded batch: the first row is full, the others may be shorter."""
    return [length] + [int(rng.integers(max(1, length // 3), length + 1)) for _ in range(batch - 1)]


def make_case(seed, criterion, batch, length, input_dim, hidden, kernel, window, n_out,
              class_weights=(), pos_weight=0.0, with_weights=True, target_2d=False):
    rng = np.random.default_rng(seed)
    lens = padded_lengths(rng, batch, length)
    x = rng.normal(size=(batch, length, input_dim)).astype(np.float32)
    for b, n in enumerate(lens):
        x[b, n:] = 0  # padded positions hold zero vectors, as the trainer's batches do
    t_len = length // window if window else length
    t_lens = [n // window if window else n for n in lens]
    if criterion == "cross_entropy":
        target = rng.integers(0, n_out, size=(batch, t_len)).astype(np.float32)
        target[rng.random(size=target.shape) < 0.1] = IGNORE  # scattered ignored targets
    elif criterion == "bce":
        target = (rng.random(size=(batch, t_len, n_out)) < 0.3).astype(np.float32)
        target[rng.random(size=target.shape) < 0.05] = IGNORE  # single masked elements
    elif criterion == "poisson":
        target = rng.poisson(2.0, size=(batch, t_len, n_out)).astype(np.float32)
    else:
        target = (3 * rng.normal(size=(batch, t_len, n_out))).astype(np.float32)
    for b, n in enumerate(t_lens):
        target[b, n:] = IGNORE
    if target_2d:
        assert n_out == 1 and criterion != "cross_entropy"
        target = target[:, :, 0]
    tensors = {"x": x, "target": target}
    head_seed = int(rng.integers(0, 2**31))
    if with_weights:
        scale = 0.3
        for name, shape in zip(NAMES, [(hidden, input_dim, kernel), (hidden,),
                                       (hidden, hidden, kernel), (hidden,), (n_out, hidden),
                                       (n_out,)]):
            tensors[name] = (scale * rng.normal(size=shape)).astype(np.float32)
    meta = dict(input_dim=input_dim, hidden=hidden, kernel=kernel, output_window=window,
                n_out=n_out, seed=head_seed, criterion=criterion,
                class_weights=",".join(repr(float(w)) for w in class_weights),
                pos_weight=repr(float(pos_weight)))
    return tensors, meta


def run_tool(tensors, meta):
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.safetensors"), os.path.join(d, "out.safetensors")
        write_safetensors(src, tensors, meta)
        r = subprocess.run([TOOL, src, dst], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError(f"tool_head_loss failed ({r.returncode}): {r.stderr}")
        return read_safetensors(dst)


def reference(tensors, meta, params):
    """Logits, loss, predictions and gradients from the torch.nn reference, in float64 (exact
    enough to judge float32 results, and clear of CPU float32 kernel paths such as oneDNN's)."""
    ref = RefHead(int(meta["input_dim"]), int(meta["hidden"]), int(meta["kernel"]),
                  int(meta["output_window"]), int(meta["n_out"])).double()
    ref.load_state_dict({k: torch.from_numpy(np.array(v, np.float64)) for k, v in params.items()},
                        strict=True)
    logits = ref(torch.from_numpy(tensors["x"]).double())
    logits.retain_grad()
    weights = [float(w) for w in meta["class_weights"].split(",") if w]
    loss = ref_loss(logits, torch.from_numpy(tensors["target"]), meta["criterion"], weights,
                    float(meta["pos_weight"]))
    loss.backward()
    out = {"logits": logits.detach().numpy(), "loss": loss.detach().numpy().reshape(1),
           "grad.logits": logits.grad.numpy(),
           "pred": ref_predictions(logits.detach(), meta["criterion"]).numpy()}
    for name, p in ref.named_parameters():
        out["grad." + name] = p.grad.numpy()
    return out


class HeadLossReference(unittest.TestCase):
    def assert_close(self, ours, ref, what, rtol=1e-5):
        ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
        self.assertEqual(ours.shape, ref.shape, what)
        scale = max(1.0, float(np.abs(ref).max())) if ref.size else 1.0
        err = float(np.abs(ours - ref).max()) if ref.size else 0.0
        self.assertLessEqual(err, rtol * scale, f"{what}: max abs error {err:g} (scale {scale:g})")

    def check(self, tensors, meta):
        ours = run_tool(tensors, meta)
        params = {n: ours["param." + n] for n in NAMES}
        for n in NAMES:
            if n in tensors:  # the tool used the weights it was given
                np.testing.assert_array_equal(ours["param." + n], tensors[n], err_msg=n)
        ref = reference(tensors, meta, params)
        label = f"{meta['criterion']} k={meta['kernel']} window={meta['output_window']}"
        self.assert_close(ours["logits"], ref["logits"], label + ": logits")
        self.assert_close(ours["loss"], ref["loss"], label + ": loss")
        self.assert_close(ours["sum"] / ours["denom"], ref["loss"], label + ": sum/denom")
        self.assert_close(ours["pred"], ref["pred"], label + ": predictions")
        for key in ["grad.logits"] + ["grad." + n for n in NAMES]:
            self.assert_close(ours[key], ref[key], f"{label}: {key}")
        return ours, ref

    def test_cross_entropy_no_pooling_k3(self):
        t, m = make_case(1, "cross_entropy", batch=4, length=37, input_dim=12, hidden=16,
                         kernel=3, window=0, n_out=3)
        ours, _ = self.check(t, m)
        counted = int((t["target"] != IGNORE).sum())
        self.assertEqual(float(ours["denom"][0]), counted, "CE denominator = counted targets")

    def test_cross_entropy_class_weights_k5(self):
        w = [0.5, 4.0, 1.5, 0.25, 9.0]
        t, m = make_case(2, "cross_entropy", batch=3, length=41, input_dim=8, hidden=24,
                         kernel=5, window=0, n_out=5, class_weights=w)
        ours, _ = self.check(t, m)
        y = t["target"][t["target"] != IGNORE].astype(int)
        self.assertAlmostEqual(float(ours["denom"][0]), float(np.asarray(w)[y].sum()), places=3,
                               msg="weighted CE denominator = weights of counted targets")

    def test_cross_entropy_pooled_windows(self):
        t, m = make_case(3, "cross_entropy", batch=3, length=45, input_dim=6, hidden=10,
                         kernel=3, window=4, n_out=4, class_weights=[1.0, 2.0, 3.0, 0.5])
        ours, _ = self.check(t, m)
        self.assertEqual(ours["logits"].shape, (3, 45 // 4, 4))

    def test_bce_pos_weight_padding_and_bend_mask(self):
        t, m = make_case(4, "bce", batch=4, length=30, input_dim=10, hidden=12, kernel=5,
                         window=0, n_out=3, pos_weight=2.5)
        ours, ref = self.check(t, m)
        self.assertEqual(float(ours["denom"][0]), int((t["target"] != IGNORE).sum()))
        logits = torch.from_numpy(np.array(ref["logits"]))
        target = torch.from_numpy(t["target"]).double()
        m_ = target != IGNORE
        # BEND weights positives' loss by the class weight: the same as pos_weight for 0/1
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        bend_weighted = loss * (1 + 1.5 * (target == 1).double())  # class weight 2.5 on 1s
        self.assertAlmostEqual(float(bend_weighted[m_].mean()), float(ours["loss"][0]), places=5)
        # BEND's mask `~target != -100` keeps padding (on integer targets it is all True but
        # for target 99): its mean includes the -100 positions and differs from the masked one
        bend_mask = ~target.long() != IGNORE
        self.assertTrue(bool(bend_mask.all()))
        bend_loss = float(bend_weighted[bend_mask].mean())
        self.assertGreater(abs(bend_loss - float(ours["loss"][0])), 1e-2)

    def test_bce_single_output_2d_target_pooled(self):
        t, m = make_case(5, "bce", batch=5, length=50, input_dim=7, hidden=9, kernel=3,
                         window=5, n_out=1, pos_weight=0.0, target_2d=True)
        self.assertEqual(t["target"].ndim, 2)
        self.check(t, m)

    def test_poisson(self):
        t, m = make_case(6, "poisson", batch=3, length=33, input_dim=9, hidden=11, kernel=5,
                         window=3, n_out=2)
        self.check(t, m)

    def test_mse(self):
        t, m = make_case(7, "mse", batch=4, length=28, input_dim=5, hidden=8, kernel=3,
                         window=0, n_out=2)
        self.check(t, m)

    def test_wide_inputs_bce_pooled(self):
        # dim >= 128: the width from which bend train hands the head [batch, len, dim] batches
        # (its channels-last first convolution) rather than channels-first ones
        t, m = make_case(10, "bce", batch=3, length=64, input_dim=160, hidden=16, kernel=3,
                         window=64, n_out=4)
        self.check(t, m)

    def test_seeded_init_is_pytorch_default_init(self):
        t, m = make_case(8, "cross_entropy", batch=2, length=20, input_dim=13, hidden=17,
                         kernel=5, window=0, n_out=3, with_weights=False)
        ours, _ = self.check(t, m)
        # BEND builds conv1, conv2, linear in that order right after torch.manual_seed
        torch.manual_seed(int(m["seed"]))
        ref = RefHead(13, 17, 5, 0, 3)
        for name, p in ref.named_parameters():
            np.testing.assert_array_equal(ours["param." + name], p.detach().numpy(), err_msg=name)
        # a different seed gives different weights
        m2 = dict(m, seed=int(m["seed"]) + 1)
        other = run_tool(t, m2)
        self.assertFalse(np.array_equal(other["param.conv1.1.weight"],
                                        ours["param.conv1.1.weight"]))

    def test_bad_target_class_is_an_error(self):
        t, m = make_case(9, "cross_entropy", batch=2, length=10, input_dim=4, hidden=4,
                         kernel=3, window=0, n_out=3)
        t["target"][1, 2] = 3
        with self.assertRaisesRegex(AssertionError, "outside \\[0, 3\\)"):
            run_tool(t, m)


if __name__ == "__main__":
    unittest.main()
