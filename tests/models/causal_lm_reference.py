"""Independent python3-torch references for bend's HyenaDNA and AWD-LSTM embedders.

Written from the published architectures (hyena-dna's standalone_hyenadna.py / LongSafari's
modeling_hyena.py; BEND's bend/models/awd_lstm.py and bend/utils/embedders.py), not from bend's
C++ code. Weights are read from model.safetensors with the small parser below.
"""
import json
import math
import os
import struct
import subprocess

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_causal_lm")


# ---- safetensors, from the format description -------------------------------------------------
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
        if t["dtype"] == "F32":
            arr = np.frombuffer(data[b:e], dtype="<f4")
        elif t["dtype"] == "F16":
            arr = np.frombuffer(data[b:e], dtype="<f2").astype(np.float32)
        else:
            raise ValueError(f"{path}: {name}: dtype {t['dtype']}")
        out[name] = arr.reshape(t["shape"]).copy()
    return out


def write_safetensors(path, tensors, dtype="F32"):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype=np.float32)
        b = a.astype("<f4" if dtype == "F32" else "<f2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---- bend's test tool --------------------------------------------------------------------------
def tool(*args, expect_ok=True):
    r = subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True)
    if expect_ok and r.returncode != 0:
        raise AssertionError(f"tool_causal_lm {' '.join(map(str, args))} failed:\n{r.stderr}")
    return r


def bend_embed(tmp, model, ckpt, seqs, *flags):
    """Vectors [len(s), dim] per sequence from `tool_causal_lm embed`."""
    seq_path, out_path = os.path.join(tmp, "seqs.txt"), os.path.join(tmp, "out.bin")
    with open(seq_path, "w") as f:
        f.write("".join(s + "\n" for s in seqs))
    stdout = tool("embed", model, ckpt, seq_path, out_path, "--threads", "1", *flags).stdout
    dim = int(stdout.split()[1])
    flat = np.fromfile(out_path, dtype="<f4")
    assert flat.size == sum(len(s) for s in seqs) * dim, (flat.size, dim)
    out, off = [], 0
    for s in seqs:
        out.append(flat[off:off + len(s) * dim].reshape(len(s), dim))
        off += len(s) * dim
    return out


# ---- HyenaDNA ---------------------------------------------------------------------------------
def hyena_config(cfg):
    """The fields of either config layout (hyena-dna's "layer" object or HF's flat keys)."""
    if "layer" in cfg:
        lay = cfg["layer"]
        c = dict(l_max=lay["l_max"], emb_dim=lay.get("emb_dim", 3),
                 filter_order=lay.get("filter_order", 64), order=lay.get("order", 2),
                 num_inner=lay.get("num_inner_mlps", 2), w=lay.get("w", 1),
                 modulate=lay.get("modulate", True), shift=lay.get("shift", 0.05),
                 pad_mult=cfg.get("pad_vocab_size_multiple", 1))
    else:
        c = dict(l_max=cfg["max_seq_len"], emb_dim=cfg.get("emb_dim", 3),
                 filter_order=cfg.get("filter_order", 16), order=cfg.get("hyena_order", 2),
                 num_inner=cfg.get("num_inner_mlps", 2), w=cfg.get("activation_freq", 1),
                 modulate=True, shift=0.05, pad_mult=cfg.get("pad_vocab_size_multiple", 8))
    c.update(d=cfg["d_model"], n_layer=cfg["n_layer"], d_inner=cfg.get("d_inner") or
             4 * cfg["d_model"], vocab=cfg["vocab_size"], eps=cfg.get("layer_norm_epsilon", 1e-5))
    return c


