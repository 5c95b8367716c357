"""jobs/*.toml claim BEND's settings: each [train] value is checked against BEND's
conf/supervised_tasks/<task>.yaml (the values below, transcribed from BEND's configs and paper
table), and `bend train` accepts every job file (CLI11 reads the same TOML that tomllib reads here).
"""
import os
import tomllib
import unittest

import bendtest as bt

# BEND's conf/supervised_tasks: head hidden size, learning rate, batch size, output window,
# loss, metric, label depth (outputs), and the webdataset shuffle buffer (BEND sets one for every task).
BEND_TRAIN = {
    "gene_finding": {"hidden-size": 64, "lr": 0.003, "batch-size": 64, "output-window": 0,
                     "criterion": "cross_entropy", "metric": "mcc", "label-depth": 9,
                     "shuffle-buffer": 1000},
    "enhancer_annotation": {"hidden-size": 2, "lr": 0.001, "batch-size": 8, "output-window": 128,
                            "criterion": "bce", "metric": "auprc", "label-depth": 1,
                            "pos-weight": 82.86, "cv": True, "shuffle-buffer": 100},
    "histone_modification": {"hidden-size": 64, "lr": 0.003, "batch-size": 256, "output-window": 512,
                             "criterion": "bce", "metric": "auroc", "label-depth": 18,
                             "shuffle-buffer": 200},
    "chromatin_accessibility": {"hidden-size": 64, "lr": 0.003, "batch-size": 256,
                                "output-window": 512, "criterion": "bce", "metric": "auroc",
                                "label-depth": 125, "shuffle-buffer": 1000},
    "cpg_methylation": {"hidden-size": 64, "lr": 0.003, "batch-size": 256, "output-window": 512,
                        "criterion": "bce", "metric": "auroc", "label-depth": 7,
                        "shuffle-buffer": 200},
}
# Every supervised task: the head's kernel 3, AdamW with weight decay 0.01, 100 epochs.
BEND_ALL = {"kernel-size": 3, "weight-decay": 0.01, "epochs": 100}
# BEND's embedding side: strand and genome per task.
BEND_EMBED = {
    "gene_finding": {"read-strand": False, "genome": "GRCh38"},
    "enhancer_annotation": {"read-strand": False, "genome": "GRCh38"},
    "histone_modification": {"read-strand": True, "genome": "GRCh38"},
    "chromatin_accessibility": {"read-strand": True, "genome": "GRCh37"},
    "cpg_methylation": {"read-strand": True, "genome": "GRCh38"},
}
# The supervised baselines in BEND's sweep of each task (conf/supervised_tasks/<task>.yaml,
# hydra.sweeper.params.embedder; enhancer annotation's list is commented out there but names
# resnet-supervised).
BEND_BASELINES = {
    "gene_finding": ["resnet-supervised"],
    "enhancer_annotation": ["resnet-supervised"],
    "histone_modification": ["resnet-supervised", "basset-supervised"],
    "chromatin_accessibility": ["resnet-supervised", "basset-supervised"],
    "cpg_methylation": ["resnet-supervised"],
}


def load(task):
    with open(os.path.join(bt.SOURCE_DIR, "jobs", task + ".toml"), "rb") as f:
        return tomllib.load(f)


class JobFiles(unittest.TestCase):
    def test_train_settings_are_bends(self):
        for task, want in BEND_TRAIN.items():
            train = load(task)["train"]
            for key, value in list(want.items()) + list(BEND_ALL.items()):
                with self.subTest(task=task, key=key):
                    self.assertIn(key, train, "jobs/%s.toml lacks %s (BEND: %r)" % (task, key, value))
                    self.assertEqual(train[key], value, "jobs/%s.toml: %s" % (task, key))

    def test_embed_settings_are_bends(self):
        for task, want in BEND_EMBED.items():
            embed = load(task)["embed"]
            with self.subTest(task=task):
                self.assertEqual(embed["read-strand"], want["read-strand"])
                self.assertIn(want["genome"], embed["genome"])
                if task == "enhancer_annotation":
                    self.assertEqual(embed["splits"], ["part%d" % i for i in range(1, 11)])

    def test_bend_train_reads_every_job_file(self):
        """CLI11 parses each file (comment lines included): the run gets as far as the data."""
        cwd = bt.tmpdir("bend-jobs-")
        missing = os.path.join(cwd, "no-such-embeddings")
        for name in sorted(os.listdir(os.path.join(bt.SOURCE_DIR, "jobs"))):
            job = load(name[:-5]) if name.endswith(".toml") else {}
            if "train" not in job:
                continue
            for key in ("bed", "genome", "labels"):  # CLI11 checks the [embed] inputs exist
                if key in job["embed"]:
                    path = os.path.join(cwd, job["embed"][key])
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    open(path, "a").close()
            with self.subTest(job=name):
                p = bt.bend(["train", "--config", os.path.join(bt.SOURCE_DIR, "jobs", name),
                             "--data", missing, "--out", missing + "-out"], check=False, cwd=cwd)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("no-such-embeddings", p.stderr)
                self.assertNotIn("config", p.stderr.lower().replace("--config", ""), p.stderr)

    def test_each_job_file_shows_how_to_train_bends_baselines(self):
        """The commands in the header name BEND's baselines for the task, and bend train takes them
        with the job file (as far as the data)."""
        cwd = bt.tmpdir("bend-jobs-baselines-")
        missing = os.path.join(cwd, "no-such-onehot")
        for task, models in BEND_BASELINES.items():
            path = os.path.join(bt.SOURCE_DIR, "jobs", task + ".toml")
            text = bt.read_text(path)
            named = sorted(set(m for m in ("resnet-supervised", "basset-supervised") if "--model " + m in text))
            self.assertEqual(named, sorted(models), path)
            job = load(task)
            for key in ("bed", "genome", "labels"):
                if key in job["embed"]:
                    f = os.path.join(cwd, job["embed"][key])
                    os.makedirs(os.path.dirname(f), exist_ok=True)
                    open(f, "a").close()
            for m in models:
                with self.subTest(task=task, model=m):
                    p = bt.bend(["train", "--config", path, "--model", m, "--data", missing, "--out", missing + "-out"],
                                check=False, cwd=cwd)
                    self.assertEqual(p.returncode, 2, p.stderr)  # --data must exist: nothing else refused
                    self.assertIn("no-such-onehot", p.stderr)


if __name__ == "__main__":
    unittest.main()
