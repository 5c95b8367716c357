"""Graceful stop (bend/core/stop.hpp): SIGUSR1/SIGTERM/SIGINT stop `bend embed` and `bend train`
on every rank with exit status 75, leave a consistent manifest or checkpoint, and a rerun of the
same command ends with exactly the bytes of an uninterrupted run.

Under Open MPI 4.1's mpirun (measured; docs/cli.md): SIGUSR1 is forwarded to every rank, so the
job stops cleanly and mpirun exits 75. SIGTERM/SIGINT cannot be forwarded (ess_base_forward_signals
refuses them): mpirun sends every rank SIGCONT, SIGTERM odls_base_sigkill_timeout (1 s) later and
SIGKILL after as long again, and exits 1; the output then is that of a killed run, which a rerun
completes identically. With `--mca odls_base_sigkill_timeout N` the ranks have N seconds to stop
cleanly (manifest "stopped"), though mpirun still exits 1."""
import json
import os
import re
import signal
import subprocess
import time
import unittest

import bendtest as bt

# 4 epochs: a signal sent once epoch 1 is logged must find training still running (an epoch of
# 121 steps takes ~0.2 s; with 2 epochs it could arrive during the final test evaluation, when
# there is nothing left to stop, and bend rightly finishes with 0)
HISTONE = ["--label-depth", "6", "--criterion", "bce", "--metric", "auroc", "--output-window", "512",
           "--batch-size", "4", "--seed", "1", "--epochs", "4"]


def rank_pids(mpirun_pid):
    """{rank: pid} of the processes mpirun started (OMPI_COMM_WORLD_RANK in their environment)."""
    out = {}
    for pid in bt.run(["pgrep", "-P", str(mpirun_pid)], check=False).stdout.split():
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        for kv in env:
            if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
                out[int(kv.split(b"=", 1)[1])] = int(pid)
    return out


