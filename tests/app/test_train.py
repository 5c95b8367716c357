"""`bend train` end to end with real mpirun on embeddings written by `bend embed`: np=2 equals np=1,
killed-and-resumed equals uninterrupted, the planted signal is learned, BEND's result files, CV fold
assignment, and clear errors for bad input."""
import csv
import json
import os
import re
import subprocess
import time
import unittest

import bendtest as bt

HISTONE = ["--label-depth", "6", "--criterion", "bce", "--metric", "auroc", "--output-window", "512",
           "--batch-size", "32", "--seed", "1"]


def read_csv(path):
    with open(path) as f:
        return list(csv.reader(f))


class Train(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.emb = os.path.join(cls.work, "histone_onehot")
        task = os.path.join(cls.data, "histone_demo")
        bt.bend(["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
                 os.path.join(cls.data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand",
                 "--model", "onehot", "--out", cls.emb, "--shard-rows", "100"], np_ranks=2)

    def train(self, out, extra=(), np_ranks=1, check=True):
        return bt.bend(["train", "--data", self.emb, "--out", out] + HISTONE + list(extra),
                       np_ranks=np_ranks, check=check)

    def test_two_ranks_give_the_same_losses_as_one(self):
        one, two = os.path.join(self.work, "np1"), os.path.join(self.work, "np2")
        self.train(one, ["--epochs", "4"])
        self.train(two, ["--epochs", "4"], np_ranks=2)
        run = json.loads(bt.read_text(os.path.join(two, "settings.json")))  # the version and command line
        self.assertEqual(run["bend_version"], bt.project_version())
        self.assertEqual(run["command_line"], [bt.BEND, "train", "--data", self.emb, "--out", two] + HISTONE
                         + ["--epochs", "4"])
        before = bt.read_bytes(os.path.join(two, "settings.json"))
        p = self.train(two, ["--epochs", "4", "--lr", "0.01"], check=False)  # other settings: refused
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--overwrite", p.stderr)
        self.assertEqual(bt.read_bytes(os.path.join(two, "settings.json")), before, "a refused run changed settings.json")
        a, b = read_csv(os.path.join(one, "losses.csv")), read_csv(os.path.join(two, "losses.csv"))
        self.assertEqual(a[0], ["Epoch", "train_loss", "val_loss", "val_auroc"])
        self.assertEqual(len(a), 5)
        for ra, rb in zip(a[1:], b[1:]):
            for x, y in zip(ra[1:], rb[1:]):
                # stated tolerance: float32 gradient sums split over ranks round differently
                self.assertAlmostEqual(float(x), float(y), delta=1e-5 * max(1.0, abs(float(x))), msg=(ra, rb))

    def test_killed_after_an_epoch_and_resumed_equals_uninterrupted(self):
        ref = os.path.join(self.work, "straight")
        self.train(ref, ["--epochs", "6"])
        out = os.path.join(self.work, "killed")
        env = dict(os.environ)
        env.update(bt.MPI_ENV)
        cmd = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", bt.BEND, "train", "--data", self.emb,
               "--out", out, "--epochs", "6"] + HISTONE
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        ckpt = os.path.join(out, "checkpoints", "epoch_2.safetensors")
        t0 = time.time()
        while not os.path.exists(ckpt) and time.time() - t0 < 300:
            self.assertIsNone(proc.poll(), "training ended before it could be killed")
            time.sleep(0.02)
        bt.kill_session(proc.pid)
        proc.wait()
        self.assertFalse(os.path.exists(os.path.join(out, "best_model_metrics.csv")))
        p = bt.bend(["train", "--data", self.emb, "--out", out, "--epochs", "6"] + HISTONE, np_ranks=2)
        self.assertRegex(p.stderr, r"resuming after epoch [2-6] of 6")
        ra, rb = read_csv(os.path.join(ref, "losses.csv")), read_csv(os.path.join(out, "losses.csv"))
        self.assertEqual(len(ra), len(rb))
        for x, y in zip(ra, rb):
            self.assertEqual(x[0], y[0])
            for u, v in zip(x[1:], y[1:]):
                if u != v:
                    self.assertAlmostEqual(float(u), float(v), delta=1e-5 * max(1.0, abs(float(u))))
        ma = read_csv(os.path.join(ref, "best_model_metrics.csv"))
        mb = read_csv(os.path.join(out, "best_model_metrics.csv"))
        self.assertEqual(ma[0], mb[0])
        self.assertEqual(ma[1][0], mb[1][0], "same best epoch")

    def test_resume_with_more_epochs_is_bit_identical(self):
        ref, out = os.path.join(self.work, "r_ref"), os.path.join(self.work, "r_out")
        self.train(ref, ["--epochs", "4"])
        self.train(out, ["--epochs", "2"])
        self.train(out, ["--epochs", "4"])
        self.assertEqual(bt.read_bytes(os.path.join(ref, "losses.csv")), bt.read_bytes(os.path.join(out, "losses.csv")))
        self.assertEqual(read_csv(os.path.join(ref, "best_model_metrics.csv"))[-1],
                         read_csv(os.path.join(out, "best_model_metrics.csv"))[-1])

    def test_planted_signal_is_learned_and_results_have_bends_columns(self):
        out = os.path.join(self.work, "learn")
        self.train(out, ["--epochs", "40"], np_ranks=2)
        rows = read_csv(os.path.join(out, "best_model_metrics.csv"))
        header = rows[0]
        self.assertEqual(header[:6], ["Epoch", "train_loss", "val_loss", "val_auroc", "test_loss", "test_auroc_avg"])
        self.assertEqual(header[6:], ["test_auroc_%d" % i for i in range(6)])
        test_auroc = float(rows[1][5])
        self.assertGreater(test_auroc, 0.65, "the planted motifs should be learned clearly above chance")
        losses = read_csv(os.path.join(out, "losses.csv"))
        best = max(losses[1:], key=lambda r: float(r[3]))
        self.assertEqual(rows[1][0], best[0], "the best validation epoch is the one tested")
        self.assertTrue(os.path.exists(os.path.join(out, "checkpoints", "epoch_40.safetensors")))

    def test_cross_validation_fold_assignment(self):
        task = os.path.join(self.data, "enhancer_demo")
        emb = os.path.join(self.work, "enhancer_onehot")
        bt.bend(["embed", "--bed", os.path.join(task, "enhancer_demo.bed"), "--genome",
                 os.path.join(self.data, "genome", "demo.fa"), "--model", "onehot", "--out", emb])
        for fold, valid in ((3, "part4"), (10, "part1")):
            out = os.path.join(self.work, "cv%d" % fold)
            p = bt.bend(["train", "--data", emb, "--out", out, "--cv", "--fold", str(fold), "--label-depth", "1",
                         "--criterion", "bce", "--metric", "auprc", "--output-window", "128", "--epochs", "1",
                         "--batch-size", "4"])
            m = re.search(r"splits: train (\S+), valid (\S+), test (\S+)", p.stderr)
            self.assertTrue(m, p.stderr)
            train = m.group(1).split(",")
            self.assertEqual(m.group(2), valid)
            self.assertEqual(m.group(3), "part%d" % fold)
            self.assertEqual(sorted(train), sorted("part%d" % i for i in range(1, 11) if "part%d" % i not in (valid, "part%d" % fold)))
            # each fold gets its own results directory, out/fold<K> (as slurm/train.sbatch lays them out)
            fold_dir = os.path.join(out, "fold%d" % fold)
            self.assertIn("cross-validation fold %d: results in %s" % (fold, fold_dir), p.stderr)
            self.assertTrue(os.path.exists(os.path.join(fold_dir, "losses.csv")), sorted(os.listdir(out)))
            self.assertTrue(os.path.exists(os.path.join(fold_dir, "best_model_metrics.csv")))
            self.assertEqual(sorted(os.listdir(out)), ["fold%d" % fold])
        # an --out that already ends in this fold's directory is used as it is, not doubled
        out = os.path.join(self.work, "cv_given", "fold3")
        bt.bend(["train", "--data", emb, "--out", out, "--cv", "--fold", "3", "--label-depth", "1",
                 "--criterion", "bce", "--metric", "auprc", "--output-window", "128", "--epochs", "1",
                 "--batch-size", "4"])
        self.assertTrue(os.path.exists(os.path.join(out, "losses.csv")), sorted(os.listdir(out)))
        self.assertFalse(os.path.exists(os.path.join(out, "fold3")))

    def test_bad_input_is_refused_clearly(self):
        cases = [
            (["--test-splits", "nosuch"], ["nosuch", "train"]),
            (["--input-dim", "7"], ["7", "5"]),
            (["--label-depth", "5"], ["5", "6"]),
            (["--lr", "1e30"], ["epoch", "step", "loss"]),
        ]
        for i, (extra, needles) in enumerate(cases):
            out = os.path.join(self.work, "bad%d" % i)
            base = list(HISTONE)
            if extra[0] in base:  # replace the option rather than repeat it
                j = base.index(extra[0])
                del base[j:j + 2]
            args = ["train", "--data", self.emb, "--out", out] + base + ["--epochs", "1"] + extra
            p = bt.bend(args, np_ranks=2, check=False)
            self.assertNotEqual(p.returncode, 0, extra)
            for n in needles:
                self.assertIn(n, p.stderr, (extra, p.stderr))
        blocker = os.path.join(self.work, "a_file")
        with open(blocker, "w") as f:
            f.write("x")
        p = self.train(os.path.join(blocker, "sub"), ["--epochs", "1"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("a_file", p.stderr)
        missing = bt.bend(["train", "--data", os.path.join(self.work, "nothing_here"), "--out",
                           os.path.join(self.work, "o")] + HISTONE, check=False)
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("nothing_here", missing.stderr)

    def test_cuda_without_a_cuda_build_is_refused_before_any_work(self):
        if os.environ.get("BEND_CUDA_BUILD") != "OFF":
            self.skipTest("CUDA build: tests/gpu covers bend train --cuda")
        out = os.path.join(self.work, "cuda")
        p = self.train(out, ["--epochs", "1", "--cuda"], np_ranks=2, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--cuda", p.stderr)
        self.assertIn("built without CUDA", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "losses.csv")))


if __name__ == "__main__":
    unittest.main()
