"""Our AdamW (explicit state, checkpointable) takes the same steps as torch.optim.AdamW."""
import json
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

import numpy as np
import torch

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_adamw")


def write_st(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_st(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", raw)
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + a: 8 + n + b], dtype="<f4").reshape(v["shape"])
    return out


class AdamWReference(unittest.TestCase):
    def check(self, lr, wd, steps, seed):
        rng = np.random.default_rng(seed)
        shapes = {"w": (7, 3), "b": (5,), "k": (2, 3, 4)}
        init = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
        grads = {(k, s): (rng.standard_normal(shapes[k]) * 10 ** rng.uniform(-4, 2)).astype(np.float32)
                 for k in shapes for s in range(steps)}
        d = tempfile.mkdtemp(prefix="bend-adamw-")
        self.addCleanup(shutil.rmtree, d, True)
        tensors = {"param." + k: v for k, v in init.items()}
        tensors.update({"grad.%s.%d" % (k, s): g for (k, s), g in grads.items()})
        write_st(os.path.join(d, "in.safetensors"), tensors)
        subprocess.run([TOOL, os.path.join(d, "in.safetensors"), os.path.join(d, "out.safetensors"),
                        repr(lr), repr(wd), str(steps)], check=True)
        ours = read_st(os.path.join(d, "out.safetensors"))
        params = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
        opt = torch.optim.AdamW(list(params.values()), lr=lr, weight_decay=wd)
        for s in range(steps):
            for k, p in params.items():
                p.grad = torch.tensor(grads[(k, s)])
            opt.step()
            for k, p in params.items():
                np.testing.assert_allclose(ours["param.%s.%d" % (k, s)], p.detach().numpy(), rtol=2e-6, atol=2e-7,
                                           err_msg="param %s after step %d" % (k, s))

    def test_default_weight_decay(self):
        self.check(3e-3, 0.01, 25, 1)

    def test_no_weight_decay_large_lr(self):
        self.check(0.1, 0.0, 10, 2)

    def test_strong_weight_decay(self):
        self.check(1e-3, 0.5, 15, 3)


if __name__ == "__main__":
    unittest.main()
