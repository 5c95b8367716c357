"""Kill -9 at any moment leaves nothing that looks complete but is not, and a rerun finishes
with exactly the bytes of an uninterrupted run, redoing only unfinished shards. Reruns with other
parameters are refused unless --overwrite."""
import json
import os
import re
import signal
import subprocess
import time
import unittest

import bendtest as bt


class EmbedResume(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.ckpt = os.path.join(cls.work, "resnetlm")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", cls.ckpt, "--hidden-size", "128",
                 "--n-layers", "16", "--seed", "3"])  # slow enough to kill mid-run
        cls.ref = os.path.join(cls.work, "reference")
        bt.bend(cls.args(cls.ref), np_ranks=2)
        cls.ref_bytes = bt.dir_bytes(cls.ref)

    @classmethod
    def args(cls, out, extra=()):
        task = os.path.join(cls.data, "histone_demo")
        return ["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
                os.path.join(cls.data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand",
                "--model", "resnetlm", "--checkpoint", cls.ckpt, "--out", out, "--shard-rows", "12",
                "--progress-interval", "0.5"] + list(extra)

    def start(self, out, np_ranks=2):
        env = dict(os.environ)
        env.update(bt.MPI_ENV)
        cmd = ["mpirun", "-np", str(np_ranks), "--oversubscribe", "--bind-to", "none", bt.BEND] + self.args(out)
        self.log = open(os.path.join(self.work, "run.log"), "w")
        self.addCleanup(self.log.close)
        return subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)

    def wait_for_shards(self, out, n, proc, timeout=300):
        journal = os.path.join(out, "manifest.journal")
        t0 = time.time()
        while time.time() - t0 < timeout:
            if os.path.exists(journal) and bt.read_text(journal).count("\n") >= n:
                return
            self.assertIsNone(proc.poll(), "run ended before it could be killed: %s"
                              % bt.read_text(os.path.join(self.work, "run.log")))
            time.sleep(0.05)
        self.fail("no progress")

    def assert_nothing_looks_complete_that_is_not(self, out):
        """Every file under a final name is whole (all CRCs, all records); every journaled
        shard exists; the manifest does not claim completion. (A shard renamed just before
        the kill may not be journaled yet: it is whole, and the resume writes it again.)"""
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertEqual(manifest["status"], "running")
        finals = [n for n in os.listdir(out) if n.endswith(".tfrecord")]
        for n in finals:
            recs = list(bt.read_tfrecord(os.path.join(out, n)))  # every CRC checks
            self.assertEqual(len(recs), 12, n)
        journal = bt.read_text(os.path.join(out, "manifest.journal"))
        for line in journal.splitlines():
            self.assertIn(json.loads(line)["file"], finals)
        self.assertGreater(len(journal.splitlines()), 0)

    def resume_and_compare(self, out):
        p = bt.bend(self.args(out), np_ranks=2)
        m = re.search(r"resuming: (\d+) of (\d+) shards", p.stderr)
        self.assertTrue(m, p.stderr)
        self.assertGreater(int(m.group(1)), 0)
        got = bt.dir_bytes(out)
        self.assertEqual(sorted(got), sorted(self.ref_bytes))
        for name in got:
            self.assertEqual(got[name], self.ref_bytes[name], name)

    def test_kill_whole_job_then_resume_gives_identical_output(self):
        out = os.path.join(self.work, "killed_job")
        proc = self.start(out)
        self.wait_for_shards(out, 4, proc)
        bt.kill_session(proc.pid)
        proc.wait()
        self.assert_nothing_looks_complete_that_is_not(out)
        self.resume_and_compare(out)

    def test_kill_one_worker_rank_then_resume_gives_identical_output(self):
        out = os.path.join(self.work, "killed_rank")
        proc = self.start(out)
        self.wait_for_shards(out, 3, proc)
        ranks = bt.run(["pgrep", "-f", "-s", str(proc.pid), "bend(-torch)? embed"], check=False).stdout.split()
        ranks = [int(r) for r in ranks if int(r) != proc.pid]
        self.assertTrue(ranks, "no rank processes found")
        os.kill(max(ranks), signal.SIGKILL)
        proc.wait(timeout=120)
        self.assertNotEqual(proc.returncode, 0)
        bt.kill_session(proc.pid)
        self.assert_nothing_looks_complete_that_is_not(out)
        self.resume_and_compare(out)

    def test_rerun_of_a_complete_run_verifies_and_skips_everything(self):
        out = os.path.join(self.work, "complete")
        bt.bend(self.args(out))
        before = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out) if ".tfrecord" in n}
        p = bt.bend(self.args(out), np_ranks=2)
        m = re.search(r"resuming: (\d+) of (\d+) shards", p.stderr)
        self.assertTrue(m and m.group(1) == m.group(2), p.stderr)
        after = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out) if ".tfrecord" in n}
        self.assertEqual(before, after, "no shard was rewritten")

    def test_a_damaged_complete_shard_is_detected_and_redone(self):
        out = os.path.join(self.work, "damaged")
        bt.bend(self.args(out))
        victim = os.path.join(out, "train-00001.tfrecord")
        blob = bytearray(bt.read_bytes(victim))
        blob[100] ^= 1
        open(victim, "wb").write(bytes(blob))
        p = bt.bend(self.args(out))
        self.assertIn("train-00001.tfrecord does not match", p.stderr)
        self.assertEqual(bt.read_bytes(victim), self.ref_bytes["train-00001.tfrecord"])

    def test_other_parameters_are_refused_unless_overwrite(self):
        out = os.path.join(self.work, "params")
        bt.bend(self.args(out, ["--splits", "test"]))
        p = bt.bend(self.args(out, ["--splits", "test", "--dtype", "float16"]), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("different parameters", p.stderr)
        self.assertIn("dtype", p.stderr)
        self.assertIn("--overwrite", p.stderr)
        bt.bend(self.args(out, ["--splits", "test", "--dtype", "float16", "--overwrite"]))
        recs = bt.read_shard_dir(out)
        self.assertTrue(recs and all(r["dtype"] == "float16" for r in recs.values()))


if __name__ == "__main__":
    unittest.main()
