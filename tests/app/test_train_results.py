"""What `bend train` leaves with its results (issue 18): --save-predictions' test_predictions.npz,
from which sklearn recomputes the reported metric (multi-label AUROC, per-nucleotide MCC), the same
bytes for 1 and 2 ranks; settings.json (every option of --help, the data fingerprint recomputed
from manifest.json, version, command line); a finished run's rerun is a no-op, and
best_model_metrics.csv never gets a second row."""
import csv
import json
import os
import re
import shutil
import sys
import unittest

import h5py
import numpy as np
from sklearn.metrics import matthews_corrcoef, roc_auc_score

import bendtest as bt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from crc32c_ref import crc32c  # noqa: E402

HISTONE = ["--label-depth", "6", "--criterion", "bce", "--metric", "auroc", "--output-window", "512",
           "--batch-size", "32", "--seed", "1"]
GENEFIND = ["--label-depth", "9", "--criterion", "cross_entropy", "--metric", "mcc", "--batch-size", "8",
            "--seed", "1"]


def metrics_rows(d):
    with open(os.path.join(d, "best_model_metrics.csv")) as f:
        return list(csv.DictReader(f))


def bed_rows(bed, split):
    """0-based data rows of `split` in a BEND BED file (header line first) and their lengths."""
    rows, lengths = [], []
    with open(bed) as f:
        header = f.readline().rstrip("\n").split("\t")
        for i, line in enumerate(f):
            x = dict(zip(header, line.rstrip("\n").split("\t")))
            if x["split"] == split:
                rows.append(i)
                lengths.append(int(x["end"]) - int(x["start"]))
    return rows, lengths