class Stop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.ckpt = os.path.join(cls.work, "resnetlm")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", cls.ckpt, "--hidden-size", "128",
                 "--n-layers", "16", "--seed", "3"])  # slow enough to signal mid-run
        cls.ref = os.path.join(cls.work, "reference")
        bt.bend(cls.embed_args(cls.ref), np_ranks=2)
        cls.ref_bytes = bt.dir_bytes(cls.ref)
        ref_manifest = json.loads(bt.read_text(os.path.join(cls.ref, "manifest.json")))
        cls.n_shards = ref_manifest["planned_shards"]
        cls.ref_entries = {s["file"]: s for s in ref_manifest["shards"]}

    @classmethod
    def embed_args(cls, out, splits="test"):
        task = os.path.join(cls.data, "histone_demo")
        return ["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
                os.path.join(cls.data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand",
                "--model", "resnetlm", "--checkpoint", cls.ckpt, "--out", out, "--splits", splits,
                "--shard-rows", "4", "--progress-interval", "0.5"]

    def start(self, args, np_ranks=2, name="run", mpirun_args=()):
        env = dict(os.environ)
        env.update(bt.MPI_ENV)
        cmd = [bt.BEND] + args
        if np_ranks > 1:
            cmd = ["mpirun", "-np", str(np_ranks), "--oversubscribe", "--bind-to", "none"] + list(mpirun_args) + cmd
        self.log_path = os.path.join(self.work, name + ".log")
        log = open(self.log_path, "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.addCleanup(lambda: proc.poll() is None and bt.kill_session(proc.pid))
        return proc

    def log(self):
        return bt.read_text(self.log_path)

    def wait_for(self, cond, proc, timeout=300):
        t0 = time.time()
        while not cond():
            self.assertIsNone(proc.poll(), "the run ended before the signal:\n" + self.log())
            self.assertLess(time.time() - t0, timeout, "no progress:\n" + self.log())
            time.sleep(0.02)

    def journal_lines(self, out):
        path = os.path.join(out, "manifest.journal")
        return bt.read_text(path).count("\n") if os.path.exists(path) else 0

    def assert_stopped_cleanly(self, out, proc, sig_name, status=75):
        self.assertEqual(proc.wait(timeout=300), status, self.log())
        m = re.search(r"bend: stopped by %s after (\d+) of (\d+) shards; run the same command again to resume"
                      % sig_name, self.log())
        self.assertTrue(m, self.log())
        self.assertEqual(int(m.group(2)), self.n_shards)
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertEqual(manifest["status"], "stopped")
        names = sorted(os.listdir(out))
        self.assertNotIn("manifest.journal", names, "the manifest holds every finished shard")
        self.assertFalse([n for n in names if ".tmp" in n], names)
        shards = sorted(n for n in names if ".tfrecord" in n)
        self.assertEqual(shards, sorted(s["file"] for s in manifest["shards"]))
        self.assertEqual(len(shards), int(m.group(1)))
        self.assertLess(len(shards), self.n_shards, "stopped before the end")
        for s in manifest["shards"]:  # each recorded shard is whole: the reference's file and entry
            self.assertEqual(bt.read_bytes(os.path.join(out, s["file"])), self.ref_bytes[s["file"]], s["file"])
            self.assertEqual(s, self.ref_entries[s["file"]])
        return int(m.group(1))

    def resume_and_compare(self, out, n_done):
        p = bt.bend(self.embed_args(out), np_ranks=2)
        self.assertIn("resuming: %d of %d shards already complete" % (n_done, self.n_shards), p.stderr)
        got = bt.dir_bytes(out)
        self.assertEqual(sorted(got), sorted(self.ref_bytes))
        for name in got:
            self.assertEqual(got[name], self.ref_bytes[name], name)

    def test_usr1_to_mpirun_stops_every_rank_with_75_and_a_rerun_completes_identically(self):
        out = os.path.join(self.work, "usr1_mpirun")
        proc = self.start(self.embed_args(out))
        self.wait_for(lambda: self.journal_lines(out) >= 3, proc)
        os.kill(proc.pid, signal.SIGUSR1)
        n_done = self.assert_stopped_cleanly(out, proc, "SIGUSR1")
        self.assertIn("Forwarding signal 10 to job", self.log())
        self.resume_and_compare(out, n_done)

    def test_a_signal_reaching_only_a_worker_rank_stops_the_whole_job(self):
        out = os.path.join(self.work, "usr1_rank1")
        proc = self.start(self.embed_args(out))
        self.wait_for(lambda: self.journal_lines(out) >= 3, proc)
        os.kill(rank_pids(proc.pid)[1], signal.SIGUSR1)
        n_done = self.assert_stopped_cleanly(out, proc, "SIGUSR1")
        self.assertIn("stop requested by SIGUSR1 (rank 1)", self.log())
        self.resume_and_compare(out, n_done)

    def test_a_signal_reaching_only_rank_0_stops_the_whole_job(self):
        out = os.path.join(self.work, "term_rank0")
        proc = self.start(self.embed_args(out))
        self.wait_for(lambda: self.journal_lines(out) >= 3, proc)
        os.kill(rank_pids(proc.pid)[0], signal.SIGTERM)
        n_done = self.assert_stopped_cleanly(out, proc, "SIGTERM")
        self.assertIn("stop requested by SIGTERM (rank 0)", self.log())
        self.resume_and_compare(out, n_done)

    def test_sigterm_to_mpirun_kills_the_job_leaving_only_whole_files(self):
        """Open MPI's own teardown: SIGCONT, then SIGTERM and SIGKILL a second apart; mpirun exits 1."""
        out = os.path.join(self.work, "term_mpirun")  # every split: long enough to outlast mpirun's delay
        proc = self.start(self.embed_args(out, "train,valid,test"))
        self.wait_for(lambda: self.journal_lines(out) >= 3, proc)
        t0 = time.time()
        os.kill(proc.pid, signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=120), 1, self.log())
        self.assertLess(time.time() - t0, 30)
        # Killed (SIGKILL a second after SIGTERM): "running" + journal. Or, when the shards being
        # embedded finished within that second, the ranks stopped cleanly: "stopped".
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertIn(manifest["status"], ("running", "stopped"))
        recorded = {s["file"] for s in manifest["shards"]}
        journal = os.path.join(out, "manifest.journal")
        if os.path.exists(journal):
            recorded |= {json.loads(l)["file"] for l in bt.read_text(journal).splitlines()}
        finals = [n for n in os.listdir(out) if n.endswith(".tfrecord")]
        self.assertTrue(recorded)
        self.assertLessEqual(recorded, set(finals))
        for n in finals:  # every file under a final name is whole (resume: test_embed_resume)
            recs = list(bt.read_tfrecord(os.path.join(out, n)))  # both CRCs of every record
            self.assertTrue(1 <= len(recs) <= 4, n)

    def test_sigterm_to_mpirun_with_a_longer_sigkill_timeout_stops_cleanly_but_mpirun_exits_1(self):
        """`--mca odls_base_sigkill_timeout N`: the ranks get SIGTERM N s after mpirun did and have N s
        more before SIGKILL, enough to stop cleanly ("stopped", whole shards, a rerun completes the
        bytes); mpirun itself still exits 1, as after any signal it cannot forward."""
        # the train split (121 shards): long enough to still run when the ranks' SIGTERM comes
        out = os.path.join(self.work, "term_mpirun_timeout")
        proc = self.start(self.embed_args(out, "train"), name="term_timeout",
                          mpirun_args=["--mca", "odls_base_sigkill_timeout", "3"])
        self.wait_for(lambda: self.journal_lines(out) >= 1, proc)
        t0 = time.time()
        os.kill(proc.pid, signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=300), 1, self.log())
        self.assertGreaterEqual(time.time() - t0, 2.5, "the ranks' SIGTERM comes N seconds late")
        self.assertIn("stop requested by SIGTERM (rank 0)", self.log())
        m = re.search(r"bend: stopped by SIGTERM after (\d+) of (\d+) shards", self.log())
        self.assertTrue(m, self.log())
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertEqual(manifest["status"], "stopped")
        names = sorted(os.listdir(out))
        self.assertNotIn("manifest.journal", names)
        self.assertFalse([n for n in names if ".tmp" in n], names)
        self.assertEqual(sorted(n for n in names if ".tfrecord" in n), sorted(s["file"] for s in manifest["shards"]))
        self.assertLess(len(manifest["shards"]), int(m.group(2)), "stopped before the end")
        p = bt.bend(self.embed_args(out, "train"), np_ranks=2)  # resumes ...
        self.assertIn("resuming: %s of %s shards already complete" % (m.group(1), m.group(2)), p.stderr)
        ref = os.path.join(self.work, "reference_train")  # ... to the bytes of an uninterrupted run
        bt.bend(self.embed_args(ref, "train"), np_ranks=2)
        self.assertEqual(bt.dir_bytes(out), bt.dir_bytes(ref))

    def test_sigint_without_mpirun_stops_cleanly_and_a_second_sigint_exits_at_once(self):
        out = os.path.join(self.work, "sigint")
        proc = self.start(self.embed_args(out), np_ranks=1, name="sigint")
        self.wait_for(lambda: self.journal_lines(out) >= 2, proc)
        proc.send_signal(signal.SIGINT)
        n_done = self.assert_stopped_cleanly(out, proc, "SIGINT")
        self.resume_and_compare(out, n_done)

        out2 = os.path.join(self.work, "sigint_twice")
        proc = self.start(self.embed_args(out2), np_ranks=1, name="sigint_twice")
        self.wait_for(lambda: self.journal_lines(out2) >= 2, proc)
        proc.send_signal(signal.SIGINT)
        self.wait_for(lambda: "stop requested by SIGINT" in self.log(), proc)
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(timeout=60), 130, self.log())
        self.assertIn("second SIGINT: exiting at once", self.log())
        self.assertEqual(json.loads(bt.read_text(os.path.join(out2, "manifest.json")))["status"], "running")
        for n in os.listdir(out2):  # whole shards, or temporaries the next run removes (test_embed_resume)
            if n.endswith(".tfrecord"):
                self.assertEqual(bt.read_bytes(os.path.join(out2, n)), self.ref_bytes[n], n)
            else:
                self.assertRegex(n, r"^(manifest\.json|manifest\.journal|.*\.tmp-r0)$")


