"""`bend train --model resnet-supervised|basset-supervised` end to end on `bend embed --model onehot`
output: np=2 equals np=1 (BatchNorm statistics and dropout masks span the ranks; a last global
batch of one row leaves rank 1 without rows), a run resumed with more epochs equals an
uninterrupted one bit for bit, BatchNorm running statistics are in the checkpoints, BEND's
parameter names, and clear refusals (Basset on rows that are not 512 bp)."""
import csv
import os
import struct
import json
import unittest

import bendtest as bt

BCE = ["--criterion", "bce", "--metric", "auroc", "--seed", "3", "--label-depth", "6"]


def read_csv(path):
    with open(path) as f:
        return list(csv.reader(f))


def subset_bed(src, dst, counts, length=None):
    """The first counts[split] rows of each split of `src`, cut to `length` bp when given."""
    with open(src) as f:
        lines = f.read().splitlines()
    out, seen = [lines[0]], {}
    for line in lines[1:]:
        cols = line.split("\t")
        split = cols[-1]
        if seen.get(split, 0) >= counts.get(split, 0):
            continue
        seen[split] = seen.get(split, 0) + 1
        if length is not None:
            cols[2] = str(int(cols[1]) + length)
        out.append("\t".join(cols))
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")


def safetensors_names(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return set(json.loads(f.read(n).decode("utf-8"))) - {"__metadata__"}


class TrainBaselines(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        data = bt.demo_data()
        cls.work = bt.tmpdir()
        genome = os.path.join(data, "genome", "demo.fa")
        bed = os.path.join(data, "histone_demo", "histone_demo.bed")

        def embed(name, counts, length=None):
            sub = os.path.join(cls.work, name + ".bed")
            subset_bed(bed, sub, counts, length)
            out = os.path.join(cls.work, name)
            bt.bend(["embed", "--bed", sub, "--genome", genome, "--label-depth", "6", "--read-strand",
                     "--model", "onehot", "--out", out, "--shard-rows", "16"])
            return out
        # 33 training rows in batches of 8: the last global batch has one row (rank 1 idle at np 2)
        cls.full = embed("onehot512", {"train": 33, "valid": 8, "test": 8})
        cls.short = embed("onehot64", {"train": 12, "valid": 4, "test": 4}, length=64)

    def train(self, model, data, out, extra=(), np_ranks=1, check=True):
        return bt.bend(["train", "--model", model, "--data", data, "--out", out] + BCE + list(extra),
                       np_ranks=np_ranks, check=check)

    def assert_same_losses(self, a_dir, b_dir, rel):
        """train_loss, val_loss, val metric: each within its relative tolerance in `rel`."""
        a, b = read_csv(os.path.join(a_dir, "losses.csv")), read_csv(os.path.join(b_dir, "losses.csv"))
        self.assertEqual(len(a), len(b))
        for ra, rb in zip(a[1:], b[1:]):
            for x, y, tol in zip(ra[1:], rb[1:], rel):
                self.assertAlmostEqual(float(x), float(y), delta=tol * max(1.0, abs(float(x))), msg=(ra, rb))

    def test_basset_two_ranks_equal_one_and_resume_is_bit_identical(self):
        args = ["--output-window", "512", "--batch-size", "8", "--lr", "0.001"]
        one, two = os.path.join(self.work, "b1"), os.path.join(self.work, "b2")
        p = self.train("basset-supervised", self.full, one, args + ["--epochs", "2"])
        self.assertIn("model basset-supervised", p.stderr)
        self.train("basset-supervised", self.full, two, args + ["--epochs", "2"], np_ranks=2)
        self.assertEqual(read_csv(os.path.join(one, "losses.csv"))[0], ["Epoch", "train_loss", "val_loss", "val_auroc"])
        # stated tolerance (docs/training.md): float32 sums split over ranks (gradients, BatchNorm
        # statistics) round differently, and AdamW turns the rounding noise of the convolution
        # biases before BatchNorm (true gradient 0) into steps of ~lr, which the running means
        # (evaluation) follow: training loss 1e-5, validation loss 1e-4 over two epochs
        self.assert_same_losses(one, two, (1e-5, 1e-4, 1e-2))
        names = safetensors_names(os.path.join(one, "checkpoints", "epoch_2.safetensors"))
        for want in ["conv_net.0.weight", "conv_net.1.running_mean", "conv_net.9.running_var", "clf.6.bias",
                     "optimizer.exp_avg.clf.1.weight"]:
            self.assertIn(want, names)
        half = os.path.join(self.work, "b_half")
        self.train("basset-supervised", self.full, half, args + ["--epochs", "1"])
        self.train("basset-supervised", self.full, half, args + ["--epochs", "2"])
        self.assertEqual(bt.read_bytes(os.path.join(one, "losses.csv")), bt.read_bytes(os.path.join(half, "losses.csv")))
        self.assertEqual(read_csv(os.path.join(one, "best_model_metrics.csv"))[-1],
                         read_csv(os.path.join(half, "best_model_metrics.csv"))[-1])

    def test_resnet_two_ranks_equal_one_and_resume_is_bit_identical(self):
        args = ["--output-window", "64", "--batch-size", "4", "--lr", "0.001"]
        one, two = os.path.join(self.work, "r1"), os.path.join(self.work, "r2")
        p = self.train("resnet-supervised", self.short, one, args + ["--epochs", "2"])
        self.assertIn("model resnet-supervised", p.stderr)
        self.train("resnet-supervised", self.short, two, args + ["--epochs", "2"], np_ranks=2)
        self.assert_same_losses(one, two, (1e-5, 1e-5, 1e-5))
        names = safetensors_names(os.path.join(one, "checkpoints", "epoch_1.safetensors"))
        for want in ["encoder.encoder.0.conv.1.weight", "encoder.encoder.29.ffn.2.bias",
                     "downstream_cnn.conv1.1.weight", "downstream_cnn.linear.0.bias"]:
            self.assertIn(want, names)
        self.assertNotIn("encoder.encoder.30.conv.1.weight", names)
        half = os.path.join(self.work, "r_half")
        self.train("resnet-supervised", self.short, half, args + ["--epochs", "1"])
        self.train("resnet-supervised", self.short, half, args + ["--epochs", "2"])
        self.assertEqual(bt.read_bytes(os.path.join(one, "losses.csv")), bt.read_bytes(os.path.join(half, "losses.csv")))

    def test_a_run_of_another_model_is_not_resumed(self):
        out = os.path.join(self.work, "switch")
        args = ["--output-window", "64", "--batch-size", "4", "--epochs", "1"]
        bt.bend(["train", "--data", self.short, "--out", out] + BCE + args)
        p = self.train("resnet-supervised", self.short, out, args, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--overwrite", p.stderr)

    def test_basset_refuses_rows_that_are_not_512_bp(self):
        p = self.train("basset-supervised", self.short, os.path.join(self.work, "bad"),
                       ["--output-window", "64", "--epochs", "1"], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("exactly 512", p.stderr)

    def test_unknown_model_is_a_usage_error(self):
        p = self.train("lstm-supervised", self.short, os.path.join(self.work, "bad2"), [], check=False)
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main()
