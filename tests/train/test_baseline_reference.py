"""bend's supervised baselines (resnet-supervised, basset-supervised) against independent PyTorch
references of BEND's modules.

The references rebuild BEND's classes from torch.nn (bend/models/dilated_cnn.py ConvLayer and
ConvNetModel with transformers' post_init, downstream.py CNN and ConvNetForSupervised, basset.py
Basset) and are loaded with load_state_dict(strict=True), so BEND's parameter names are checked.
Built after torch.manual_seed(seed), they must hold exactly the weights tool_baseline seeds. Then
logits, loss and every gradient (float64 reference) must agree to 1e-4, BatchNorm running
statistics too; Basset's dropout masks come from the tool and are applied here. Under
`mpirun -np 2` each rank of tool_baseline takes half the rows (BatchNorm statistics summed over
ranks, dropout masks by global row): the summed gradients must equal the one-batch reference.
"""
import os
import subprocess
import tempfile
import unittest

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import test_head_loss_reference as hl

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_baseline")
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}
IGNORE = -100


class Transpose(nn.Module):
    def forward(self, x):
        return torch.transpose(x, 1, 2)


# ---- resnet-supervised: BEND's ConvNetForSupervised after its config merge -----------------------
class ConvLayer(nn.Module):
    def __init__(self, h, k, dilation):
        super().__init__()
        self.conv = nn.Sequential(Transpose(), nn.Conv1d(h, h, k, padding="same", dilation=dilation),
                                  Transpose(), nn.GELU(), nn.LayerNorm(h))
        self.ffn = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.LayerNorm(h))

    def forward(self, x):
        x = x + self.conv(x)
        return x + self.ffn(x)


