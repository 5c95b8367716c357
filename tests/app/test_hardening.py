"""Issue 19's silent-wrong-output, crash and hang classes, end to end: a manifest that is not
internally consistent (or running, or malformed) is an error in bend train and bend inspect;
bend train verifies HDF5 checksums; one run per output directory (locks); split names cannot
leave --out; --threads is bounded; FIFOs are refused instead of blocking; job files are strict.
Every test here failed (or hung) on the code before the fix."""
import fcntl
import json
import os
import shutil
import subprocess
import time
import unittest

import h5py

import bendtest as bt

HISTONE = ["--label-depth", "6", "--criterion", "bce", "--metric", "auroc", "--output-window", "512",
           "--batch-size", "32", "--seed", "1"]


def embed_args(data, out, extra=()):
    task = os.path.join(data, "histone_demo")
    return ["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
            os.path.join(data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand",
            "--model", "onehot", "--out", out, "--shard-rows", "100"] + list(extra)


def edit_manifest(d, fn):
    path = os.path.join(d, "manifest.json")
    with open(path) as f:
        m = json.load(f)
    fn(m)
    with open(path, "w") as f:
        json.dump(m, f)


class Hardening(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.emb = os.path.join(cls.work, "tf")
        bt.bend(embed_args(cls.data, cls.emb))
        cls.h5 = os.path.join(cls.work, "h5")
        bt.bend(embed_args(cls.data, cls.h5, ["--format", "hdf5"]))

    def copy(self, src, name):
        dst = os.path.join(self.work, name)
        shutil.copytree(src, dst)
        return dst

    def train(self, data, out, check=False, extra=()):
        epochs = [] if "--epochs" in extra else ["--epochs", "1"]
        return bt.bend(["train", "--data", data, "--out", out] + HISTONE + epochs + list(extra), check=check)

    def expect_fail(self, p, *texts):
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertNotIn("internal error", p.stderr)
        for t in texts:
            self.assertIn(t, p.stderr)

    # ---- manifests ----------------------------------------------------------------------

    def test_a_shard_removed_from_a_complete_manifest_fails_train_and_inspect(self):
        d = self.copy(self.emb, "dropped")
        edit_manifest(d, lambda m: m["shards"].pop(1))
        mpath = os.path.join(d, "manifest.json")
        self.expect_fail(bt.bend(["inspect", d], check=False), mpath)
        self.expect_fail(self.train(d, os.path.join(self.work, "dropped_out")), mpath)
        self.assertFalse(os.path.exists(os.path.join(self.work, "dropped_out", "losses.csv")))

    def test_a_removed_shard_with_totals_fixed_up_still_fails(self):
        d = self.copy(self.emb, "dropped2")

        def drop(m):
            s = m["shards"].pop(0)
            t = m["totals"]
            t["rows"] -= s["rows"]; t["nt"] -= s["nt"]; t["bytes"] -= s["bytes"]; t["shards"] -= 1
        edit_manifest(d, drop)
        p = bt.bend(["inspect", d], check=False)
        self.expect_fail(p, "manifest edited or damaged")
        self.expect_fail(self.train(d, os.path.join(self.work, "dropped2_out")), "manifest edited or damaged")

    def test_split_table_and_totals_must_agree_with_the_shards(self):
        d = self.copy(self.emb, "rows")
        edit_manifest(d, lambda m: m["splits"]["train"].update(rows=m["splits"]["train"]["rows"] + 1))
        self.expect_fail(bt.bend(["inspect", d], check=False), "splits.train")
        self.expect_fail(self.train(d, os.path.join(self.work, "rows_out")), "splits.train")
        d = self.copy(self.emb, "totals")
        edit_manifest(d, lambda m: m["totals"].update(rows=1))
        self.expect_fail(bt.bend(["inspect", d], check=False), "totals say")

    def test_malformed_fields_name_the_file_and_field(self):
        for name, fn, text in [
                ("crc", lambda m: m["shards"][0].update(crc32c="zz"), "field \"crc32c\" is \"zz\""),
                ("rows", lambda m: m["shards"][0].update(rows="ten"), "field \"rows\""),
                ("neg", lambda m: m["shards"][0].update(records=-3), "field \"records\" = -3"),
                ("file", lambda m: m["shards"][0].update(file="../../etc/passwd"), "is not a file name"),
                ("planned", lambda m: m.pop("planned_shards"), "\"planned_shards\" is missing"),
                ("status", lambda m: m.update(status="done"), "field \"status\" is \"done\"")]:
            with self.subTest(name):
                d = self.copy(self.emb, "bad_" + name)
                edit_manifest(d, fn)
                self.expect_fail(bt.bend(["inspect", d], check=False), os.path.join(d, "manifest.json"), text)

    def test_inspect_of_a_running_or_stopped_run_is_an_error_after_verifying(self):
        for status in ("running", "stopped"):
            d = self.copy(self.emb, "st_" + status)
            edit_manifest(d, lambda m: m.update(status=status))
            p = bt.bend(["inspect", d], check=False)
            self.expect_fail(p, "manifest status '%s': the embedding is not complete" % status)
            self.assertIn("train-00000.tfrecord", p.stdout)  # the shards were still verified
        p = bt.bend(["inspect", self.emb])  # the complete one passes
        self.assertIn("train-00000.tfrecord", p.stdout)

    def test_a_fifo_as_manifest_is_refused_not_waited_on(self):
        d = os.path.join(self.work, "fifo_dir")
        os.makedirs(d)
        os.mkfifo(os.path.join(d, "manifest.json"))
        p = bt.bend(["inspect", d], check=False, timeout=30)
        self.expect_fail(p, "not a regular file")
        p = bt.bend(["train", "--data", d, "--out", os.path.join(self.work, "fifo_out")] + HISTONE + ["--epochs", "1"],
                    check=False, timeout=30)
        self.expect_fail(p, "not a regular file")

    # ---- HDF5 in bend train -------------------------------------------------------------

    def test_train_verifies_hdf5_checksums(self):
        for what in ("embeddings", "labels"):
            with self.subTest(what):
                d = self.copy(self.h5, "h5_" + what)
                with h5py.File(os.path.join(d, "train.h5"), "r+") as f:
                    if what == "embeddings":
                        f["embeddings"][5, 0] = 3.0
                    else:
                        lab = f["labels"]
                        v = lab[3]
                        v.flat[0] = 1 - v.flat[0]
                        lab[3] = v
                p = self.train(d, os.path.join(self.work, "h5out_" + what))
                self.expect_fail(p, "train.h5", "corrupt")
        p = self.train(self.h5, os.path.join(self.work, "h5out_ok"), check=True)

    # ---- one run per directory ----------------------------------------------------------

    def test_a_locked_results_or_embed_directory_is_refused(self):
        out = os.path.join(self.work, "locked_train")
        os.makedirs(os.path.join(out, "checkpoints"))
        emb_out = os.path.join(self.work, "locked_embed")
        os.makedirs(emb_out)
        fds = [os.open(out, os.O_RDONLY), os.open(emb_out, os.O_RDONLY)]
        try:
            for fd in fds:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as another bend run holds it
            self.expect_fail(self.train(self.emb, out), out, "is in use")
            self.assertFalse(os.path.exists(os.path.join(out, "losses.csv")))
            self.expect_fail(bt.bend(embed_args(self.data, emb_out), check=False), emb_out, "is in use")
            self.assertEqual(os.listdir(emb_out), [])
        finally:
            for fd in fds:
                os.close(fd)
        self.train(self.emb, out, check=True)  # free again

    def test_two_concurrent_trainings_into_one_directory_one_is_refused(self):
        """A second `bend train` into a directory a running one holds is refused at once and
        changes nothing; the first finishes with only its own rows."""
        out = os.path.join(self.work, "concurrent")
        os.makedirs(out)
        first = subprocess.Popen([bt.BEND, "train", "--data", self.emb, "--out", out] + HISTONE
                                 + ["--epochs", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        try:
            fd = os.open(out, os.O_RDONLY)
            try:  # wait until the first run holds the directory's lock
                for _ in range(600):
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        fcntl.flock(fd, fcntl.LOCK_UN)
                    except BlockingIOError:
                        break
                    self.assertIsNone(first.poll(), "the first run ended before taking the lock")
                    time.sleep(0.05)
                else:
                    self.fail("the first run never locked %s" % out)
            finally:
                os.close(fd)
            second = self.train(self.emb, out, extra=["--epochs", "3"])
            self.assertIsNone(first.poll(), "the first run ended while the second was refused: retry "
                              "with more epochs")
            self.expect_fail(second, out, "is in use")
        finally:
            stdout, stderr = first.communicate(timeout=600)
        self.assertEqual(first.returncode, 0, stderr)
        with open(os.path.join(out, "losses.csv")) as f:
            self.assertEqual(len(f.read().splitlines()), 1 + 20)  # header + the first run's epochs
        with open(os.path.join(out, "best_model_metrics.csv")) as f:
            self.assertEqual(len(f.read().splitlines()), 2)

    # ---- split names, threads -----------------------------------------------------------

    def test_split_names_cannot_leave_the_output_directory(self):
        src = os.path.join(self.data, "histone_demo", "histone_demo.bed")
        bed = os.path.join(self.work, "evil.bed")
        with open(src) as f:
            lines = f.read().splitlines()
        fields = lines[2].split("\t")
        fields[-1] = "../../x"
        lines[2] = "\t".join(fields)
        with open(bed, "w") as f:
            f.write("\n".join(lines) + "\n")
        out = os.path.join(self.work, "evil_out", "o")
        p = bt.bend(["embed", "--bed", bed, "--genome", os.path.join(self.data, "genome", "demo.fa"),
                     "--label-depth", "6", "--model", "onehot", "--out", out], check=False)
        self.expect_fail(p, "%s:3: split name '../../x'" % bed)
        self.assertFalse(os.path.exists(os.path.join(self.work, "x-00000.tfrecord")))

    def test_threads_are_bounded_by_the_cpus(self):
        p = bt.bend(embed_args(self.data, os.path.join(self.work, "thr"), ["--threads", "100000"]), check=False)
        self.expect_fail(p, "--threads 100000 is more than this rank can use")
        p = self.train(self.emb, os.path.join(self.work, "thr_train"), extra=["--threads", "100000"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--threads 100000 is more than this rank can use", p.stderr)

    def test_a_rank_0_error_mid_run_under_mpirun_exits_1_not_sigsegv(self):
        # A bgzip FASTA cut after indexing: every rank's reads past the cut fail mid-run. Rank 0
        # used to unwind under its running queue-server thread (SIGSEGV, exit 139).
        gz = os.path.join(self.work, "cut.fa.gz")
        with open(gz, "wb") as f:
            subprocess.run(["bgzip", "-c", os.path.join(self.data, "genome", "demo.fa")], stdout=f, check=True)
        bt.run(["samtools", "faidx", gz])
        with open(gz, "r+b") as f:
            f.truncate(os.path.getsize(gz) // 3)
        bed = os.path.join(self.data, "histone_demo", "histone_demo.bed")
        for i in range(3):
            out = os.path.join(self.work, "cut_out%d" % i)
            p = bt.bend(["embed", "--bed", bed, "--genome", gz, "--label-depth", "6", "--model", "onehot",
                         "--out", out, "--shard-rows", "8"], np_ranks=2, check=False)
            self.assertEqual(p.returncode, 1, p.stderr[-3000:])
            self.assertNotIn("Segmentation fault", p.stdout + p.stderr)
            # printed by the rank that hit the cut first: rank 0 ("bend: error") or another
            # ("bend embed: error (rank 1)"), before the job is aborted
            self.assertRegex(p.stderr, r"bend(: error| embed: error \(rank \d+\))")

    def test_a_fifo_as_bed_is_refused(self):
        fifo = os.path.join(self.work, "fifo.bed")
        os.mkfifo(fifo)
        p = bt.bend(embed_args(self.data, os.path.join(self.work, "fifo_bed_out"))[:2] + [fifo] +
                    embed_args(self.data, os.path.join(self.work, "fifo_bed_out"))[3:], check=False, timeout=30)
        self.expect_fail(p, "not a regular file")


class JobFiles(unittest.TestCase):
    """`--config` files: every shipped job file passes; typos are errors naming file:line."""

    def setUp(self):
        self.tmp = bt.tmpdir()
        self.path = os.path.join(self.tmp, "job.toml")

    def check(self, text):
        with open(self.path, "w") as f:
            f.write(text)
        return bt.bend(["embed", "--config", self.path, "--help"], check=False)

    def expect(self, text, line, *what):
        p = self.check(text)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("%s:%d: " % (self.path, line), p.stderr)
        for w in what:
            self.assertIn(w, p.stderr)

    def test_shipped_job_files_pass(self):
        jobs = os.path.join(bt.SOURCE_DIR, "jobs")
        for name in sorted(os.listdir(jobs)):
            with self.subTest(name):
                path = os.path.join(jobs, name)
                p = bt.bend(["embed", "--config", path, "--help"], check=False)
                # CLI11 may still refuse a path of the file that does not exist here; the job
                # file check itself ("bend: error: FILE:LINE: ...") must pass.
                self.assertNotIn("bend: error: %s:" % path, p.stderr)
                self.assertNotIn("bend: error", p.stderr)

    def test_typos_are_errors(self):
        self.expect("[embed]\nflank = 0\nread-strnd = true\n", 3, "[embed] read-strnd", "unknown key")
        self.expect("[embedd]\nflank = 0\n", 1, "unknown section [embedd]")
        self.expect("[embed]\nflank 0\n", 2, "expected '='")
        self.expect("[embed]\nread-strand = \"maybe\"\n", 2, "read-strand", "true or false")
        self.expect("[embed]\nread-strand = maybe\n", 2, "'maybe' is not a string")
        self.expect("[embed]\nflank = \"wide\"\n", 2, "flank", "expected INT")
        self.expect("[embed]\nbed = \"x.bed\n", 2, "unterminated string")
        self.expect("[embed]\nflank = 1\nflank = 2\n", 3, "given twice")
        self.expect("flank = 1\n", 1, "outside any section")
        self.expect("[train]\nlr = [0.1, 0.2]\n", 2, "takes one value")
        self.expect("[train]\nepochs = 1_000\n", 2, "'1_000' is not")
        self.expect("[embed]\nsplits = [\"train\", 3, true]\n", 2, "array element 'true'")

    def test_a_subcommands_own_config_option_is_not_a_job_file(self):
        cfg = os.path.join(bt.SOURCE_DIR, "tests", "models", "configs", "nt-v1-small.json")
        p = bt.bend(["model", "init", "--arch", "nt", "--out", os.path.join(self.tmp, "m"),
                     "--config", cfg, "--help"], check=False)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_valid_values_pass(self):
        p = self.check("# c\n[embed]\nread-strand = false  # x\nflank = 256\nsplits = [\"a\", 'b']\n"
                       "[train]\nlr = 3e-3\nweight-decay = 0.01\nepochs = 1000\n")
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main()