class TrainStop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.emb = os.path.join(cls.work, "histone_onehot")
        task = os.path.join(cls.data, "histone_demo")
        bt.bend(["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
                 os.path.join(cls.data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand",
                 "--model", "onehot", "--out", cls.emb, "--shard-rows", "100"], np_ranks=2)
        cls.ref = os.path.join(cls.work, "straight")
        bt.bend(["train", "--data", cls.emb, "--out", cls.ref] + HISTONE, np_ranks=2)

    def args(self, out):
        return ["train", "--data", self.emb, "--out", out] + HISTONE

    def run_stopped(self, out, send, after):
        """Starts training on 2 ranks, sends the signal once `after` was logged, expects 75."""
        env = dict(os.environ)
        env.update(bt.MPI_ENV)
        cmd = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", bt.BEND] + self.args(out)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True, text=True)
        self.addCleanup(lambda: proc.poll() is None and bt.kill_session(proc.pid))
        log = ""
        while after not in log:
            line = proc.stdout.readline()
            self.assertTrue(line, "training ended before the signal: " + log)
            log += line
        send(proc)
        log += proc.communicate(timeout=300)[0]
        self.assertEqual(proc.returncode, 75, log)
        return log

    def assert_resumes_identically(self, out):
        p = bt.bend(self.args(out), np_ranks=2)
        self.assertRegex(p.stderr, r"resuming (in epoch \d of 4 after step \d+|after epoch \d of 4)")
        for name in ("losses.csv", "best_model_metrics.csv"):
            self.assertEqual(bt.read_text(os.path.join(out, name)), bt.read_text(os.path.join(self.ref, name)), name)
        self.assertFalse(os.path.exists(os.path.join(out, "checkpoints", "partial.safetensors")))

    def test_usr1_mid_epoch_saves_a_step_checkpoint_and_the_resumed_losses_are_identical(self):
        out = os.path.join(self.work, "usr1")
        # sent when the data is open: epoch 1 (121 steps) has not ended when it arrives
        log = self.run_stopped(out, lambda p: os.kill(p.pid, signal.SIGUSR1), after="onehot embeddings, dim 5")
        m = re.search(r"bend: stopped by SIGUSR1 in epoch 1 after step (\d+) of (\d+) \(checkpoint .*partial"
                      r"\.safetensors\); run the same command again to resume", log)
        self.assertTrue(m, log)
        self.assertTrue(os.path.exists(os.path.join(out, "checkpoints", "partial.safetensors")))
        self.assertFalse(os.path.exists(os.path.join(out, "best_model_metrics.csv")))
        self.assert_resumes_identically(out)

    def test_sigterm_to_one_rank_stops_both_at_the_same_boundary_and_resumes_identically(self):
        out = os.path.join(self.work, "term")
        log = self.run_stopped(out, lambda p: os.kill(rank_pids(p.pid)[1], signal.SIGTERM), after="epoch 1/4")
        self.assertRegex(log, r"bend: stopped by SIGTERM (in epoch \d after step|after epoch \d of 4)")
        self.assert_resumes_identically(out)


if __name__ == "__main__":
    unittest.main()