class ConvNetModel(nn.Module):
    def __init__(self, h, n_layers, k, init_range):
        super().__init__()
        self.hidden = h
        self.encoder = nn.Sequential(*[ConvLayer(h, k, min(32, 2 ** ((i % 6) // 1))) for i in range(n_layers)])

        def init(m):  # transformers' _init_weights, applied as post_init does (module.apply)
            if isinstance(m, nn.Linear):
                m.weight.data.normal_(mean=0.0, std=init_range)
                m.bias.data.zero_()
            elif isinstance(m, nn.LayerNorm):
                m.bias.data.zero_()
                m.weight.data.fill_(1.0)
        self.apply(init)

    def forward(self, codes):
        return self.encoder(F.one_hot(codes, self.hidden).to(self.encoder[0].ffn[0].weight.dtype))


class CNN(nn.Module):  # BEND's downstream CNN (padding 1, as BEND hard-codes it)
    def __init__(self, input_size, output_size, hidden, kernel, window):
        super().__init__()
        self.conv1 = nn.Sequential(Transpose(), nn.Conv1d(input_size, hidden, kernel, stride=1, padding=1),
                                   Transpose(), nn.GELU())
        self.conv2 = nn.Sequential(Transpose(), nn.Conv1d(hidden, hidden, kernel, stride=1, padding=1),
                                   Transpose(), nn.GELU())
        self.downsample = (nn.Sequential(Transpose(), nn.AvgPool1d(window, stride=window), Transpose())
                           if window else None)
        self.linear = nn.Sequential(nn.Linear(hidden, output_size))

    def forward(self, x):
        x = self.conv2(self.conv1(x))
        if self.downsample is not None:
            x = self.downsample(x)
        return self.linear(x)


class ResNetSupervised(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder = ConvNetModel(c["hidden"], c["n_layers"], c["kernel"], 0.02)
        self.downstream_cnn = CNN(c["hidden"], c["n_out"], c["head_hidden"], c["head_kernel"], c["output_window"])

    def forward(self, codes, lengths):
        # each row's ResNet output on its own positions only, zero beyond (bend's masking)
        rows = []
        for i, n in enumerate(lengths):
            e = self.encoder(codes[i:i + 1, :n])
            rows.append(F.pad(e, (0, 0, 0, codes.shape[1] - n)))
        return self.downstream_cnn(torch.cat(rows))


# ---- basset-supervised: BEND's Basset ----------------------------------------------------------
class Basset(nn.Module):
    def __init__(self, c):
        super().__init__()
        layers, prev, length = [], c["in_dim"], c["input_len"]
        for ch, k, p in zip(c["channels"], c["kernels"], c["pools"]):
            layers += [nn.Conv1d(prev, ch, k, padding="same"), nn.BatchNorm1d(ch), nn.ReLU(), nn.MaxPool1d(p, p)]
            prev, length = ch, length // p
        self.conv_net = nn.Sequential(*layers)
        self.clf = nn.Sequential(nn.Flatten(), nn.Linear(prev * length, c["fc"]), nn.ReLU(), nn.Dropout(c["dropout"]),
                                 nn.Linear(c["fc"], c["fc"]), nn.Dropout(c["dropout"]), nn.Linear(c["fc"], c["n_out"]))

    def forward(self, x, masks=None):  # x [n, len, in_dim]; masks: the tool's dropout masks
        h = self.conv_net(torch.transpose(x, 1, 2))
        if masks is None:
            return self.clf(h)
        h = F.relu(self.clf[1](self.clf[0](h))) * masks[0]
        h = self.clf[4](h) * masks[1]
        return self.clf[6](h)


def ref_loss(logits, target, criterion):
    if criterion == "cross_entropy":
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1).long(), ignore_index=IGNORE)
    keep = target != IGNORE
    return F.binary_cross_entropy_with_logits(logits[keep], target[keep])


def run_tool(cfg, x, target, np_ranks=1):
    with tempfile.TemporaryDirectory() as d:
        inp, out = os.path.join(d, "in.safetensors"), os.path.join(d, "out.safetensors")
        meta = {k: (",".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in cfg.items()}
        hl.write_safetensors(inp, {"x": x, "target": target}, meta)
        cmd = [TOOL, inp, out]
        env = dict(os.environ)
        if np_ranks > 1:
            env.update(MPI_ENV)
            cmd = ["mpirun", "-np", str(np_ranks), "--oversubscribe", "--bind-to", "none"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if p.returncode != 0:
            raise AssertionError(f"tool_baseline failed ({p.returncode}): {p.stderr}")
        return hl.read_safetensors(out)


def onehot_rows(rng, n, length, lengths=None):
    codes = rng.integers(0, 5, size=(n, length))
    x = np.eye(5, dtype=np.float32)[codes]
    if lengths is not None:
        for i, m in enumerate(lengths):
            x[i, m:] = 0  # the loader's zero padding
    return codes, x


class BaselineReference(unittest.TestCase):
    def close(self, got, want, what, tol=1e-4):
        want = np.asarray(want, dtype=np.float64)
        got = np.asarray(got, dtype=np.float64).reshape(want.shape)
        scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
        err = float(np.abs(got - want).max()) if want.size else 0.0
        self.assertLessEqual(err, tol * scale, f"{what}: max |diff| {err:.3g} (scale {scale:.3g})")

    def check_init(self, ref, out):
        sd = ref.state_dict()
        params = {k[len("init."):]: v for k, v in out.items() if k.startswith("init.")}
        self.assertEqual(sorted(params), sorted(k for k in sd if "running" not in k and "num_batches" not in k))
        for name, v in params.items():  # PyTorch's draws after torch.manual_seed: bit for bit
            np.testing.assert_array_equal(v, sd[name].numpy(), err_msg=name)
        return params

    def check_grads(self, ref, out, loss, logits, rows=None):
        loss.backward()
        self.close(out["loss"], [loss.item()], "loss")
        want_logits = logits.detach().numpy()
        if rows is not None:
            want_logits = want_logits[:rows]
        self.close(out["logits"], want_logits, "logits")
        for name, p in ref.named_parameters():
            self.close(out["grad." + name], p.grad.numpy(), "grad." + name)

    # ---- resnet-supervised ----
    def resnet_case(self, cfg, n, length, lengths, np_ranks=1):
        rng = np.random.default_rng(cfg["seed"])
        codes, x = onehot_rows(rng, n, length, lengths)
        w = cfg["output_window"]
        t_len = length // w if w else length
        if cfg["criterion"] == "cross_entropy":
            target = rng.integers(0, cfg["n_out"], size=(n, t_len)).astype(np.float32)
            for i, m in enumerate(lengths):
                target[i, m:] = IGNORE
        else:
            target = rng.integers(0, 2, size=(n, t_len, cfg["n_out"])).astype(np.float32)
        meta = dict(cfg, model="resnet-supervised", training=1, epoch=1, step=1, global_batch=n, lengths=lengths)
        out = run_tool(meta, x, target, np_ranks)
        torch.manual_seed(cfg["seed"])
        ref = ResNetSupervised(cfg)
        params = self.check_init(ref, out)
        ref.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params.items()}, strict=True)
        ref = ref.double()
        logits = ref(torch.from_numpy(codes), lengths)
        loss = ref_loss(logits, torch.from_numpy(target).double(), cfg["criterion"])
        self.check_grads(ref, out, loss, logits, rows=(n + 1) // 2 if np_ranks == 2 else None)

    def test_resnet_small_masked_rows_cross_entropy(self):
        # 7 blocks: dilations 1 2 4 8 16 32 and back to 1; rows of three lengths
        cfg = dict(seed=5, criterion="cross_entropy", in_dim=5, hidden=16, n_layers=7, kernel=3, head_hidden=8,
                   head_kernel=3, output_window=0, n_out=3)
        self.resnet_case(cfg, 3, 40, [40, 31, 17])

    def test_resnet_bends_configuration(self):
        # BEND's resnet-supervised: 256 channels, 30 blocks, kernel 3, CNN 64/3, pooled BCE head
        cfg = dict(seed=11, criterion="bce", in_dim=5, hidden=256, n_layers=30, kernel=3, head_hidden=64,
                   head_kernel=3, output_window=16, n_out=4)
        self.resnet_case(cfg, 2, 32, [32, 32])

    def test_resnet_two_ranks_sum_to_the_one_batch_gradient(self):
        cfg = dict(seed=7, criterion="cross_entropy", in_dim=5, hidden=16, n_layers=7, kernel=3, head_hidden=8,
                   head_kernel=3, output_window=0, n_out=3)
        self.resnet_case(cfg, 3, 24, [24, 20, 13], np_ranks=2)

    # ---- basset-supervised ----
    def basset_case(self, cfg, n, training=True, np_ranks=1):
        rng = np.random.default_rng(cfg["seed"])
        _, x = onehot_rows(rng, n, cfg["input_len"])
        target = rng.integers(0, 2, size=(n, 1, cfg["n_out"])).astype(np.float32)
        meta = dict(cfg, model="basset-supervised", training=int(training), epoch=3, step=2, global_batch=n)
        out = run_tool(meta, x, target, np_ranks)
        torch.manual_seed(cfg["seed"])
        ref = Basset(cfg)
        params = self.check_init(ref, out)
        ref.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params.items()}, strict=False)
        ref = ref.double()
        ref.train(training)
        masks = None
        if training:
            masks = [torch.from_numpy(out["mask0"].copy()).double(), torch.from_numpy(out["mask1"].copy()).double()]
            keep = 1 - cfg["dropout"]
            for m in masks:  # bernoulli(1 - p) / (1 - p): only the two values
                self.assertTrue(set(np.unique(m.numpy()).round(6)) <= {0.0, round(1 / keep, 6)})
        logits = ref(torch.from_numpy(x).double(), masks)
        loss = ref_loss(logits, torch.from_numpy(target[:, 0]).double(), "bce")
        self.check_grads(ref, out, loss, logits, rows=(n + 1) // 2 if np_ranks == 2 else None)
        for name, b in ref.named_buffers():
            if "running" in name:
                self.close(out["buffer." + name], b.numpy(), "buffer." + name)
        return out

    SMALL = dict(seed=3, criterion="bce", in_dim=5, input_len=64, channels=[12, 8, 8], kernels=[5, 3, 3],
                 pools=[3, 4, 4], fc=16, dropout=0.3, n_out=6)

    def test_basset_small_training_batch_statistics_and_dropout(self):
        out = self.basset_case(self.SMALL, 6)
        self.assertFalse(np.all(out["mask0"] != 0), "dropout dropped nothing")

    def test_basset_eval_uses_running_statistics(self):
        self.basset_case(dict(self.SMALL, seed=4), 5, training=False)

    def test_basset_bends_configuration(self):
        cfg = dict(seed=9, criterion="bce", in_dim=5, input_len=512, channels=[300, 200, 200], kernels=[19, 11, 7],
                   pools=[3, 4, 4], fc=1000, dropout=0.3, n_out=18)
        self.basset_case(cfg, 4)

    def test_basset_two_ranks_synchronise_batchnorm_and_dropout(self):
        self.basset_case(dict(self.SMALL, seed=8), 5, np_ranks=2)

    def test_basset_refuses_other_lengths(self):
        rng = np.random.default_rng(1)
        _, x = onehot_rows(rng, 2, 60)
        meta = dict(self.SMALL, model="basset-supervised", training=1, epoch=1, step=1, global_batch=2)
        with self.assertRaisesRegex(AssertionError, "exactly 64"):
            run_tool(meta, x, np.zeros((2, 1, 6), np.float32))


if __name__ == "__main__":
    unittest.main()