class TrainResults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.hist_bed = os.path.join(cls.data, "histone_demo", "histone_demo.bed")
        cls.hist = os.path.join(cls.work, "hist")
        bt.bend(["embed", "--bed", cls.hist_bed, "--genome", os.path.join(cls.data, "genome", "demo.fa"),
                 "--label-depth", "6", "--read-strand", "--model", "onehot", "--out", cls.hist, "--shard-rows", "100"])
        cls.hist_out = os.path.join(cls.work, "hist_out")
        cls.hist_args = ["train", "--data", cls.hist, "--out", cls.hist_out] + HISTONE + ["--epochs", "3",
                                                                                         "--save-predictions"]
        cls.first = bt.bend(cls.hist_args)

    def test_histone_predictions_give_sklearns_auroc(self):
        d = np.load(os.path.join(self.hist_out, "test_predictions.npz"))
        self.assertEqual(sorted(d.files), ["bed_row", "y_pred", "y_true"])
        rows, _ = bed_rows(self.hist_bed, "test")
        self.assertEqual(d["bed_row"].tolist(), rows)
        self.assertEqual(d["y_true"].shape, (len(rows), 6))
        self.assertEqual(d["y_pred"].dtype, np.float32)
        m = metrics_rows(self.hist_out)
        self.assertEqual(len(m), 1)
        per = [roc_auc_score(d["y_true"][:, i], d["y_pred"][:, i]) for i in range(6)]
        for i, v in enumerate(per):
            self.assertAlmostEqual(float(m[0]["test_auroc_%d" % i]), v, delta=1e-12)
        self.assertAlmostEqual(float(m[0]["test_auroc_avg"]), float(np.mean(per)), delta=1e-12)

    def test_genefind_predictions_give_sklearns_mcc_per_nucleotide(self):
        task = os.path.join(self.data, "genefind_demo")
        emb, out = os.path.join(self.work, "gf"), os.path.join(self.work, "gf_out")
        bt.bend(["embed", "--bed", os.path.join(task, "genefind_demo.bed"), "--genome",
                 os.path.join(self.data, "genome", "demo.fa"), "--labels", os.path.join(task, "genefind_demo.hdf5"),
                 "--model", "onehot", "--out", emb, "--shard-rows", "32"])
        bt.bend(["train", "--data", emb, "--out", out, "--epochs", "2", "--save-predictions"] + GENEFIND)
        d = np.load(os.path.join(out, "test_predictions.npz"))
        self.assertEqual(sorted(d.files), ["bed_row", "position", "y_pred", "y_true"])
        self.assertEqual(d["y_true"].dtype, np.int64)
        rows, lengths = bed_rows(os.path.join(task, "genefind_demo.bed"), "test")
        with h5py.File(os.path.join(task, "genefind_demo.hdf5"), "r") as f:
            labels = [np.asarray(f["labels"][r]) for r in rows]
        for r, n, lab in zip(rows, lengths, labels):  # every nucleotide once, in order, its own label
            sel = d["bed_row"] == r
            self.assertEqual(d["position"][sel].tolist(), list(range(n)))
            self.assertEqual(d["y_true"][sel].tolist(), lab.tolist())
        self.assertEqual(len(d["bed_row"]), sum(lengths))
        mcc = matthews_corrcoef(d["y_true"], d["y_pred"])
        self.assertAlmostEqual(float(metrics_rows(out)[0]["test_mcc"]), mcc, delta=1e-12)

    def test_two_ranks_write_the_same_predictions(self):
        outs = []
        for np_ranks in (1, 2):
            out = os.path.join(self.work, "np%d" % np_ranks)
            shutil.copytree(self.hist_out, out)
            os.remove(os.path.join(out, "test_predictions.npz"))
            bt.bend(["train", "--data", self.hist, "--out", out, "--test-only", "--save-predictions"] + HISTONE
                    + ["--epochs", "3"], np_ranks=np_ranks)
            self.assertEqual(len(metrics_rows(out)), 1)  # --test-only replaces the row
            outs.append(out)
        ref = bt.read_bytes(os.path.join(self.hist_out, "test_predictions.npz"))
        for out in outs:
            self.assertEqual(bt.read_bytes(os.path.join(out, "test_predictions.npz")), ref, out)
            a, b = metrics_rows(out)[0], metrics_rows(self.hist_out)[0]
            # the metrics come from the (same) predictions: equal; the test loss is a sum of rank
            # parts (allreduce), rounded differently for 2 ranks (stated tolerance)
            self.assertAlmostEqual(float(a.pop("test_loss")), float(b.pop("test_loss")), delta=1e-7)
            self.assertEqual(a, b, out)

    def test_settings_json_holds_every_option_the_data_fingerprint_and_the_command(self):
        s = json.loads(bt.read_text(os.path.join(self.hist_out, "settings.json")))
        self.assertEqual(s["bend_version"], bt.project_version())
        self.assertEqual(s["command_line"], [bt.BEND] + self.hist_args)
        help_text = bt.bend(["train", "--help"]).stdout
        options = set(re.findall(r"^\s+--([a-z][a-z0-9-]*)", help_text, re.M)) - {"help", "config"}
        self.assertTrue(options, help_text)
        self.assertEqual(options - set(s["options"]), set(), "options missing from settings.json")
        o = s["options"]
        self.assertEqual((o["epochs"], o["label-depth"], o["seed"], o["save-predictions"], o["metric"]),
                         (3, 6, 1, True, "auroc"))
        self.assertEqual(o["batch-size"], 32)
        manifest = json.loads(bt.read_text(os.path.join(self.hist, "manifest.json")))
        text = b""
        for split in ("train", "valid", "test"):
            for sh in sorted((x for x in manifest["shards"] if x["split"] == split), key=lambda x: x["shard"]):
                text += ("%s %s %d %s\n" % (split, sh["file"], sh["records"], sh["crc32c"])).encode()
        self.assertEqual(s["data"]["fingerprint"], "crc32c:%08x" % crc32c(text))
        self.assertEqual(s["data"]["embedding_model"], "onehot")
        self.assertEqual(s["data"]["records"], {"train": 482, "valid": 60, "test": 58})
        self.assertFalse(os.path.exists(os.path.join(self.hist_out, "run.json")))

    def test_rerunning_a_finished_training_is_a_no_op(self):
        out = os.path.join(self.work, "rerun")
        shutil.copytree(self.hist_out, out)
        args = ["train", "--data", self.hist, "--out", out] + HISTONE + ["--epochs", "3"]
        names = ["best_model_metrics.csv", "losses.csv", "settings.json", "test_predictions.npz",
                 "checkpoints/epoch_3.safetensors"]
        before = {n: (bt.read_bytes(os.path.join(out, n)), os.stat(os.path.join(out, n)).st_mtime_ns) for n in names}
        for np_ranks in (1, 2):
            p = bt.bend(args, np_ranks=np_ranks)
            self.assertIn("already finished", p.stderr)
            self.assertNotIn("epoch 1/3", p.stderr)
            after = {n: (bt.read_bytes(os.path.join(out, n)), os.stat(os.path.join(out, n)).st_mtime_ns) for n in names}
            self.assertEqual(after, before, "a no-op rerun changed a file")
        os.remove(os.path.join(out, "test_predictions.npz"))  # asked for predictions it lacks: tested again
        p = bt.bend(args + ["--save-predictions"])
        self.assertIn("to save its predictions", p.stderr)
        self.assertEqual(bt.read_bytes(os.path.join(out, "test_predictions.npz")), before["test_predictions.npz"][0])
        self.assertEqual(bt.read_bytes(os.path.join(out, "best_model_metrics.csv")), before["best_model_metrics.csv"][0])
        bt.bend(args[:-2] + ["--epochs", "4"])  # more epochs: trains on, still one row
        self.assertEqual(len(metrics_rows(out)), 1)
        with open(os.path.join(out, "losses.csv")) as f:
            self.assertEqual(len(f.read().splitlines()), 1 + 4)


if __name__ == "__main__":
    unittest.main()
