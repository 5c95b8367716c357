#!/usr/bin/python3
"""Benchmark peer: the python3-torch reference of one architecture, timed on the batch that
`bend bench forward` ran, with the same weights and threads, and checked against bend's outputs.

The references are the tests' own (tests/models: transformer_reference.py for dnabert / nt /
dnabert2 / gena-lm / grover, causal_lm_reference.py for hyenadna / awdlstm,
test_resnetlm_reference.py for resnetlm, caduceus_reference.py for caduceus, gpn_reference.py for
gpn), imported from there. The inputs are the token ids bend wrote (`--dump-tokens`), so the
tokenizers are not part of the comparison (bend bench forward tokenizes before timing, too); all
model inputs of the batch run as one forward (right-padded and masked where lengths differ), and
each token's vector is repeated over its nucleotides (BEND's upsampling, from the repeat counts
bend packed with the ids). Prints `nt_per_s=... max_abs_diff=...` (docs/benchmarks.md).
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "models"))
import transformer_reference  # noqa: E402
from caduceus_reference import CaduceusReference  # noqa: E402
from causal_lm_reference import AwdLstmReference, HyenaReference  # noqa: E402
from gpn_reference import GpnReference  # noqa: E402
from test_lm_embedders import unpack  # noqa: E402  (bend's packed token vector)
from test_resnetlm_reference import ReferenceResNetLM, read_safetensors  # noqa: E402

TRANSFORMERS = {"dnabert": "bert", "gena-lm": "bert", "nt": "esm", "dnabert2": "mosaic-bert",
                "grover": "bert"}


def read_lines(path):
    with open(path) as f:
        return [line.rstrip("\r\n") for line in f if line.strip()]


def plain_batch(fn, rows):
    """Models with one id per nucleotide and no special tokens: rows of equal length, one batch."""
    n = len(rows[0])
    if any(len(r) != n for r in rows):
        raise SystemExit("torch_forward: rows of different lengths (%s); the reference runs equal "
                         "lengths only" % sorted({len(r) for r in rows}))
    ids = torch.tensor(rows, dtype=torch.long)
    return lambda: fn(ids)


def chunked_batch(run_inputs, packed_rows):
    """Packed token vectors (every row's model inputs + repeat counts): all inputs of the batch
    through run_inputs (list of id lists -> list of [n_i, dim] numpy) in one call, then each row's
    vectors repeated over its nucleotides."""
    rows = [unpack(p) for p in packed_rows]
    inputs = [c for chunks, _ in rows for c in chunks]

    def run():
        states = run_inputs(inputs)
        out, k = [], 0
        for chunks, repeat in rows:
            s = np.concatenate(states[k:k + len(chunks)])
            k += len(chunks)
            out.append(np.repeat(s, repeat, axis=0))
        return out
    return run


def hyena_inputs(ref, pad_id):
    def run(inputs):
        n = max(len(i) for i in inputs)
        y = ref.forward([list(i) + [pad_id] * (n - len(i)) for i in inputs]).numpy()  # causal
        return [y[b, :len(i)] for b, i in enumerate(inputs)]
    return run


def make_batch_fn(model, ckpt, cfg, rows, device="cpu"):
    """A function running the whole batch -> list of [len_bp, dim] float32 arrays. device "cuda":
    resnetlm only (the other references are written for CPU tensors)."""
    if device != "cpu" and model != "resnetlm":
        raise SystemExit("torch_forward: --device %s: only the resnetlm reference runs off the CPU" % device)
    weights_path = os.path.join(ckpt, "model.safetensors")
    if model in TRANSFORMERS:
        return chunked_batch(transformer_reference.reference_batch(TRANSFORMERS[model], ckpt, cfg), rows)
    if model == "hyenadna":
        weights = read_safetensors(weights_path)
        prefix = next(p for p in ("hyena.backbone.", "model.backbone.", "backbone.", "")
                      if p + "ln_f.weight" in weights)
        ref = HyenaReference(cfg, weights, prefix, torch.float32, long_conv="fft")  # hyena-dna's fftconv
        return chunked_batch(hyena_inputs(ref, pad_id=4), rows)
    if model == "caduceus":  # one id per nt, no special tokens: the batch as one tensor
        weights = read_safetensors(weights_path)
        prefix = next(p for p in ("caduceus.backbone.", "backbone.", "") if p + "norm_f.weight" in weights
                      or p + "norm_f.submodule.weight" in weights)
        ref = CaduceusReference(cfg, weights, prefix, torch.float32)  # plain tensors: no autograd
        return chunked_batch(lambda inputs: list(plain_batch(ref.hidden_batch, inputs)().numpy()), rows)
    if model == "awdlstm":
        ref = AwdLstmReference(cfg, read_safetensors(weights_path), torch.float32)
        run = plain_batch(ref.forward_batch, rows)
        return lambda: list(run().transpose(0, 1).numpy())
    if model == "resnetlm":
        ref = ReferenceResNetLM(cfg).load(read_safetensors(weights_path)).to(device)
        run = plain_batch(lambda ids: ref.forward_batch(ids.to(device)), rows)
        return lambda: list(run().cpu().numpy())  # .cpu() waits for the device: timed as done
    if model == "gpn":
        run = plain_batch(GpnReference(ckpt).forward_batch, rows)
        return lambda: list(run().numpy())
    raise SystemExit("torch_forward: no reference for model %r" % model)


def max_abs_diff(outs, bend_output):
    """Max |reference - bend| over the batch; bend's file is the rows' [len_bp, dim] float32."""
    flat = np.fromfile(bend_output, dtype="<f4")
    want = sum(o.size for o in outs)
    if flat.size != want:
        raise SystemExit("torch_forward: %s has %d floats, the reference made %d" % (bend_output, flat.size, want))
    worst, off = 0.0, 0
    for o in outs:
        worst = max(worst, float(np.abs(flat[off:off + o.size].reshape(o.shape) - o).max()))
        off += o.size
    return worst


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="bend model name")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--seqs", required=True, help="the sequences bend ran (one per line)")
    ap.add_argument("--tokens", required=True, help="bend bench forward --dump-tokens file")
    ap.add_argument("--bend-output", required=True, help="bend bench forward --dump-output file")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (resnetlm only; tools/gpu/gpu_bench.py)")
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum time of each window")
    ap.add_argument("--windows", type=int, default=3, help="timed windows (nt/s: their median)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.checkpoint, "config.json")) as f:
        cfg = json.load(f)
    seqs = read_lines(a.seqs)
    rows = [[int(t) for t in line.split()] for line in read_lines(a.tokens)]
    if len(rows) != len(seqs):
        raise SystemExit("torch_forward: %d token rows for %d sequences" % (len(rows), len(seqs)))
    batch = make_batch_fn(a.model, a.checkpoint, cfg, rows, a.device)
    t0 = time.perf_counter()
    outs = batch()  # warm-up, and the outputs compared with bend's
    warm_s = time.perf_counter() - t0
    if [o.shape[0] for o in outs] != [len(s) for s in seqs]:
        raise SystemExit("torch_forward: output lengths %s != sequence lengths" % [o.shape[0] for o in outs])
    diff = max_abs_diff(outs, a.bend_output)
    batch_nt = sum(len(s) for s in seqs)
    rates = []
    for _ in range(a.windows):
        n, t0 = 0, time.perf_counter()
        while True:
            batch()
            n += 1
            wall_s = time.perf_counter() - t0
            if wall_s >= a.seconds:
                break
        rates.append(n * batch_nt / wall_s)
    print("torch_forward: model %s, %d nt in %d rows per batch, threads %d, warm-up %.3f s; windows %s nt/s: "
          "nt_per_s=%.1f max_abs_diff=%.3g" % (a.model, batch_nt, len(seqs), a.threads, warm_s,
                                               " ".join("%.0f" % r for r in rates), statistics.median(rates), diff))


if __name__ == "__main__":
    main()
