"""`bend train --cuda`: the same losses as the CPU path (float tolerance), resume after an epoch equal
to an uninterrupted run, on the demo histone task's one-hot embeddings."""
import csv
import os
import unittest

from gputest import bt

HISTONE = ["--label-depth", "6", "--criterion", "bce", "--metric", "auroc", "--output-window", "512",
           "--batch-size", "32", "--seed", "1"]


def losses(out):
    with open(os.path.join(out, "losses.csv")) as f:
        rows = list(csv.reader(f))
    return [[float(x) for x in r[1:]] for r in rows[1:]]


class CudaTrain(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.emb = os.path.join(cls.work, "histone_onehot")
        task = os.path.join(cls.data, "histone_demo")
        bt.bend(["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
                 os.path.join(cls.data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand",
                 "--model", "onehot", "--out", cls.emb, "--shard-rows", "100"])

    def train(self, out, extra=(), np_ranks=1):
        return bt.bend(["train", "--data", self.emb, "--out", out] + HISTONE + list(extra), np_ranks=np_ranks)

    def assert_close(self, a, b, tol):
        self.assertEqual(len(a), len(b))
        for ra, rb in zip(a, b):
            for x, y in zip(ra, rb):
                self.assertAlmostEqual(x, y, delta=tol * max(1.0, abs(x)), msg=(ra, rb))

    def test_cuda_losses_equal_cpu_losses(self):
        cpu, gpu = os.path.join(self.work, "cpu"), os.path.join(self.work, "cuda")
        self.train(cpu, ["--epochs", "3"])
        p = self.train(gpu, ["--epochs", "3", "--cuda"])
        self.assertIn("cuda:", p.stderr)
        print("cpu ", losses(cpu), "\ncuda", losses(gpu))
        # stated tolerance: cuDNN and oneDNN sum in other orders; three epochs of AdamW on top
        self.assert_close(losses(cpu), losses(gpu), 1e-4)

    def test_cuda_resume_after_an_epoch_equals_uninterrupted(self):
        whole, split = os.path.join(self.work, "whole"), os.path.join(self.work, "split")
        self.train(whole, ["--epochs", "2", "--cuda"])
        self.train(split, ["--epochs", "1", "--cuda"])
        self.train(split, ["--epochs", "2", "--cuda"])
        self.assert_close(losses(whole), losses(split), 1e-6)  # deterministic cuDNN: same steps


if __name__ == "__main__":
    unittest.main(verbosity=2)
