"""Independent python3-torch references of the transformer encoders bend runs in LibTorch.

Written from the published architectures (Devlin et al. BERT; GENA-LM's pre-layer-norm BERT;
Hugging Face BigBird with full and block-sparse attention; ESM / Nucleotide Transformer v1 and
v2; MosaicBERT as DNABERT-2 uses it), reading Hugging Face tensor names from model.safetensors with the json +
numpy parser of test_resnetlm_reference. Where torch has the layer (nn.TransformerEncoderLayer:
post-LN BERT, pre-LN GENA-LM and ESM v1) the reference uses it; rotary, ALiBi and gated MLPs are
written out here. bert / esm / mosaic run a batch: ids [batch, n] (right-padded), pad [batch, n]
(True at padding, or None) -> [batch, n, hidden]; padding is masked out of attention, as Hugging
Face's attention_mask does. reference() embeds one sequence (batch of one): [n_tokens] ids ->
numpy [n_tokens, hidden]; reference_batch() a list of them in one padded batch
(tools/bench/torch_forward.py times it against bend).
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_resnetlm_reference import read_safetensors  # noqa: E402


class Weights:
    """Tensors of one checkpoint by Hugging Face name; `prefix` is "bert." / "esm." / ""."""

    def __init__(self, path, prefix):
        self.t = read_safetensors(path)
        self.prefix = prefix
        self.layers = {}  # torch_layer's modules, built once per checkpoint

    def __call__(self, name):
        return torch.from_numpy(self.t[self.prefix + name])

    def has(self, name):
        return self.prefix + name in self.t


def norm(w, name, x, eps):
    return F.layer_norm(x, x.shape[-1:], w(name + ".weight"), w(name + ".bias"), eps)


def dense(w, name, x, bias=True):
    return F.linear(x, w(name + ".weight"), w(name + ".bias") if bias else None)


def torch_layer(w, p, cfg, norm_first, norm1, norm2, act="gelu"):
    """nn.TransformerEncoderLayer holding layer `p` of a BERT-style checkpoint (built once, then
    taken from w.layers)."""
    key = (p, norm_first, norm1, norm2, act if isinstance(act, str) else "gelu_tanh")
    if key not in w.layers:
        w.layers[key] = make_torch_layer(w, p, cfg, norm_first, norm1, norm2, act)
    return w.layers[key]


def make_torch_layer(w, p, cfg, norm_first, norm1, norm2, act):
    h = cfg["hidden_size"]
    layer = nn.TransformerEncoderLayer(h, cfg["num_attention_heads"], cfg["intermediate_size"],
                                       dropout=0.0, activation=act,
                                       layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
                                       batch_first=True, norm_first=norm_first)
    qkv = [p + "attention.self." + m for m in ("query", "key", "value")]
    state = {
        "self_attn.in_proj_weight": torch.cat([w(n + ".weight") for n in qkv]),
        "self_attn.in_proj_bias": torch.cat([w(n + ".bias") for n in qkv]),
        "self_attn.out_proj.weight": w(p + "attention.output.dense.weight"),
        "self_attn.out_proj.bias": w(p + "attention.output.dense.bias"),
        "linear1.weight": w(p + "intermediate.dense.weight"),
        "linear1.bias": w(p + "intermediate.dense.bias"),
        "linear2.weight": w(p + "output.dense.weight"),
        "linear2.bias": w(p + "output.dense.bias"),
        "norm1.weight": w(p + norm1 + ".weight"), "norm1.bias": w(p + norm1 + ".bias"),
        "norm2.weight": w(p + norm2 + ".weight"), "norm2.bias": w(p + norm2 + ".bias"),
    }
    layer.load_state_dict(state, strict=True)
    return layer.eval()


def rope(x, n_rot, base):
    """Rotary position embedding of the first n_rot dims of x [..., len, d]: dims j and
    j + n_rot/2 are rotated together by angle pos * base^(-2j / n_rot)."""
    half = n_rot // 2
    inv = 1.0 / (base ** (torch.arange(0, n_rot, 2).float() / n_rot))
    ang = torch.arange(x.shape[-2]).float()[:, None] * inv[None, :]  # [len, half]
    c, s = ang.cos(), ang.sin()
    a, b = x[..., :half], x[..., half:n_rot]
    return torch.cat([a * c - b * s, b * c + a * s, x[..., n_rot:]], -1)


def attention(w, p, x, heads, rot=None, base=10000.0, bias=None, fused=False, pad=None):
    """Multi-head self-attention of x [batch, len, h] with its output projection; keys where
    pad [batch, len] is True get no attention."""
    b, n, h = x.shape
    d = h // heads
    if fused:
        q, k, v = dense(w, p + "attention.self.Wqkv", x).split(h, -1)
    else:
        q, k, v = (dense(w, p + "attention.self." + m, x) for m in ("query", "key", "value"))
    q, k, v = (t.reshape(b, n, heads, d).transpose(1, 2) for t in (q, k, v))  # [b, heads, len, d]
    if rot:
        q, k = rope(q, rot, base), rope(k, rot, base)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if bias is not None:
        scores = scores + bias
    if pad is not None:
        scores = scores.masked_fill(pad[:, None, None, :], float("-inf"))
    ctx = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(b, n, h)
    return dense(w, p + "attention.output.dense", ctx)


def bert_embeddings(w, cfg, ids):
    """LN(word (x sqrt(hidden) for BigBird's rescale_embeddings) + type 0 + position 0..n-1)."""
    x = w("embeddings.word_embeddings.weight")[ids]
    if cfg.get("model_type") == "big_bird" and cfg.get("rescale_embeddings", False):
        x = x * cfg["hidden_size"] ** 0.5
    x = x + w("embeddings.token_type_embeddings.weight")[0]
    if cfg.get("position_embedding_type", "absolute") == "absolute":
        x = x + w("embeddings.position_embeddings.weight")[: ids.shape[-1]]
    return norm(w, "embeddings.LayerNorm", x, cfg.get("layer_norm_eps", 1e-12))


@torch.no_grad()
def bert(w, cfg, ids, pad=None):
    """BERT / GENA-LM (pre_layer_norm, last_layer_norm, rotary) / BigBird (full attention)."""
    eps = cfg.get("layer_norm_eps", 1e-12)
    big_bird = cfg.get("model_type") == "big_bird"
    act = cfg.get("hidden_act", "gelu_new" if big_bird else "gelu")
    pos = cfg.get("position_embedding_type", "absolute")
    x = bert_embeddings(w, cfg, ids)
    pre = cfg.get("pre_layer_norm", False)
    tanh_gelu = (lambda t: F.gelu(t, approximate="tanh"))
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        if pos == "rotary":  # GENA-LM rotary is pre-LN
            heads = cfg["num_attention_heads"]
            rot = cfg.get("rotary_dim", cfg["hidden_size"] // heads)
            x = x + attention(w, p, norm(w, p + "pre_attention_ln", x, eps), heads, rot,
                              cfg.get("rotary_base", 10000), pad=pad)
            y = F.gelu(dense(w, p + "intermediate.dense", norm(w, p + "post_attention_ln", x, eps)))
            x = x + dense(w, p + "output.dense", y)
            continue
        names = ("pre_attention_ln", "post_attention_ln") if pre else \
            ("attention.output.LayerNorm", "output.LayerNorm")
        layer = torch_layer(w, p, cfg, pre, *names, act="gelu" if act == "gelu" else tanh_gelu)
        x = layer(x, src_key_padding_mask=pad)
    if cfg.get("last_layer_norm", pre):
        x = norm(w, "encoder.last_layer_ln", x, eps)
    return x


@torch.no_grad()
def esm(w, cfg, ids, pad=None):
    """ESM as the Nucleotide Transformer uses it: v1 (learned positions, GELU MLP) or v2
    (rotary, SwiGLU MLP, biases per add_bias_fnn), pre-LN, final LayerNorm."""
    eps = cfg.get("layer_norm_eps", 1e-12)
    heads = cfg["num_attention_heads"]
    x = w("embeddings.word_embeddings.weight")[ids]
    if cfg.get("token_dropout", False):
        masked = ids == cfg["mask_token_id"]
        x = x.masked_fill(masked[..., None], 0.0)
        n_real = ids.shape[-1] if pad is None else (~pad).sum(-1, keepdim=True)
        x = x * (1 - 0.15 * 0.8) / (1 - masked.sum(-1, keepdim=True) / n_real)[..., None]
    if cfg.get("position_embedding_type", "absolute") == "absolute":
        x = x + w("embeddings.position_embeddings.weight")[torch.arange(ids.shape[-1]) +
                                                            cfg["pad_token_id"] + 1]
    if cfg.get("emb_layer_norm_before", False):
        x = norm(w, "embeddings.layer_norm", x, eps)
    v2 = "add_bias_fnn" in cfg
    bias = cfg.get("add_bias_fnn", True)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        if not v2:
            x = torch_layer(w, p, cfg, True, "attention.LayerNorm", "LayerNorm")(
                x, src_key_padding_mask=pad)
            continue
        rot = cfg["hidden_size"] // heads if cfg.get("position_embedding_type") == "rotary" else None
        x = x + attention(w, p, norm(w, p + "attention.LayerNorm", x, eps), heads, rot, pad=pad)
        g = dense(w, p + "intermediate.dense", norm(w, p + "LayerNorm", x, eps), bias)
        a, b = g.chunk(2, -1)
        x = x + dense(w, p + "output.dense", F.silu(a) * b, bias)
    return norm(w, "encoder.emb_layer_norm_after", x, eps)


# ---- BigBird block-sparse attention --------------------------------------------------------
# Written from the description of Hugging Face's BigBirdBlockSparseAttention (eval mode), as a
# list of key blocks per query block rather than its five batched parts: the sequence is padded
# with pad_token_id to whole blocks (positions continue), padding keys are masked; query blocks
# 0 and nb-1 see every key; query block i in 1..nb-2 sees global blocks 0 and nb-1, its window
# i-1, i, i+1 (clipped to 1..nb-2) and r random blocks. transformers >= 4.30 takes block 0 for
# every random slot when not training, so block 0's keys count 1 + r times in those softmaxes.

def bigbird_full_attention_max(cfg):
    """Inputs up to this many tokens run full attention (Hugging Face's switch); None when the
    config has no block-sparse attention."""
    if cfg.get("model_type") != "big_bird":
        return None
    if cfg.get("attention_type", "block_sparse") != "block_sparse":
        return None
    return (5 + 2 * cfg.get("num_random_blocks", 3)) * cfg.get("block_size", 64)


def bigbird_layout(nb, r, variant="hf"):
    """Key blocks (repeats allowed) of each of the nb query blocks. Variants that must NOT match
    bend (the tests show they fail): "rand1" takes block 1 for the random slots, "no_global"
    drops the global key blocks of query blocks 1..nb-2."""
    rand_block = 1 if variant == "rand1" else 0
    rows = []
    for i in range(nb):
        if i in (0, nb - 1):
            rows.append(list(range(nb)))
            continue
        window = {max(i - 1, 1), i, min(i + 1, nb - 2)}
        if i == 1:
            window.add(2)
        if i == nb - 2:
            window.add(nb - 3)
        keys = window if variant == "no_global" else window | {0, nb - 1}
        rows.append(sorted(keys) + [rand_block] * r)
    return rows


def block_sparse_attention(q, k, v, key_pad, bs, layout):
    """q, k, v [heads, n, d] (n = len(layout) * bs), key_pad [n] bool -> context [heads, n, d]:
    query block i attends to the keys of blocks layout[i], padding keys excluded."""
    out = torch.empty_like(q)
    for i, blocks in enumerate(layout):
        idx = torch.cat([torch.arange(j * bs, (j + 1) * bs) for j in blocks])
        s = q[:, i * bs:(i + 1) * bs] @ k[:, idx].transpose(-1, -2) / math.sqrt(q.shape[-1])
        s = s.masked_fill(key_pad[idx][None, None, :], float("-inf"))
        out[:, i * bs:(i + 1) * bs] = torch.softmax(s, -1) @ v[:, idx]
    return out


@torch.no_grad()
def bigbird_sparse(w, cfg, ids, variant="hf"):
    """BigBirdModel (post-LN, gelu_new) with block-sparse attention on one input ids [n0]:
    padded to whole blocks, run, padding cut. -> [n0, hidden]"""
    bs, r = cfg.get("block_size", 64), cfg.get("num_random_blocks", 3)
    heads, h = cfg["num_attention_heads"], cfg["hidden_size"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    n0 = ids.shape[-1]
    n = -(-n0 // bs) * bs
    padded = torch.full((n,), cfg.get("pad_token_id", 0), dtype=torch.long)
    padded[:n0] = ids
    key_pad = torch.arange(n) >= n0
    layout = bigbird_layout(n // bs, r, variant)
    x = bert_embeddings(w, cfg, padded)  # [n, h]
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (dense(w, p + "attention.self." + m, x).reshape(n, heads, h // heads)
                   .transpose(0, 1) for m in ("query", "key", "value"))  # [heads, n, d]
        ctx = block_sparse_attention(q, k, v, key_pad, bs, layout).transpose(0, 1).reshape(n, h)
        a = dense(w, p + "attention.output.dense", ctx)
        x = norm(w, p + "attention.output.LayerNorm", a + x, eps)
        y = F.gelu(dense(w, p + "intermediate.dense", x), approximate="tanh")
        x = norm(w, p + "output.LayerNorm", dense(w, p + "output.dense", y) + x, eps)
    return x[:n0]


def alibi_slopes(n):
    """ALiBi slopes (Press et al. 2022): 2^(-8i/n), i = 1..n, for n a power of two; otherwise
    those of the power of two below, then every other slope of the power of two above."""
    def geometric(m):
        return [2 ** (-8 * (i + 1) / m) for i in range(m)]
    lo = 2 ** int(math.floor(math.log2(n)))
    return geometric(lo) + geometric(2 * lo)[0::2][: n - lo]


@torch.no_grad()
def mosaic(w, cfg, ids, pad=None):
    """MosaicBERT (DNABERT-2): no position embeddings, ALiBi, fused QKV, post-LN, GeGLU MLP."""
    eps = cfg.get("layer_norm_eps", 1e-12)
    heads, inter = cfg["num_attention_heads"], cfg["intermediate_size"]
    x = w("embeddings.word_embeddings.weight")[ids] + w("embeddings.token_type_embeddings.weight")[0]
    x = norm(w, "embeddings.LayerNorm", x, eps)
    n = ids.shape[-1]
    dist = (torch.arange(n)[None, :] - torch.arange(n)[:, None]).abs().float()
    alibi = -torch.tensor(alibi_slopes(heads), dtype=torch.float32)[:, None, None] * dist
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        x = norm(w, p + "attention.output.LayerNorm",
                 attention(w, p, x, heads, bias=alibi, fused=True, pad=pad) + x, eps)
        g = dense(w, p + "mlp.gated_layers", x, bias=False)
        y = dense(w, p + "mlp.wo", F.gelu(g[..., :inter]) * g[..., inter:])
        x = norm(w, p + "mlp.layernorm", y + x, eps)
    return x


def reference(arch, ckpt_dir, cfg, bigbird_variant="hf"):
    """A function ids -> [n, hidden] numpy for the checkpoint in ckpt_dir."""
    fn = reference_batch(arch, ckpt_dir, cfg, bigbird_variant)
    return lambda ids: fn([ids])[0]


def reference_batch(arch, ckpt_dir, cfg, bigbird_variant="hf"):
    """A function [ids, ...] -> [[n_i, hidden] numpy, ...] running the inputs as one batch,
    right-padded with pad_token_id and masked, for the checkpoint in ckpt_dir. BigBird with
    block-sparse attention runs each input alone (Hugging Face picks full or block-sparse
    attention per batch by its padded length; BEND embeds one sequence at a time):
    block-sparse beyond bigbird_full_attention_max tokens (layout variant bigbird_variant)."""
    prefix = {"bert": "bert.", "esm": "esm.", "mosaic-bert": "bert."}[arch]
    w = Weights(os.path.join(ckpt_dir, "model.safetensors"), prefix)
    fn = {"bert": bert, "esm": esm, "mosaic-bert": mosaic}[arch]
    full_max = bigbird_full_attention_max(cfg) if arch == "bert" else None

    def run(inputs):
        if full_max is not None:
            out = []
            for ids in inputs:
                t = torch.tensor(ids, dtype=torch.long)
                y = bigbird_sparse(w, cfg, t, bigbird_variant) if len(ids) > full_max else \
                    fn(w, cfg, t[None])[0]
                out.append(y.numpy())
            return out
        n = max(len(ids) for ids in inputs)
        if all(len(ids) == n for ids in inputs):
            ids, pad = torch.tensor(inputs, dtype=torch.long), None
        else:
            ids = torch.full((len(inputs), n), cfg.get("pad_token_id", 0), dtype=torch.long)
            pad = torch.ones(len(inputs), n, dtype=torch.bool)
            for i, row in enumerate(inputs):
                ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
                pad[i, :len(row)] = False
        out = fn(w, cfg, ids, pad).numpy()
        return [out[i, :len(row)] for i, row in enumerate(inputs)]
    return run
