"""`bend variants` killed with SIGKILL mid-run (mpirun -np 2) leaves no table that looks complete,
and the same command then finishes with exactly the bytes of an uninterrupted run, redoing only the
shards the journal does not hold; SIGUSR1 stops it cleanly (exit 75, manifest "stopped") and a
rerun completes with the same bytes."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "app"))
sys.path.insert(0, HERE)
import bendtest as bt  # noqa: E402
from test_variants_cli import FASTA, make_variants, write_bed  # noqa: E402


class VariantsResume(unittest.TestCase):
    def setUp(self):
        self.work = bt.tmpdir()
        self.bed = write_bed(os.path.join(self.work, "v.bed"), make_variants(40, seed=21))
        self.ckpt = os.path.join(self.work, "resnetlm")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", self.ckpt, "--hidden-size", "128",
                 "--n-layers", "16", "--seed", "3"])  # slow enough to kill mid-run

    def args(self, out):
        return ["variants", "--bed", self.bed, "--genome", FASTA, "--model", "resnetlm", "--checkpoint",
                self.ckpt, "--out", out, "--shard-rows", "1", "--score", "cosine,l2", "--bootstrap", "50"]

    def test_kill_then_rerun_equals_an_uninterrupted_run(self):
        ref = os.path.join(self.work, "ref")
        bt.bend(self.args(ref), np_ranks=2)
        out = os.path.join(self.work, "killed")
        env = dict(os.environ)
        env.update(bt.MPI_ENV)
        log = open(os.path.join(self.work, "run.log"), "w")
        self.addCleanup(log.close)
        cmd = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", bt.BEND] + self.args(out)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        journal = os.path.join(out, "manifest.journal")
        t0 = time.time()
        while not (os.path.exists(journal) and bt.read_text(journal).count("\n") >= 3):
            self.assertIsNone(proc.poll(), "run ended before it could be killed")
            self.assertLess(time.time() - t0, 300, "no progress")
            time.sleep(0.02)
        bt.kill_session(proc.pid)
        proc.wait()
        self.assertFalse(os.path.exists(os.path.join(out, "scores.tsv")))
        self.assertFalse(os.path.exists(os.path.join(out, "auroc.csv")))
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertEqual(json.load(f)["status"], "running")
        r = bt.bend(self.args(out), np_ranks=2)
        m = re.search(r"resuming: (\d+) of 40 shards", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        self.assertGreaterEqual(int(m.group(1)), 3)
        names = sorted(n for n in os.listdir(ref) if n != "manifest.json")
        self.assertEqual(sorted(n for n in os.listdir(out) if n != "manifest.json"), names)
        for name in names:
            self.assertEqual(bt.read_bytes(os.path.join(ref, name)), bt.read_bytes(os.path.join(out, name)), name)

    def test_sigusr1_stops_with_75_and_the_rerun_completes_identically(self):
        ref = os.path.join(self.work, "ref1")
        bt.bend(self.args(ref))
        out = os.path.join(self.work, "stopped")
        log = open(os.path.join(self.work, "stop.log"), "w")
        self.addCleanup(log.close)
        env = dict(os.environ)
        proc = subprocess.Popen([bt.BEND] + self.args(out), stdout=log, stderr=subprocess.STDOUT, env=env)
        journal = os.path.join(out, "manifest.journal")
        t0 = time.time()
        while not (os.path.exists(journal) and bt.read_text(journal).count("\n") >= 2):
            self.assertIsNone(proc.poll(), "run ended before it could be stopped")
            self.assertLess(time.time() - t0, 300, "no progress")
            time.sleep(0.02)
        proc.send_signal(signal.SIGUSR1)  # `bend` exec'd `bend-torch`: the same process
        self.assertEqual(proc.wait(timeout=300), 75, bt.read_text(os.path.join(self.work, "stop.log")))
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertEqual(json.load(f)["status"], "stopped")
        self.assertFalse(os.path.exists(os.path.join(out, "scores.tsv")))
        self.assertIn("run the same command again to resume", bt.read_text(os.path.join(self.work, "stop.log")))
        bt.bend(self.args(out))
        for name in ("scores.tsv", "auroc.csv"):
            self.assertEqual(bt.read_bytes(os.path.join(ref, name)), bt.read_bytes(os.path.join(out, name)), name)


if __name__ == "__main__":
    unittest.main()
