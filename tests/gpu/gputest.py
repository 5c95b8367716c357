"""Shared helpers of the `gpu` tests (registered only in CUDA builds; tools/gpu/run.sh runs them)."""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "app"))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tools", "bench"))
import bendtest as bt  # noqa: E402,F401
import run_bench  # noqa: E402,F401  (zoo_models, zoo_sequences: the benchmark's architectures)


def forward(ckpt, model, seqs, out, extra=()):
    """bend bench forward over the batch in `seqs`, its float32 outputs written to `out`."""
    bt.bend(["bench", "forward", "--model", model, "--checkpoint", ckpt, "--seqs", seqs, "--seconds", "0",
             "--dump-output", out] + list(extra))
    return np.fromfile(out, dtype="<f4")
