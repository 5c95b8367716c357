#!/usr/bin/python3
"""Benchmark peer: BEND's CNN head, or a supervised baseline (--model), trained with a plain
python3-torch loop on in-memory random batches (forward, BCE-with-logits or cross-entropy loss,
backward, torch.optim.AdamW), the way a BEND user's training step runs without data loading.
Prints rows_per_s=... (docs/benchmarks.md). Written for this benchmark from BEND's documented
models: the head Conv1d -> GELU -> Conv1d -> GELU -> [AvgPool1d(window)] -> Linear;
resnet-supervised = one-hot into 256 channels, 30 dilated residual blocks (kernel 3), the head
(hidden 64); basset-supervised = Basset (BatchNorm, dropout 0.3) on 512-bp rows."""
import argparse
import time

import torch


class Head(torch.nn.Module):
    def __init__(self, dim, hidden, kernel, window, n_out):
        super().__init__()
        self.conv1 = torch.nn.Conv1d(dim, hidden, kernel, padding=kernel // 2)
        self.conv2 = torch.nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)
        self.pool = torch.nn.AvgPool1d(window) if window > 0 else None
        self.linear = torch.nn.Linear(hidden, n_out)

    def forward(self, x):  # x [B, L, D]
        h = torch.nn.functional.gelu(self.conv1(x.transpose(1, 2)))
        h = torch.nn.functional.gelu(self.conv2(h))
        if self.pool is not None:
            h = self.pool(h)
        return self.linear(h.transpose(1, 2))


class Block(torch.nn.Module):
    def __init__(self, h, k, d):
        super().__init__()
        self.conv = torch.nn.Conv1d(h, h, k, padding="same", dilation=d)
        self.ln1 = torch.nn.LayerNorm(h)
        self.ffn = torch.nn.Linear(h, h)
        self.ln2 = torch.nn.LayerNorm(h)

    def forward(self, x):  # x [B, L, H]
        x = x + self.ln1(torch.nn.functional.gelu(self.conv(x.transpose(1, 2)).transpose(1, 2)))
        return x + self.ln2(torch.nn.functional.gelu(self.ffn(x)))


class ResNetSupervised(torch.nn.Module):
    def __init__(self, dim, kernel, window, n_out, hidden=256, n_layers=30):
        super().__init__()
        self.hidden = hidden
        self.blocks = torch.nn.Sequential(*[Block(hidden, kernel, min(32, 2 ** (i % 6))) for i in range(n_layers)])
        self.head = Head(hidden, 64, 3, window, n_out)

    def forward(self, x):  # x [B, L, D] one-hot: placed in the first D of 256 channels
        return self.head(self.blocks(torch.nn.functional.pad(x, (0, self.hidden - x.shape[2]))))


class Basset(torch.nn.Module):
    def __init__(self, dim, n_out, length=512):
        super().__init__()
        layers, prev = [], dim
        for ch, k, p in ((300, 19, 3), (200, 11, 4), (200, 7, 4)):
            layers += [torch.nn.Conv1d(prev, ch, k, padding="same"), torch.nn.BatchNorm1d(ch), torch.nn.ReLU(),
                       torch.nn.MaxPool1d(p, p)]
            prev, length = ch, length // p
        self.conv_net = torch.nn.Sequential(*layers)
        self.clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(prev * length, 1000), torch.nn.ReLU(),
                                       torch.nn.Dropout(0.3), torch.nn.Linear(1000, 1000), torch.nn.Dropout(0.3),
                                       torch.nn.Linear(1000, n_out))

    def forward(self, x):  # x [B, L, D] -> [B, 1, n_out]
        return self.clf(self.conv_net(x.transpose(1, 2))).unsqueeze(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="head", choices=["head", "resnet-supervised", "basset-supervised"])
    ap.add_argument("--input-dim", type=int, required=True)
    ap.add_argument("--len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden-size", type=int, default=64)
    ap.add_argument("--kernel-size", type=int, default=3)
    ap.add_argument("--output-window", type=int, default=0)
    ap.add_argument("--label-depth", type=int, required=True)
    ap.add_argument("--criterion", default="bce", choices=["bce", "cross_entropy"])
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (tools/gpu/gpu_bench.py)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    dev = torch.device(a.device)
    if a.model == "resnet-supervised":
        head = ResNetSupervised(a.input_dim, a.kernel_size, a.output_window, a.label_depth).to(dev)
    elif a.model == "basset-supervised":
        head = Basset(a.input_dim, a.label_depth, a.len).to(dev)
    else:
        head = Head(a.input_dim, a.hidden_size, a.kernel_size, a.output_window, a.label_depth).to(dev)
    head.train()
    opt = torch.optim.AdamW(head.parameters(), lr=a.lr, weight_decay=0.01)
    t_out = a.len // a.output_window if a.output_window > 0 else a.len
    if a.model == "basset-supervised":
        t_out = 1
    xs = [torch.rand(a.batch, a.len, a.input_dim).to(dev) for _ in range(4)]
    if a.criterion == "bce":
        loss_fn = torch.nn.BCEWithLogitsLoss()
        ys = [torch.randint(0, 2, (a.batch, t_out, a.label_depth)).float().to(dev) for _ in range(4)]
    else:
        ce = torch.nn.CrossEntropyLoss()
        loss_fn = lambda logits, y: ce(logits.reshape(-1, a.label_depth), y.reshape(-1))  # noqa: E731
        ys = [torch.randint(0, a.label_depth, (a.batch, t_out)).to(dev) for _ in range(4)]

    def step(i):
        loss = loss_fn(head(xs[i % 4]), ys[i % 4])
        loss.backward()
        opt.step()
        opt.zero_grad()
        if dev.type == "cuda":
            loss.item()  # wait for the device, as bend's step does (its loss is read every step)

    step(0)  # warm-up
    steps, t0 = 0, time.perf_counter()
    while True:
        step(steps)
        steps += 1
        wall = time.perf_counter() - t0
        if wall >= a.seconds:
            break
    print("torch_train_loop: %d steps in %.3f s: rows_per_s=%.1f" % (steps, wall, steps * a.batch / wall))


if __name__ == "__main__":
    main()
