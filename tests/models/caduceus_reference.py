"""An independent PyTorch Caduceus written from the published architecture: kuleshov-group/caduceus
modeling_caduceus.py / modeling_rcps.py (CaduceusForMaskedLM, RCPSEmbedding, RCPSWrapper,
RCPSAddNormWrapper, RCPSMambaBlock incl. its fused_add_norm path, RCPSLMHead) and mamba_ssm
1.2.0.post1's Mamba block with selective_scan_ref (explicit (B, D, L, N) scan). The structure
follows the published modules literally (whole-tensor flips, reverse complement of the ids by
gather, Conv1d with padding d_conv - 1), not bend's algebraic shortcuts. BEND's embedding rule:
CaduceusEmbedder tokenizes pieces of 131072 bp without special tokens and keeps
hidden_states[-1] (the final normed output) of every position.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

CHUNK_BP = 131072
VOCAB = {c: i + 7 for i, c in enumerate("ACGTN")}  # [CLS]..[UNK] = 0..6, [UNK] = 6


def tokenize(seq):
    """CaduceusTokenizer: upper-case characters, unknown ones -> [UNK] (6); no special tokens."""
    return [VOCAB.get(c, 6) for c in seq.upper()]


def selective_scan_ref(u, delta, A, B, C, D, z, delta_bias):
    """mamba_ssm's reference scan with delta_softplus=True, real A, variable B and C.
    u, delta, z: (b, d, l); A: (d, n); B, C: (b, n, l); D, delta_bias: (d)."""
    delta = F.softplus(delta + delta_bias[..., None])
    b, d, n = u.shape[0], A.shape[0], A.shape[1]
    x = u.new_zeros((b, d, n))
    delta_a = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    delta_b_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    ys = []
    for i in range(u.shape[2]):
        x = delta_a[:, :, i] * x + delta_b_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2)
    out = y + u * D[:, None]
    return out * F.silu(z)


class CaduceusReference:
    def __init__(self, cfg, weights, prefix="caduceus.backbone.", dtype=torch.float32):
        self.cfg, self.w, self.prefix, self.dtype = cfg, weights, prefix, dtype
        self.d = cfg["d_model"]
        ssm = cfg.get("ssm_cfg") or {}
        self.d_state = ssm.get("d_state", 16)
        self.d_conv = ssm.get("d_conv", 4)
        self.d_inner = ssm.get("expand", 2) * self.d
        rank = ssm.get("dt_rank", "auto")
        self.dt_rank = math.ceil(self.d / 16) if rank == "auto" else rank
        v, m = cfg["vocab_size"], cfg.get("pad_vocab_size_multiple", 8)
        self.vocab = v + (m - v % m) % m
        self.rcps = cfg.get("rcps", False)
        self.fused = cfg.get("fused_add_norm", True)
        self.rms = cfg.get("rms_norm", True)
        self.eps = cfg.get("norm_epsilon", 1e-5)
        self.bidir = cfg.get("bidirectional", True)
        self.strategy = cfg.get("bidirectional_strategy") or "add"
        cmap = cfg.get("complement_map") or {}
        self.cmap = torch.tensor([cmap[str(i)] for i in range(len(cmap))] +
                                 list(range(len(cmap), self.vocab)), dtype=torch.long)

    def t(self, name):
        return torch.tensor(np.asarray(self.w[self.prefix + name]), dtype=self.dtype)

    def has(self, name):
        return self.prefix + name in self.w

    # ---- Mamba (mamba_simple.py, slow path) ----------------------------------------------------
    def mamba(self, p, hidden, tied_p):
        batch, seqlen, _ = hidden.shape
        def tw(name):  # mamba_rev's tied in_proj / out_proj may be absent from the file
            return self.t(p + name) if self.has(p + name) else self.t(tied_p + name)
        def opt(name):
            full = p + name
            if self.has(full):
                return self.t(full)
            return self.t(tied_p + name) if tied_p and self.has(tied_p + name) else None
        in_w = tw("in_proj.weight")
        xz = (in_w @ hidden.reshape(batch * seqlen, -1).T).reshape(-1, batch, seqlen).permute(1, 0, 2)
        in_b = opt("in_proj.bias")
        if in_b is not None:
            xz = xz + in_b[:, None]
        x, z = xz.chunk(2, dim=1)
        conv_b = self.t(p + "conv1d.bias") if self.has(p + "conv1d.bias") else None
        x = F.silu(F.conv1d(x, self.t(p + "conv1d.weight"), conv_b, padding=self.d_conv - 1,
                            groups=self.d_inner)[..., :seqlen])
        x_dbl = F.linear(x.permute(0, 2, 1).reshape(batch * seqlen, -1), self.t(p + "x_proj.weight"))
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (self.t(p + "dt_proj.weight") @ dt.T).reshape(-1, batch, seqlen).permute(1, 0, 2)
        B = B.reshape(batch, seqlen, -1).permute(0, 2, 1)
        C = C.reshape(batch, seqlen, -1).permute(0, 2, 1)
        A = -torch.exp(self.t(p + "A_log"))
        y = selective_scan_ref(x, dt, A, B, C, self.t(p + "D"), z, self.t(p + "dt_proj.bias"))
        return F.linear(y.permute(0, 2, 1), tw("out_proj.weight"), opt("out_proj.bias"))

    def bimamba(self, p, x):
        out = self.mamba(p + "mamba_fwd.", x, None)
        if self.bidir:
            tied = p + "mamba_fwd." if self.cfg.get("bidirectional_weight_tie", True) else None
            rev = self.mamba(p + "mamba_rev.", x.flip(dims=(1,)), tied).flip(dims=(1,))
            out = out + rev if self.strategy == "add" else out * rev
        return out

    # ---- norms ------------------------------------------------------------------------------
    def norm(self, name, x):
        w = self.t(name + ".weight")
        if self.rms:
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w
        return F.layer_norm(x, (x.shape[-1],), w, self.t(name + ".bias"), self.eps)

    def add_norm(self, name, x, residual):
        """mamba's fused add + norm with prenorm=True: (norm(x + residual), x + residual)."""
        residual = x if residual is None else x + residual
        return self.norm(name, residual), residual

    @staticmethod
    def rc(x):
        return torch.flip(x, dims=[-2, -1])

    def rcps_add_norm(self, name, x, residual):
        """RCPSAddNormWrapper (non-fused) with prenorm=True."""
        h = x.shape[-1] // 2
        if residual is None:
            residual = x
        else:
            residual = torch.cat([x[..., :h] + residual[..., :h],
                                  self.rc(self.rc(x[..., h:]) + self.rc(residual[..., h:]))], -1)
        out = torch.cat([self.norm(name, residual[..., :h]),
                         self.rc(self.norm(name, self.rc(residual[..., h:])))], -1)
        return out, residual

    def rcps_fused_add_norm(self, name, x, residual):
        """RCPSMambaBlock's fused path: its 'fwd' half is the second one, its 'rc' half the first."""
        h = x.shape[-1] // 2
        fwd, res_fwd = self.add_norm(name, x[..., h:], None if residual is None else residual[..., h:])
        rc, res_rc = self.add_norm(name, self.rc(x[..., :h]),
                                   None if residual is None else self.rc(residual[..., :h]))
        return torch.cat([fwd, self.rc(rc)], -1), torch.cat([res_fwd, self.rc(res_rc)], -1)

    # ---- the model --------------------------------------------------------------------------
    def hidden(self, ids):
        """ids: list of token ids -> last hidden state (L, d_model or 2 d_model)."""
        return self.hidden_batch([ids])[0]

    def hidden_batch(self, rows):
        """rows: lists of token ids of one length -> last hidden states (B, L, hidden)."""
        ids = torch.tensor([[int(i) for i in r] for r in rows], dtype=torch.long)
        if self.rcps:
            emb = self.t("embeddings.word_embeddings.embedding.weight")
            rc_ids = torch.gather(self.cmap.unsqueeze(0).expand(ids.shape[0], -1), 1,
                                  torch.flip(ids, dims=[-1]))
            h = torch.cat([F.embedding(ids, emb), self.rc(F.embedding(rc_ids, emb))], -1)
        else:
            h = F.embedding(ids, self.t("embeddings.word_embeddings.weight"))
        residual = None
        sub = ".submodule" if self.rcps else ""
        nsub = ".submodule" if self.rcps and not self.fused else ""
        for i in range(self.cfg["n_layer"]):
            p = f"layers.{i}."
            if not self.rcps:
                h, residual = self.add_norm(p + "norm", h, residual)
                h = self.bimamba(p + "mixer.", h)
                continue
            if self.fused:
                h, residual = self.rcps_fused_add_norm(p + "norm", h, residual)
            else:
                h, residual = self.rcps_add_norm(p + "norm" + nsub, h, residual)
            half = h.shape[-1] // 2
            mp = p + "mixer" + sub + "."
            h = torch.cat([self.bimamba(mp, h[..., :half]),
                           self.rc(self.bimamba(mp, self.rc(h[..., half:])))], -1)
        if not self.rcps:
            out, _ = self.add_norm("norm_f", h, residual)
        else:  # fused and non-fused final norm agree: forward half first
            half = h.shape[-1] // 2
            r = h + residual
            out = torch.cat([self.norm("norm_f" + nsub, r[..., :half]),
                             self.rc(self.norm("norm_f" + nsub, self.rc(r[..., half:])))], -1)
        return out

    def logits(self, hidden, head=None):
        """CaduceusForMaskedLM.lm_head on (L, hidden); head: its weight, default tied."""
        if head is None:
            head = self.t("embeddings.word_embeddings" + (".embedding" if self.rcps else "") + ".weight")
        head = torch.as_tensor(np.asarray(head), dtype=self.dtype)
        if not self.rcps:
            return hidden @ head.T
        h = hidden.shape[-1] // 2
        return hidden[..., :h] @ head.T + torch.flip(hidden[..., h:], dims=[-1]) @ head[self.cmap].T

    def embed(self, seq, output="hidden", head=None):
        """BEND's CaduceusEmbedder on one sequence: (len(seq), dim) float64 numpy."""
        outs = []
        with torch.no_grad():
            for s in range(0, len(seq), CHUNK_BP):
                ids = tokenize(seq[s:s + CHUNK_BP])
                h = self.hidden(ids)
                if output == "hidden":
                    outs.append(h)
                    continue
                lg = self.logits(h, head)
                if output == "logits":
                    outs.append(lg)
                else:  # BEND: logits[:, 7:12], targets ids - 7, unreduced cross-entropy
                    t = torch.tensor(ids) - 7
                    outs.append(F.cross_entropy(lg[:, 7:12], t, reduction="none")[:, None])
        return torch.cat(outs).double().numpy()
