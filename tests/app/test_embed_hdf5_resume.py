"""`bend embed --format hdf5` killed with SIGKILL mid-run: the split files never look complete
(no `complete` attribute; inspect and train refuse them), and a rerun redoes only the missing
shards and ends with exactly the bytes of an uninterrupted run."""
import fcntl
import json
import os
import re
import subprocess
import time
import unittest

import h5py

import bendtest as bt
from test_embed_hdf5 import datasets_and_attrs, h5_files


def wait_unlocked(path, timeout=30):
    """Waits until no process holds a lock on `path`: the threads of a killed rank may still be
    exiting (and holding its files) when its main thread already shows as a zombie."""
    t0 = time.time()
    with open(path, "rb") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(f, fcntl.LOCK_UN)
                return
            except BlockingIOError:
                if time.time() - t0 > timeout:
                    raise AssertionError("%s is still locked %d s after the kill" % (path, timeout))
                time.sleep(0.05)


class EmbedHdf5Resume(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.ckpt = os.path.join(cls.work, "resnetlm")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", cls.ckpt, "--hidden-size", "128",
                 "--n-layers", "16", "--seed", "3"])  # slow enough to kill mid-run
        cls.ref = os.path.join(cls.work, "reference")
        bt.bend(cls.args(cls.ref), np_ranks=2)

    @classmethod
    def args(cls, out):
        task = os.path.join(cls.data, "histone_demo")
        return ["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
                os.path.join(cls.data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand",
                "--model", "resnetlm", "--checkpoint", cls.ckpt, "--out", out, "--shard-rows", "6",
                "--splits", "valid,test", "--format", "hdf5", "--progress-interval", "0.5"]

    def test_kill_then_resume_gives_the_uninterrupted_file(self):
        out = os.path.join(self.work, "killed")
        env = dict(os.environ)
        env.update(bt.MPI_ENV)
        cmd = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", bt.BEND] + self.args(out)
        with open(os.path.join(self.work, "run.log"), "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            journal = os.path.join(out, "manifest.journal")
            t0 = time.time()
            while not (os.path.exists(journal) and bt.read_text(journal).count("\n") >= 3):
                self.assertIsNone(proc.poll(), "run ended before it could be killed: "
                                  + bt.read_text(os.path.join(self.work, "run.log")))
                self.assertLess(time.time() - t0, 300, "no progress")
                time.sleep(0.05)
            bt.kill_session(proc.pid)
            proc.wait()
        for name in h5_files(out):
            wait_unlocked(os.path.join(out, name))

        # Nothing looks complete: no `complete` attribute, the manifest says running, and the
        # readers refuse the files.
        self.assertEqual(json.loads(bt.read_text(os.path.join(out, "manifest.json")))["status"], "running")
        for name in h5_files(out):
            with h5py.File(os.path.join(out, name), "r") as f:
                self.assertEqual(f.attrs.get("complete", 0), 0, name)
        p = bt.bend(["inspect", os.path.join(out, "valid.h5")], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is not complete", p.stderr)

        # resumed by one rank (HDF5's POSIX driver) what two ranks began (MPI-IO)
        p = bt.bend(self.args(out), np_ranks=1)
        m = re.search(r"resuming: (\d+) of (\d+) shards", p.stderr)
        self.assertTrue(m, p.stderr)
        self.assertGreaterEqual(int(m.group(1)), 3)
        self.assertLess(int(m.group(1)), int(m.group(2)))
        self.assertEqual(h5_files(out), h5_files(self.ref))
        for name in h5_files(self.ref):
            self.assertEqual(datasets_and_attrs(os.path.join(out, name)),
                             datasets_and_attrs(os.path.join(self.ref, name)), name)
            # stronger, and true too: the whole file, metadata included, is byte-identical
            self.assertEqual(bt.read_bytes(os.path.join(out, name)), bt.read_bytes(os.path.join(self.ref, name)), name)
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        ref_manifest = json.loads(bt.read_text(os.path.join(self.ref, "manifest.json")))
        self.assertEqual(manifest["status"], "complete")
        self.assertEqual(manifest["shards"], ref_manifest["shards"])
        bt.bend(["inspect", out])


if __name__ == "__main__":
    unittest.main()
