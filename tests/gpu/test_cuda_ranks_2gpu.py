"""Two GPUs (registered only where the CUDA build's machine has >= 2): `bend embed --cuda` writes
the same bytes with np 1 and np 2, and `bend train --cuda` np 2 (NCCL gradient sums) gives the
np 1 losses."""
import csv
import glob
import os
import unittest

from gputest import bt


class CudaRanks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.ckpt = os.path.join(cls.work, "resnetlm")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", cls.ckpt, "--hidden-size", "64", "--n-layers", "2"])
        task = os.path.join(cls.data, "histone_demo")
        cls.bed = os.path.join(task, "histone_demo.bed")
        cls.fa = os.path.join(cls.data, "genome", "demo.fa")

    def embed(self, out, np_ranks, model=("--model", "resnetlm", "--checkpoint")):
        args = ["embed", "--bed", self.bed, "--genome", self.fa, "--label-depth", "6", "--read-strand",
                "--out", out, "--shard-rows", "100", "--cuda"] + list(model)
        if model[-1] == "--checkpoint":
            args.append(self.ckpt)
        bt.bend(args, np_ranks=np_ranks)

    def test_cuda_embedding_bytes_do_not_depend_on_the_rank_count(self):
        one, two = os.path.join(self.work, "e1"), os.path.join(self.work, "e2")
        self.embed(one, 1)
        self.embed(two, 2)
        a = sorted(os.path.basename(p) for p in glob.glob(os.path.join(one, "*.tfrecord*")))
        self.assertTrue(a)
        self.assertEqual(a, sorted(os.path.basename(p) for p in glob.glob(os.path.join(two, "*.tfrecord*"))))
        for n in a:
            self.assertEqual(bt.read_bytes(os.path.join(one, n)), bt.read_bytes(os.path.join(two, n)), n)

    def test_cuda_training_with_nccl_on_two_ranks_equals_one(self):
        emb = os.path.join(self.work, "onehot")
        bt.bend(["embed", "--bed", self.bed, "--genome", self.fa, "--label-depth", "6", "--read-strand",
                 "--model", "onehot", "--out", emb, "--shard-rows", "100"])
        rows = []
        for n in (1, 2):
            out = os.path.join(self.work, "t%d" % n)
            p = bt.bend(["train", "--data", emb, "--out", out, "--label-depth", "6", "--criterion", "bce",
                         "--metric", "auroc", "--output-window", "512", "--batch-size", "32", "--seed", "1",
                         "--epochs", "3", "--cuda"], np_ranks=n)
            if n == 2:
                self.assertIn("nccl", p.stderr)
            with open(os.path.join(out, "losses.csv")) as f:
                rows.append([[float(x) for x in r[1:]] for r in list(csv.reader(f))[1:]])
        for ra, rb in zip(*rows):
            for x, y in zip(ra, rb):
                self.assertAlmostEqual(x, y, delta=1e-5 * max(1.0, abs(x)), msg=(ra, rb))


if __name__ == "__main__":
    unittest.main(verbosity=2)
