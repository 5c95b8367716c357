"""`bend genome` on the real hg38 region in tests/data/genome (chr2:1-2,333,275; its first
10,000 bases are N): windows and coordinates equal `bedtools makewindows`, the N rule is checked
against an independent count over `samtools faidx` output, record sequences equal samtools,
--reduce equals numpy means of the full embedding, a killed run resumes to identical bytes, a stop
signal exits 75, and the space check refuses a plan that does not fit."""
import json
import os
import shutil
import signal
import subprocess
import time
import unittest

import numpy as np

import bendtest as bt

GENOME = os.path.join(bt.TEST_DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
CODES = np.frombuffer(b"ACGNT", dtype=np.uint8)


def makewindows(args):
    """bedtools makewindows output as [(chrom, start, end)]: the reference tiling."""
    out = bt.run(["bedtools", "makewindows"] + args).stdout
    return [(c, int(s), int(e)) for c, s, e in (l.split("\t") for l in out.splitlines())]


def read_records(out_dir):
    """{index: record} of a genome output, with its coordinate features."""
    recs = {}
    for name in sorted(os.listdir(out_dir)):
        if ".tfrecord" not in name or ".tmp" in name:
            continue
        for data in bt.read_tfrecord(os.path.join(out_dir, name)):
            r = bt.parse_record(data)
            ex = bt.example_pb2().Example()
            ex.ParseFromString(data)
            f = ex.features.feature
            r["chrom"] = f["chrom"].bytes_list.value[0].decode()
            r["start"] = f["start"].int64_list.value[0]
            r["end"] = f["end"].int64_list.value[0]
            r["bin_bp"] = f["bin_bp"].int64_list.value[0] if "bin_bp" in f else None
            r["file"] = name
            recs[r["index"]] = r
    return recs


class Genome(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir("bend-genome-")
        cls.fai = os.path.join(cls.work, "genome.txt")
        with open(GENOME + ".fai") as f, open(cls.fai, "w") as g:
            for line in f:
                g.write("\t".join(line.split("\t")[:2]) + "\n")
        # the whole sequence, independently: samtools, upper-cased, non-ACGT -> N
        seq = bt.samtools_seq(GENOME, "chr2", 0, 2333275, False)
        cls.seq = np.frombuffer(seq.encode(), dtype=np.uint8)
        cls.n_prefix = np.concatenate([[0], np.cumsum(cls.seq == ord("N"))])

    def n_count(self, start, end):
        return int(self.n_prefix[end] - self.n_prefix[start])

    def genome(self, out, extra, np_ranks=1, check=True):
        return bt.bend(["genome", "--genome", GENOME, "--model", "onehot", "--out", out,
                        "--progress-interval", "1"] + extra, np_ranks=np_ranks, check=check)

    def expected_windows(self, tiling, max_n):
        """(index, chrom, start, end) of the windows the N rule keeps."""
        return [(i, c, s, e) for i, (c, s, e) in enumerate(tiling) if self.n_count(s, e) <= max_n * (e - s)]

    def test_whole_genome_windows_equal_bedtools_and_the_n_rule_and_means_equal_numpy(self):
        tiling = makewindows(["-g", self.fai, "-w", "3000", "-s", "1000"])
        for max_n, np_ranks in ((0.5, 2), (0.7, 1)):
            out = os.path.join(self.work, "whole_%g" % max_n)
            p = self.genome(out, ["--window", "3000", "--stride", "1000", "--max-n", str(max_n), "--reduce", "mean",
                                  "--shard-windows", "300"], np_ranks=np_ranks)
            want = self.expected_windows(tiling, max_n)
            self.assertIn("plan: %d windows of 3000 bp (stride 1000)" % len(tiling), p.stderr)
            self.assertIn("%d skipped" % (len(tiling) - len(want)), p.stderr)
            recs = read_records(out)
            got = sorted((r["index"], r["chrom"], r["start"], r["end"]) for r in recs.values())
            self.assertEqual(got, want)
            self.assertEqual(recs[want[0][0]]["region"], "chr2:%d-%d(.)" % want[0][2:])
            # all-N windows are skipped whatever the threshold; a window of 2/3 N only at 0.7
            self.assertTrue(all(self.n_count(s, e) < e - s for _, _, s, e in want))
            self.assertEqual((8000, 11000) in [(s, e) for _, _, s, e in want], max_n >= 2 / 3)
            for i, c, s, e in want:  # the mean one-hot of each window: base composition from samtools
                r = recs[i]
                self.assertEqual(list(r["inputs"].shape), [1, 5])
                self.assertEqual(r["bin_bp"], e - s)
                counts = np.array([np.sum(self.seq[s:e] == k) for k in CODES], dtype=np.float64)
                np.testing.assert_array_equal(r["inputs"][0], (counts / (e - s)).astype(np.float32))
            manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
            self.assertEqual(manifest["status"], "complete")
            self.assertEqual(manifest["windows"]["tiled"], len(tiling))
            self.assertEqual(manifest["windows"]["kept"], len(want))
            for s in manifest["shards"]:  # shard files are named by their genomic range
                rs = [r for r in recs.values() if r["file"] == s["file"]]
                lo, hi = min(r["start"] for r in rs), max(r["end"] for r in rs)
                self.assertEqual(s["file"], "chr2_%010d-%010d.tfrecord" % (lo, hi))
            bt.run([bt.BEND, "inspect", out])

    def test_regions_records_equal_samtools_and_reductions_equal_numpy(self):
        bed = os.path.join(self.work, "regions.bed")
        with open(bed, "w") as f:  # across the end of the N run, inside, at the sequence end
            f.write("chr2\t9000\t15000\nchr2\t100000\t107500\nchr2\t2330000\t2333275\n")
        tiling = makewindows(["-b", bed, "-w", "2000", "-s", "1500"])
        want = self.expected_windows(tiling, 0.5)
        outs = {}
        for reduce in ("none", "mean", "bin:128"):
            outs[reduce] = os.path.join(self.work, "regions_" + reduce.replace(":", ""))
            self.genome(outs[reduce], ["--regions", bed, "--window", "2000", "--stride", "1500", "--reduce", reduce,
                                       "--shard-windows", "4"], np_ranks=2)
        full, mean, binned = (read_records(outs[k]) for k in ("none", "mean", "bin:128"))
        self.assertEqual(sorted((r["index"], r["chrom"], r["start"], r["end"]) for r in full.values()), want)
        for i, c, s, e in want:
            seq = bt.samtools_seq(GENOME, c, s, e, False)
            emb = full[i]["inputs"]
            self.assertEqual(list(emb.shape), [e - s, 5])
            self.assertEqual(CODES[emb.argmax(1)].tobytes().decode(), seq)
            np.testing.assert_array_equal(emb, bt.onehot(seq))
            self.assertIsNone(full[i]["bin_bp"])
            ref_mean = emb.astype(np.float64).mean(0).astype(np.float32)
            np.testing.assert_array_equal(mean[i]["inputs"][0], ref_mean)
            n_bins = -(-(e - s) // 128)
            self.assertEqual(list(binned[i]["inputs"].shape), [n_bins, 5])
            self.assertEqual(binned[i]["bin_bp"], 128)
            ref_bins = np.stack([emb[k * 128:(k + 1) * 128].astype(np.float64).mean(0) for k in range(n_bins)])
            np.testing.assert_array_equal(binned[i]["inputs"], ref_bins.astype(np.float32))

    def test_bad_settings_name_the_problem(self):
        out = os.path.join(self.work, "bad")
        cases = [(["--chroms", "chr7"], "has no sequence 'chr7'"),
                 (["--chroms", "chr2", "--regions", self.fai], "cannot be combined"),
                 (["--reduce", "bin:0"], "--reduce must be none, mean or bin:N"),
                 (["--max-n", "1.5"], "--max-n must be a fraction"),
                 (["--window", "0"], "--window must be at least 1")]
        for extra, msg in cases:
            p = self.genome(out, extra, check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(msg, p.stderr)

    def test_the_space_check_refuses_a_plan_larger_than_the_free_space(self):
        mnt = bt.tmpdir("bend-tmpfs-")
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt],
                                 capture_output=True).returncode == 0
        if mounted:
            self.addCleanup(lambda: subprocess.run(["umount", mnt]))
            out, extra = os.path.join(mnt, "out"), ["--window", "1000"]  # ~46 MiB into 1 MiB
        else:  # no permission to mount: a plan larger than any disk here (stride 1, 100 kb windows)
            out, extra = os.path.join(self.work, "huge"), ["--window", "100000", "--stride", "1"]
            need = 2233275 * 100000 * 20
            st = os.statvfs(self.work)
            self.assertLess(st.f_bavail * st.f_frsize, need)
        p = self.genome(out, extra, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stderr, r"free but this run writes about .*--force starts anyway")
        self.assertIn("plan: ", p.stderr)
        self.assertFalse([n for n in os.listdir(out) if ".tfrecord" in n])
        if mounted:  # the same windows mean-pooled fit
            p = self.genome(out, extra + ["--reduce", "mean"])
            self.assertEqual(json.loads(bt.read_text(os.path.join(out, "manifest.json")))["status"], "complete")


class GenomeResume(unittest.TestCase):
    """A slow model on 100 kb so the run can be killed or stopped in the middle."""

    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir("bend-genome-resume-")
        cls.ckpt = os.path.join(cls.work, "resnetlm")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", cls.ckpt, "--hidden-size", "64",
                 "--n-layers", "8", "--seed", "5"])
        cls.bed = os.path.join(cls.work, "region.bed")
        with open(cls.bed, "w") as f:
            f.write("chr2\t200000\t300000\n")
        cls.ref = os.path.join(cls.work, "reference")
        bt.bend(cls.args(cls.ref), np_ranks=2)
        cls.ref_bytes = bt.dir_bytes(cls.ref)

    @classmethod
    def args(cls, out):
        return ["genome", "--genome", GENOME, "--regions", cls.bed, "--window", "1000", "--model", "resnetlm",
                "--checkpoint", cls.ckpt, "--out", out, "--shard-windows", "4", "--dtype", "float16",
                "--progress-interval", "1"]

    def start(self, out):
        env = dict(os.environ)
        env.update(bt.MPI_ENV)
        cmd = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", bt.BEND] + self.args(out)
        self.log_path = out + ".log"
        with open(self.log_path, "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.addCleanup(lambda: proc.poll() is None and bt.kill_session(proc.pid))
        journal = os.path.join(out, "manifest.journal")
        t0 = time.time()
        while not (os.path.exists(journal) and bt.read_text(journal).count("\n") >= 3):
            self.assertIsNone(proc.poll(), "the run ended before it could be interrupted")
            self.assertLess(time.time() - t0, 300)
            time.sleep(0.02)
        return proc

    def rerun_and_compare(self, out):
        p = bt.bend(self.args(out), np_ranks=2)
        self.assertRegex(p.stderr, r"resuming: [1-9]\d* of 25 shards already complete")
        got = bt.dir_bytes(out)
        self.assertEqual(sorted(got), sorted(self.ref_bytes))
        for name in got:
            self.assertEqual(got[name], self.ref_bytes[name], name)

    def test_killed_run_resumes_to_identical_bytes(self):
        out = os.path.join(self.work, "killed")
        proc = self.start(out)
        bt.kill_session(proc.pid)
        proc.wait()
        self.assertEqual(json.loads(bt.read_text(os.path.join(out, "manifest.json")))["status"], "running")
        self.rerun_and_compare(out)

    def test_usr1_stops_with_75_and_a_rerun_completes_identically(self):
        out = os.path.join(self.work, "stopped")
        proc = self.start(out)
        os.kill(proc.pid, signal.SIGUSR1)
        proc.wait(timeout=300)
        err = bt.read_text(self.log_path)
        self.assertEqual(proc.returncode, 75, err)
        self.assertRegex(err, r"bend: stopped by SIGUSR1 after \d+ of 25 shards")
        self.assertEqual(json.loads(bt.read_text(os.path.join(out, "manifest.json")))["status"], "stopped")
        self.rerun_and_compare(out)


if __name__ == "__main__":
    unittest.main()
