"""`bend genome --format hdf5` under mpirun on the demo genome (three sequences with N gaps):
h5py reads genome.h5 and every row equals the TFRecord output of the same settings byte for byte
(embeddings, index, region, chrom, start, end, bin_bp) and the samtools one-hot truth; shards never
span two sequences, so they differ in size (`shard_offsets`) and their checksums match the
manifest; np 1 and 2 write identical files; a killed run resumes to the bytes of an uninterrupted
one; other parameters, a locked file and compression are refused."""
import fcntl
import json
import os
import re
import subprocess
import time
import unittest

import h5py
import numpy as np

import bendtest as bt
from test_embed_hdf5 import datasets_and_attrs
from test_embed_hdf5_resume import wait_unlocked
from test_genome import read_records


def genome_args(fasta, out, extra=()):
    return ["genome", "--genome", fasta, "--model", "onehot", "--out", out, "--window", "3000", "--stride", "2500",
            "--max-n", "0.2", "--shard-windows", "16", "--progress-interval", "1"] + list(extra)


def h5_genome_rows(path):
    """{index: row} of a genome.h5: embedding bytes and every per-row table."""
    rows = {}
    with h5py.File(path, "r") as f:
        off, emb = f["offsets"][:], f["embeddings"]
        bins = f["bin_bp"][:] if "bin_bp" in f else None
        for i, idx in enumerate(f["index"][:]):
            rows[int(idx)] = {"bytes": emb[off[i]:off[i + 1]].tobytes(), "n": int(off[i + 1] - off[i]),
                              "region": f["region"].asstr()[i], "chrom": f["chrom"].asstr()[i],
                              "start": int(f["start"][i]), "end": int(f["end"][i]),
                              "bin_bp": None if bins is None else int(bins[i]), "row": i}
    return rows