class HyenaReference:
    """HyenaDNA's backbone as published, float64 or float32. long_conv: "direct" (an explicit
    causal convolution, independent of the FFT) or "fft" (hyena-dna's fftconv)."""

    def __init__(self, cfg, weights, prefix, dtype=torch.float32, long_conv="direct"):
        self.c, self.dtype, self.long_conv = hyena_config(cfg), dtype, long_conv
        self.w = {k[len(prefix):]: torch.from_numpy(v).to(dtype) for k, v in weights.items()
                  if k.startswith(prefix)}

    def filter(self, p, L):
        c, w = self.c, self.w
        z, t = w[p + "pos_emb.z"][:, :L], w[p + "pos_emb.t"][:, :L]
        freqs = [w[k] for k in sorted(w) if k.startswith(p + "implicit_filter.") and
                 k.endswith(".freq")]
        h = z
        for j in range(c["num_inner"] + 1):
            h = F.linear(h, w[f"{p}implicit_filter.{2 * j}.weight"],
                         w[f"{p}implicit_filter.{2 * j}.bias"])
            freq = w.get(f"{p}implicit_filter.{2 * j + 1}.freq", freqs[0] if freqs else None)
            h = torch.sin((freq if freq is not None else c["w"]) * h)
        h = F.linear(h, w[f"{p}implicit_filter.{2 * c['num_inner'] + 2}.weight"])
        if c["modulate"]:
            h = h * (torch.exp(-t * w[p + "modulation.deltas"].abs()) + c["shift"])
        return h[0]  # [L, (order-1) d]

    def causal_conv(self, u, k, bias):  # u [B, D, L], k [D, L], bias [D]
        L = u.shape[-1]
        if self.long_conv == "fft":
            n = 2 * L
            k_f = torch.fft.rfft(k, n=n) / n
            y = torch.fft.irfft(torch.fft.rfft(u, n=n) * k_f, n=n, norm="forward")[..., :L]
        else:  # y[t] = sum_{s <= t} k[t - s] u[s]: conv1d is a correlation, so flip k
            y = F.conv1d(F.pad(u, (L - 1, 0)), k.flip(-1).unsqueeze(1), groups=u.shape[1])
        return y + u * bias.unsqueeze(-1)

    def operator(self, i, u):
        c, w, d, o = self.c, self.w, self.c["d"], self.c["order"]
        p = f"layers.{i}.mixer."
        L = u.shape[1]
        z = F.linear(u, w[p + "in_proj.weight"], w[p + "in_proj.bias"]).transpose(1, 2)
        uc = F.conv1d(z, w[p + "short_filter.weight"], w[p + "short_filter.bias"], padding=2,
                      groups=z.shape[1])[..., :L]
        *x, v = uc.split(d, dim=1)
        k = self.filter(p + "filter_fn.", L).transpose(0, 1).reshape(o - 1, d, L)
        bias = w[p + "filter_fn.bias"].reshape(o - 1, d)
        for j, x_i in enumerate(reversed(x[1:])):
            v = self.causal_conv(v * x_i, k[j], bias[j])
        y = (v * x[0]).transpose(1, 2)
        return F.linear(y, w[p + "out_proj.weight"], w[p + "out_proj.bias"])

    @torch.no_grad()
    def forward(self, ids):  # [B, L] -> [B, L, d]
        c, w, d = self.c, self.w, self.c["d"]
        x = F.embedding(torch.tensor(ids, dtype=torch.long), w["embeddings.word_embeddings.weight"])
        for i in range(c["n_layer"]):
            p = f"layers.{i}."
            h = F.layer_norm(x, (d,), w[p + "norm1.weight"], w[p + "norm1.bias"], c["eps"])
            x = x + self.operator(i, h)
            h = F.layer_norm(x, (d,), w[p + "norm2.weight"], w[p + "norm2.bias"], c["eps"])
            h = F.gelu(F.linear(h, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"]),
                       approximate="tanh")
            x = x + F.linear(h, w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])
        return F.layer_norm(x, (d,), w["ln_f.weight"], w["ln_f.bias"], c["eps"])

    def embed(self, seq):
        """BEND's HyenaDNAEmbedder: chunks of l_max - 2 bp, each [CLS] chars [SEP] with
        CharacterTokenizer's ids, output[:, 1:-1], concatenated."""
        vocab = {"A": 7, "C": 8, "G": 9, "T": 10, "N": 11}
        max_len = self.c["l_max"] - 2
        outs = []
        for s in range(0, len(seq), max_len):
            ids = [0] + [vocab.get(ch, 6) for ch in seq[s:s + max_len]] + [1]
            outs.append(self.forward([ids])[0, 1:-1])
        return torch.cat(outs).double().numpy()


# ---- BEND's AWD-LSTM --------------------------------------------------------------------------
def char_ids(tokenizer_json, seq):
    with open(tokenizer_json) as f:
        tok = json.load(f)
    vocab = tok["model"]["vocab"]
    norm = tok.get("normalizer") or {}
    lower = norm.get("type") == "Lowercase" or any(
        n.get("type") == "Lowercase" for n in norm.get("normalizers", []))
    unk = vocab[tok["model"].get("unk_token", "[UNK]")]
    return [vocab.get(ch, unk) for ch in (seq.lower() if lower else seq)]


class AwdLstmReference:
    """BEND's AWDLSTMModel in eval mode, step by step as its LSTMCell does it: gates i, f, o, g;
    h2h weight = WeightDrop's weight_raw; with reset_token_id, h and c are zeroed in place before
    step t > 1 where token t-1 is the reset id (which also zeroes the stored output t-1)."""

    def __init__(self, cfg, weights, dtype=torch.float32):
        self.cfg = cfg
        pre = "encoder." if "encoder.embedding.weight" in weights else ""
        w = {k[len(pre):]: torch.from_numpy(v).to(dtype) for k, v in weights.items()
             if k.startswith(pre)}
        self.emb = w["embedding.weight"]
        self.layers = []
        for l in range(cfg["num_hidden_layers"]):
            b = f"encoder.lstm.{l}."
            if b + "weight_raw" in w:
                m = b + "module."
                self.layers.append((w[m + "i2h.weight"], w[m + "i2h.bias"], w[b + "weight_raw"],
                                    w[m + "h2h.bias"]))
            else:
                self.layers.append((w[b + "i2h.weight"], w[b + "i2h.bias"], w[b + "h2h.weight"],
                                    w[b + "h2h.bias"]))

    def forward(self, ids):  # one sequence -> [L, input_size]
        return self.forward_batch(torch.tensor([ids], dtype=torch.long))[:, 0].double().numpy()

    @torch.no_grad()
    def forward_batch(self, tokens):  # [B, L] equal-length sequences -> [L, B, input_size]
        reset = self.cfg.get("reset_token_id")
        x = F.embedding(tokens, self.emb).transpose(0, 1)  # [L, B, in] (seq first, like BEND)
        for wi, bi, wh, bh in self.layers:
            H = wh.shape[1]
            h = torch.zeros(x.shape[1], H, dtype=x.dtype)
            c = torch.zeros(x.shape[1], H, dtype=x.dtype)
            outs = []
            for t in range(x.shape[0]):
                rows = tokens[:, t - 1] == reset if reset is not None and t > 1 else None
                if rows is not None and bool(rows.any()):
                    h[rows] = 0  # in place: h is outs[t - 1], as in BEND
                    c[rows] = 0
                pre = F.linear(x[t], wi, bi) + F.linear(h, wh, bh)
                i = torch.sigmoid(pre[:, :H])
                f = torch.sigmoid(pre[:, H:2 * H])
                g = torch.tanh(pre[:, 3 * H:])
                o = torch.sigmoid(pre[:, 2 * H:3 * H])
                c = f * c + i * g
                h = o * torch.tanh(c)
                outs.append(h)
            x = torch.stack(outs)  # [L, B, H]
        return x
