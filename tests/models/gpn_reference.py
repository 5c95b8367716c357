"""Independent python3-torch reference of GPN (songlab-cal/gpn), written from the published
architecture: the legacy ConvNet (gpn/legacy.py, songlab/gpn-brassicales: the GPN BEND
evaluates) and GPNModel with the "convnet" encoder (gpn/model.py). Built from torch.nn modules
(nn.Conv1d with padding='same', nn.GELU, LayerNorm, nn.Linear) loaded with the checkpoint's
Hugging Face tensor names; model.safetensors is read with the json + numpy parser of
test_resnetlm_reference. One sequence at a time, as BEND's GPNEmbedder runs it.

    model = GpnReference(checkpoint_dir)
    model.hidden(ids)          # [len] ids -> numpy [len, hidden_size]  (last_hidden_state)
    model.logits(ids)          # -> [len, vocab_size]                    (GPN*ForMaskedLM.logits)
    model.loss(ids)            # -> [len]: -log softmax(logits)[id]
    model.forward_batch(ids)   # [batch, len] int64 tensor -> [batch, len, hidden] (equal lengths)
    tokenize(seq)              # GPN's character tokenizer: [PAD] [MASK] [UNK] a c g t, lowercased
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_resnetlm_reference import read_safetensors  # noqa: E402

VOCAB = {"[PAD]": 0, "[MASK]": 1, "[UNK]": 2, "a": 3, "c": 4, "g": 5, "t": 6}


def tokenize(seq):
    return [VOCAB.get(c, VOCAB["[UNK]"]) for c in seq.lower()]


class LayerNorm(nn.Module):
    """nn.LayerNorm whose bias may be absent (GPN's bias=False; torch 1.13 lacks the flag)."""

    def __init__(self, w, b):
        super().__init__()
        self.w, self.b = w, b

    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], self.w, self.b, 1e-5)


class Transpose(nn.Module):
    def forward(self, x):
        return x.transpose(1, 2)


def read_weights(ckpt):
    index = os.path.join(ckpt, "model.safetensors.index.json")
    if not os.path.exists(os.path.join(ckpt, "model.safetensors")) and os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        w = {}
        for name in files:
            w.update(read_safetensors(os.path.join(ckpt, name)))
        return w
    return read_safetensors(os.path.join(ckpt, "model.safetensors"))


class GpnReference:
    def __init__(self, ckpt):
        with open(os.path.join(ckpt, "config.json")) as f:
            self.cfg = c = json.load(f)
        self.w = {k: torch.from_numpy(v) for k, v in read_weights(ckpt).items()}
        self.legacy = c["model_type"] == "ConvNet"
        self.h = c.get("hidden_size", 512)
        self.layers = [self.legacy_layer(i) if self.legacy else self.gpn_layer(i)
                       for i in range(c["n_layers"] if self.legacy else c.get("num_hidden_layers", 25))]

    def get(self, name):
        return self.w.get(name)

    def dilation(self, i):
        c = self.cfg
        cycle = c.get("dilation_cycle", 6 if self.legacy else 8)
        dmax = c.get("dilation_max", 32 if self.legacy else 9999)
        return min(dmax, c.get("dilation_base", 2) ** ((i % cycle) // c.get("dilation_double_every", 1)))

    def conv1d(self, name, k, d, groups, bias):
        conv = nn.Conv1d(self.h, self.h, k, padding="same", dilation=d, groups=groups, bias=bias)
        conv.load_state_dict({"weight": self.get(name + ".weight"),
                              **({"bias": self.get(name + ".bias")} if bias else {})})
        return conv

    def linear(self, name, bias):
        w = self.get(name + ".weight")
        lin = nn.Linear(w.shape[1], w.shape[0], bias=bias)
        lin.load_state_dict({"weight": w, **({"bias": self.get(name + ".bias")} if bias else {})})
        return lin

    def norm(self, name):
        return LayerNorm(self.get(name + ".weight"), self.get(name + ".bias"))

    def legacy_layer(self, i):
        p = f"model.encoder.{i}."
        conv = nn.Sequential(Transpose(), self.conv1d(p + "conv.1", self.cfg.get("kernel_size", 9),
                                                      self.dilation(i), 1, True),
                             Transpose(), nn.GELU(), self.norm(p + "conv.4"))
        ffn = nn.Sequential(self.linear(p + "ffn.0", True), nn.GELU(), self.norm(p + "ffn.2"))
        return conv, ffn

    def gpn_layer(self, i):
        c, p = self.cfg, f"model.encoder.layer.{i}."
        bias = c.get("bias", False)
        k = c.get("first_kernel_size", 9) if i == 0 else c.get("rest_kernel_size", 5)
        groups = self.h if (c.get("depthwise", False) and i > 0) else 1
        conv = nn.Sequential(self.norm(p + "conv.0"), Transpose(),
                             self.conv1d(p + "conv.2", k, self.dilation(i), groups, bias),
                             Transpose(), nn.GELU(), self.linear(p + "conv.5", bias))
        ffn = nn.Sequential(self.norm(p + "ffn.0"), self.linear(p + "ffn.1", bias), nn.GELU(),
                            self.linear(p + "ffn.3", bias))
        return conv, ffn

    @torch.no_grad()
    def hidden_t(self, ids):
        return self.forward_batch(torch.tensor([ids], dtype=torch.long))[0]

    @torch.no_grad()
    def forward_batch(self, ids):
        """ids [batch, len] int64 (sequences of equal length) -> hidden [batch, len, hidden]."""
        if self.cfg.get("embedding", "one_hot") == "embedding" and not self.legacy:
            x = F.embedding(ids, self.get("model.embeddings.word_embeddings.weight"))
        else:
            x = F.one_hot(ids, num_classes=self.h).float()
        for conv, ffn in self.layers:
            x = x + conv(x)
            x = x + ffn(x)
        if not self.legacy:
            x = self.norm("model.ln_f")(x)
        return x

    def hidden(self, ids):
        return self.hidden_t(ids).numpy()

    @torch.no_grad()
    def logits_t(self, ids):
        x = self.hidden_t(ids)
        if self.legacy:
            head = nn.Sequential(self.linear("cls.decoder.0", True), nn.GELU(),
                                 self.norm("cls.decoder.2"), self.linear("cls.decoder.3", True))
        else:
            bias = self.cfg.get("bias", False)
            parts = []
            if self.cfg.get("mlm_head_transform", True):
                parts += [self.linear("cls.transform.0", bias), nn.GELU(), self.norm("cls.transform.2")]
            head = nn.Sequential(*parts, self.linear("cls.decoder", bias))
        return head(x)

    def logits(self, ids):
        return self.logits_t(ids).numpy()

    def loss(self, ids):
        logits = self.logits_t(ids)
        return F.cross_entropy(logits, torch.tensor(ids), reduction="none").numpy()