class GenomeHdf5(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.fasta = os.path.join(cls.data, "genome", "demo.fa")
        cls.work = bt.tmpdir("bend-genome-h5-")
        cls.out = {}
        for reduce in ("none", "mean", "bin:100"):  # MPI-IO (2 ranks) and POSIX (1 rank) writers
            for fmt in ("tfrecord", "hdf5"):
                out = os.path.join(cls.work, "%s_%s" % (fmt, reduce.replace(":", "")))
                np_ranks = 2 if fmt == "hdf5" and reduce != "mean" else 1
                bt.bend(genome_args(cls.fasta, out, ["--reduce", reduce, "--format", fmt]), np_ranks=np_ranks)
                cls.out[fmt, reduce] = out
        # the truth: whole sequences from samtools, upper-cased, non-ACGT -> N
        cls.seqs = {}
        for line in bt.read_text(cls.fasta + ".fai").splitlines():
            name, length = line.split("\t")[:2]
            cls.seqs[name] = bt.samtools_seq(cls.fasta, name, 0, int(length), False)

    def test_every_row_equals_tfrecord_bytes_coordinates_and_samtools(self):
        for reduce in ("none", "mean", "bin:100"):
            recs = read_records(self.out["tfrecord", reduce])
            path = os.path.join(self.out["hdf5", reduce], "genome.h5")
            rows = h5_genome_rows(path)
            self.assertEqual(sorted(rows), sorted(recs), reduce)
            self.assertGreater(len(rows), 100)
            for idx, r in recs.items():
                h = rows[idx]
                self.assertEqual(h["bytes"], r["inputs"].astype("<f4").tobytes(), (reduce, idx))
                for key in ("region", "chrom", "start", "end", "bin_bp"):
                    self.assertEqual(h[key], r[key], (reduce, idx, key))
                if reduce == "none":
                    x = np.frombuffer(h["bytes"], dtype="<f4").reshape(-1, 5)
                    np.testing.assert_array_equal(x, bt.onehot(self.seqs[h["chrom"]][h["start"]:h["end"]]))
            # rows in genome order, i.e. the order of the tiling (index)
            self.assertEqual([rows[i]["row"] for i in sorted(rows)], list(range(len(rows))))
            with h5py.File(path, "r") as f:
                self.assertEqual(f["labels"].shape, (len(rows), 0))
                self.assertEqual("bin_bp" in f, reduce != "none")

    def test_shards_follow_the_sequences_and_their_checksums_match_the_manifest(self):
        for reduce in ("none", "bin:100"):
            out = self.out["hdf5", reduce]
            manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
            self.assertEqual(manifest["status"], "complete")
            self.assertEqual(manifest["params"]["format"], "hdf5")
            shards = sorted(manifest["shards"], key=lambda s: s["shard"])
            self.assertEqual({s["file"] for s in shards}, {"genome.h5"})
            self.assertEqual(sorted(os.listdir(out)), ["genome.h5", "manifest.json"])
            with h5py.File(os.path.join(out, "genome.h5"), "r") as f:
                self.assertEqual(f.attrs["complete"], 1)
                self.assertEqual(f.attrs["command"], "genome")  # str: variable-length UTF-8
                self.assertEqual(f.attrs["shard_rows"], 16)
                self.assertEqual(json.loads(f.attrs["params"]), manifest["params"])
                bounds, off, crcs = f["shard_offsets"][:], f["offsets"][:], f["shard_crc32c"][:]
                chroms = list(f["chrom"].asstr()[:])
                self.assertEqual(list(bounds), list(np.cumsum([0] + [s["rows"] for s in shards])))
                self.assertNotEqual(len({s["rows"] for s in shards[:-1]}), 1, "shard sizes differ")
                for k, s in enumerate(shards):
                    lo, hi = bounds[k], bounds[k + 1]
                    self.assertEqual(set(chroms[lo:hi]), {s["split"]}, "one sequence per shard")
                    blob = f["embeddings"][off[lo]:off[hi]].tobytes()
                    self.assertEqual(bt.crc32c(blob), int(s["crc32c"], 16))
                    self.assertEqual(int(crcs[k]), int(s["crc32c"], 16))
                    self.assertEqual(s["bytes"], len(blob))
            p = bt.bend(["inspect", out])
            self.assertIn("genome.h5", p.stdout)

    def test_np_1_and_2_write_identical_files(self):
        out = os.path.join(self.work, "np1")
        bt.bend(genome_args(self.fasta, out, ["--reduce", "bin:100", "--format", "hdf5"]))
        ref = os.path.join(self.out["hdf5", "bin:100"], "genome.h5")
        got = os.path.join(out, "genome.h5")
        self.assertEqual(datasets_and_attrs(got), datasets_and_attrs(ref))
        self.assertEqual(bt.read_bytes(got), bt.read_bytes(ref), "whole file bytes, np 1 vs 2")

    def test_other_parameters_a_locked_file_and_compression_are_refused(self):
        out = self.out["hdf5", "mean"]
        path = os.path.join(out, "genome.h5")
        before = bt.read_bytes(path)
        p = bt.bend(genome_args(self.fasta, out, ["--reduce", "mean", "--format", "hdf5", "--dtype", "float16"]),
                    np_ranks=2, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("different parameters", p.stderr)
        self.assertIn("dtype", p.stderr)
        with open(path, "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            p = bt.bend(genome_args(self.fasta, out, ["--reduce", "mean", "--format", "hdf5"]), check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("genome.h5 is locked by another process", p.stderr)
        self.assertEqual(bt.read_bytes(path), before, "refused runs changed nothing")
        p = bt.bend(genome_args(self.fasta, os.path.join(self.work, "zlib"), ["--format", "hdf5", "--compression",
                                                                              "zlib"]), check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot be used with --format hdf5", p.stderr)
        # the same settings again: nothing left to do, the file is untouched
        p = bt.bend(genome_args(self.fasta, out, ["--reduce", "mean", "--format", "hdf5"]))
        self.assertIn("resuming: ", p.stderr)
        self.assertEqual(bt.read_bytes(path), before)


class GenomeHdf5Resume(unittest.TestCase):
    """A slow model on one sequence so the run can be killed in the middle."""

    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir("bend-genome-h5-resume-")
        cls.ckpt = os.path.join(cls.work, "resnetlm")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", cls.ckpt, "--hidden-size", "64",
                 "--n-layers", "8", "--seed", "5"])
        cls.ref = os.path.join(cls.work, "reference")
        bt.bend(cls.args(cls.ref), np_ranks=2)

    @classmethod
    def args(cls, out):
        return ["genome", "--genome", os.path.join(cls.data, "genome", "demo.fa"), "--chroms", "chr3",
                "--window", "1000", "--model", "resnetlm", "--checkpoint", cls.ckpt, "--out", out,
                "--shard-windows", "4", "--dtype", "float16", "--format", "hdf5", "--progress-interval", "1"]

    def test_killed_run_resumes_to_the_uninterrupted_file(self):
        out = os.path.join(self.work, "killed")
        env = dict(os.environ)
        env.update(bt.MPI_ENV)
        cmd = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", bt.BEND] + self.args(out)
        log_path = out + ".log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.addCleanup(lambda: proc.poll() is None and bt.kill_session(proc.pid))
        journal = os.path.join(out, "manifest.journal")
        t0 = time.time()
        while not (os.path.exists(journal) and bt.read_text(journal).count("\n") >= 3):
            self.assertIsNone(proc.poll(), "the run ended before it could be killed: " + bt.read_text(log_path))
            self.assertLess(time.time() - t0, 300, "no progress")
            time.sleep(0.02)
        bt.kill_session(proc.pid)
        proc.wait()
        path = os.path.join(out, "genome.h5")
        wait_unlocked(path)
        self.assertEqual(json.loads(bt.read_text(os.path.join(out, "manifest.json")))["status"], "running")
        with h5py.File(path, "r") as f:
            self.assertEqual(f.attrs["complete"], 0)
        p = bt.bend(["inspect", path], check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is not complete (bend genome has not finished it", p.stderr)

        p = bt.bend(self.args(out))  # one rank (POSIX driver) finishes what two began (MPI-IO)
        m = re.search(r"resuming: (\d+) of (\d+) shards already complete", p.stderr)
        self.assertTrue(m, p.stderr)
        self.assertGreaterEqual(int(m.group(1)), 3)
        self.assertLess(int(m.group(1)), int(m.group(2)))
        ref = os.path.join(self.ref, "genome.h5")
        self.assertEqual(datasets_and_attrs(path), datasets_and_attrs(ref))
        self.assertEqual(bt.read_bytes(path), bt.read_bytes(ref), "whole file bytes")
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertEqual(manifest["status"], "complete")
        self.assertEqual(manifest["shards"], json.loads(bt.read_text(os.path.join(self.ref, "manifest.json")))["shards"])
        bt.bend(["inspect", out])


if __name__ == "__main__":
    unittest.main()
