"""The project's Slurm scripts (slurm/) submitted to a real Slurm on this host
(tools/slurm/local_slurm.sh starts it, with CPU binding: task/affinity) on the demo data with 2
tasks: slurm/sweep.sh's embed and train arrays over one-hot and a ResNet LM checkpoint, and a
whole-genome job, equal `mpirun -np 2` byte for byte; every rank is bound to the CPUs the job asked
per task; the scripts and bend installed with `cmake --install` run from their prefix; embed and
train jobs sent the warning signal mid-run stop cleanly (exit 75), requeue themselves, resume and
end with the output of an uninterrupted run; a bad input fails the job with bend's error in its
log and no output. SweepPlan checks sweep.sh's arrays without Slurm (DRY_RUN).

Job outcomes come from Slurm's own job-completion log (jobcomp/filetxt), not from our scripts.
Needs root (it starts munged, slurmctld and slurmd); it fails, never skips, when it cannot.
"""
import csv
import json
import os
import re
import random
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "app"))
import bendtest as bt  # noqa: E402

SRC = bt.SOURCE_DIR
LOCAL_SLURM = os.path.join(SRC, "tools", "slurm", "local_slurm.sh")
JOB_TIMEOUT_S = 240
# Every run uses the same small, many-shard layout so a run can be stopped between shards.
SHARD_ROWS = "12"


def sh(args, check=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def ensure_slurm():
    """Starts the local Slurm unless it answers; returns the job-completion log's path."""
    if os.geteuid() != 0:
        raise AssertionError("the slurm tests run as root: they start munged, slurmctld and slurmd")
    sh([LOCAL_SLURM, "start"])  # idempotent; restarts the daemons when the config changed
    p = sh(["srun", "--mpi=list"])
    mpi = p.stdout + p.stderr
    if "pmix" not in mpi:
        raise AssertionError("srun has no pmix plugin:\n" + mpi)
    conf = sh(["scontrol", "show", "config"]).stdout
    m_type = re.search(r"^JobCompType\s*=\s*(\S+)", conf, re.M)
    m_loc = re.search(r"^JobCompLoc\s*=\s*(\S+)", conf, re.M)
    m_task = re.search(r"^TaskPlugin\s*=\s*(\S+)", conf, re.M)
    if not m_task or "task/affinity" not in m_task.group(1):
        raise AssertionError("the running Slurm binds no CPUs (TaskPlugin=%s); tools/slurm/local_slurm.sh "
                             "configures task/affinity" % (m_task.group(1) if m_task else "?"))
    if not m_type or m_type.group(1) != "jobcomp/filetxt":
        raise AssertionError("the running Slurm does not log job ends to a file (JobCompType=jobcomp/filetxt); "
                             "stop it or use tools/slurm/local_slurm.sh")
    return m_loc.group(1)



def assert_every_task_exited(test, log_text, status):
    """srun reported that both tasks of a 2-task step exited with `status`: as one line
    ("tasks 0-1: Exited with exit code N") or, when they end apart, one line per task."""
    done = set()
    for m in re.finditer(r"tasks? (\d+)(?:-(\d+))?: Exited with exit code %d\b" % status, log_text):
        done.update(range(int(m.group(1)), int(m.group(2) or m.group(1)) + 1))
    test.assertEqual(done, {0, 1}, log_text)

class Jobs:
    """Submits jobs and reads their fate from the job-completion log (lines after `start`)."""

    def __init__(self, jobcomp, work):
        self.jobcomp = jobcomp
        self.work = work
        self.start = os.path.getsize(jobcomp) if os.path.exists(jobcomp) else 0
        self.submitted = []

    def records(self, job_id):
        """Every job-end record of `job_id` (or array task `<array job>_<index>`) since the test
        began, oldest first, as dicts."""
        if not os.path.exists(self.jobcomp):
            return []
        with open(self.jobcomp) as f:
            f.seek(self.start)
            lines = f.read().splitlines()
        out = []
        array_job, _, array_task = str(job_id).partition("_")
        for line in lines:
            rec = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if array_task:
                if rec.get("ArrayJobId") == array_job and rec.get("ArrayTaskId") == array_task:
                    out.append(rec)
            elif rec.get("JobId") == str(job_id):
                out.append(rec)
        return out

    def sbatch(self, script, name, env=None, sbatch_args=(), args=(), slurm_dir=None):
        """Submits <slurm_dir or slurm/>/<script> with 2 tasks on one node; returns (job id, log
        path). BEND is the build's bend unless `env` sets it (None: unset)."""
        log = os.path.join(self.work, name + ".log")
        e = dict(os.environ)
        e["BEND"] = bt.BEND
        e.update(env or {})
        e = {k: v for k, v in e.items() if v is not None}
        p = sh(["sbatch", "--parsable", "-N", "1", "-n", "2", "-c", "1", "--job-name", name, "-o", log]
               + list(sbatch_args) + [os.path.join(slurm_dir or os.path.join(SRC, "slurm"), script)]
               + list(args), env=e, cwd=self.work)
        job_id = p.stdout.strip().split(";")[0]
        self.submitted.append(job_id)
        return job_id, log

    def wait(self, job_id, log=None, timeout=JOB_TIMEOUT_S):
        """Waits until the job ended for good (a record that is not a requeue); returns it."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            final = [r for r in self.records(job_id) if r.get("JobState") not in ("PENDING", "REQUEUED")]
            if final and not sh(["squeue", "-h", "-j", job_id], check=False).stdout.strip():
                return final[-1]
            time.sleep(0.2)
        sh(["scancel", job_id], check=False)
        raise AssertionError("job %s did not end in %d s; log:\n%s"
                             % (job_id, timeout, read_log(log) if log else "-"))

    def cancel_all(self):
        if self.submitted:
            sh(["scancel"] + self.submitted, check=False)


def read_csv(path):
    with open(path) as f:
        return list(csv.reader(f))


def cpu_set(text):
    """CPUs of a Cpus_allowed_list ("0-2,5") as a set of ints."""
    out = set()
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def read_log(path):
    """A job's log so far ("" before Slurm created it)."""
    return bt.read_text(path) if os.path.exists(path) else ""


def tree_bytes(root):
    """{relative path: bytes} of every file under `root`; manifest.json and settings.json without
    what describes the run rather than its results (timestamps, input paths, command line,
    directories)."""
    out = {}
    for d, _, names in os.walk(root):
        for name in names:
            path = os.path.join(d, name)
            data = bt.read_bytes(path)
            if name in ("manifest.json", "settings.json"):
                m = json.loads(data)
                for key in ("updated", "inputs", "command_line", "working_directory", "started"):
                    m.pop(key, None)
                for part, key in (("options", "data"), ("options", "out"), ("data", "dir")):
                    m.get(part, {}).pop(key, None)
                data = json.dumps(m, sort_keys=True).encode()
            out[os.path.relpath(path, root)] = data
    return out


def write_job_file(path, data, out, results):
    """jobs/demo_histone.toml with its demo/ paths pointing into this test's directories."""
    text = bt.read_text(os.path.join(SRC, "jobs", "demo_histone.toml"))
    text = text.replace('"demo/data/histone_demo/onehot"', '"%s"' % out)
    text = text.replace('"demo/results/histone_demo/onehot"', '"%s"' % results)
    text = text.replace('"demo/data/', '"%s/' % data)
    text = re.sub(r"^shard-rows = .*$", "shard-rows = " + SHARD_ROWS, text, flags=re.M)
    assert '"demo/' not in text, text
    with open(path, "w") as f:
        f.write(text)


class SlurmScripts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.jobcomp = ensure_slurm()
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir("bend-slurm-test-")
        cls.jobs = Jobs(cls.jobcomp, cls.work)
        os.makedirs(os.path.join(cls.work, "jobs"))
        cls.job_file = os.path.join(cls.work, "jobs", "demo_histone.toml")
        write_job_file(cls.job_file, cls.data, os.path.join(cls.work, "onehot-default"),
                       os.path.join(cls.work, "results-default"))

    @classmethod
    def tearDownClass(cls):
        cls.jobs.cancel_all()
        if not os.environ.get("BEND_KEEP_TEST_DIRS"):  # ~200 MB of shards; set it to look at them
            shutil.rmtree(cls.work, ignore_errors=True)

    def mpirun(self, args):
        return bt.bend(args, np_ranks=2)

    def assert_same_dir(self, got_dir, ref_dir):
        got, ref = tree_bytes(got_dir), tree_bytes(ref_dir)
        self.assertEqual(sorted(got), sorted(ref), got_dir)
        for name in ref:
            self.assertEqual(got[name], ref[name], "%s/%s differs from mpirun's" % (got_dir, name))

    def test_sweep_arrays_embed_then_train_equal_mpirun(self):
        """slurm/sweep.sh over one task x two models, one-hot and a ResNet LM that needs its
        checkpoint: one embed array and one train array whose task i starts after embed task i
        (aftercorr), each task srun --mpi=pmix on 2 ranks; every pair's embeddings and results are
        exactly the bytes `mpirun -np 2` writes with the same model and checkpoint."""
        ckpts = os.path.join(self.work, "sweep-checkpoints")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", os.path.join(ckpts, "resnetlm"),
                 "--hidden-size", "16", "--n-layers", "2", "--seed", "3"])
        refs = {}
        for model in ("onehot", "resnetlm"):
            model_args = ["--model", model]
            if model == "resnetlm":
                model_args += ["--checkpoint", os.path.join(ckpts, "resnetlm")]
            emb = os.path.join(self.work, "ref-sweep-" + model)
            res = os.path.join(self.work, "ref-sweep-results-" + model)
            self.mpirun(["embed", "--config", self.job_file, "--out", emb] + model_args)
            self.mpirun(["train", "--config", self.job_file, "--data", emb, "--out", res, "--epochs", "3"])
            refs[model] = (emb, res)

        env = dict(os.environ, BEND=bt.BEND, JOBS_DIR=os.path.join(self.work, "jobs"), TASKS="demo_histone",
                   MODELS="onehot resnetlm", CHECKPOINTS=ckpts, DATA_DIR=os.path.join(self.work, "sweep-data"),
                   RESULTS_DIR=os.path.join(self.work, "sweep-results"),
                   EMBED_SBATCH="-N 1 -n 2 -c 1 -o %s/sweep-embed-%%a.log" % self.work,
                   TRAIN_SBATCH="-N 1 -n 2 -c 1 -o %s/sweep-train-%%a.log" % self.work, TRAIN_ARGS="--epochs 3")
        p = sh([os.path.join(SRC, "slurm", "sweep.sh")], env=env, cwd=self.work)
        lines = [line.split() for line in p.stdout.splitlines()]
        self.assertEqual([l[:2] for l in lines], [["demo_histone", "onehot"], ["demo_histone", "resnetlm"]], p.stdout)
        embed_arrays = {l[2].split("_")[0] for l in lines}
        train_arrays = {l[3].split("_")[0] for l in lines}
        self.jobs.submitted += sorted(embed_arrays | train_arrays)
        self.assertEqual(len(embed_arrays), 1, "one embed array for both pairs: " + p.stdout)
        self.assertEqual(len(train_arrays), 1, "one train array for both pairs: " + p.stdout)
        for i, (task, model, embed_id, train_id) in enumerate(lines):
            self.assertEqual((embed_id.split("_")[1], train_id.split("_")[1]), (str(i), str(i)), p.stdout)
            embed_log = os.path.join(self.work, "sweep-embed-%d.log" % i)
            train_log = os.path.join(self.work, "sweep-train-%d.log" % i)
            embed_rec = self.jobs.wait(embed_id, embed_log)
            train_rec = self.jobs.wait(train_id, train_log)
            self.assertEqual(embed_rec["JobState"], "COMPLETED", read_log(embed_log))
            self.assertEqual(train_rec["JobState"], "COMPLETED", read_log(train_log))
            self.assertEqual(embed_rec["ProcCnt"], "2")
            self.assertGreaterEqual(train_rec["StartTime"], embed_rec["EndTime"], "train %d started before embed" % i)
            log = read_log(embed_log)
            self.assertIn("srun --mpi=pmix --cpus-per-task=1", log)
            self.assertIn("on 2 ranks", log)
            self.assertIn("sweep pair %d: task demo_histone, model %s" % (i, model), log)
            if model == "resnetlm":
                self.assertIn("--checkpoint %s/resnetlm" % ckpts, log)
            self.assert_same_dir(os.path.join(self.work, "sweep-data", "demo_histone", model), refs[model][0])
            self.assert_same_dir(os.path.join(self.work, "sweep-results", "demo_histone", model), refs[model][1])

    def test_each_rank_is_bound_to_the_cpus_of_its_task(self):
        """Under CPU binding (task/affinity, cores), embed.sbatch's srun step gives each rank the
        --cpus-per-task CPUs of the job (srun stopped inheriting them in Slurm 22.05: a -c 2 job's
        rank was bound to one core while running --threads 2), and two ranks get different cores."""
        self.assertGreaterEqual(os.cpu_count(), 2, "this test needs 2 CPUs")
        wrapper = os.path.join(self.work, "bend-affinity")
        with open(wrapper, "w") as f:  # records the rank's CPUs, then runs bend itself
            f.write('#!/bin/bash\ngrep Cpus_allowed_list /proc/self/status > "$AFFINITY_DIR/rank$SLURM_PROCID"\n'
                    'exec "$REAL_BEND" "$@"\n')
        os.chmod(wrapper, 0o755)
        for name, n_ranks, cpus in (("aff-1x2", 1, 2), ("aff-2x1", 2, 1)):
            d = os.path.join(self.work, name)
            os.makedirs(d)
            job_id, log = self.jobs.sbatch(
                "embed.sbatch", "bendtest-" + name,
                sbatch_args=["-n", str(n_ranks), "--ntasks-per-node", str(n_ranks), "-c", str(cpus)],
                env={"BEND": wrapper, "REAL_BEND": bt.BEND, "AFFINITY_DIR": d, "CONFIG": self.job_file,
                     "OUT": os.path.join(self.work, name + "-out")})
            rec = self.jobs.wait(job_id, log)
            text = read_log(log)
            self.assertEqual(rec["JobState"], "COMPLETED", text)
            sets = [cpu_set(bt.read_text(os.path.join(d, "rank%d" % r)).split(":")[1]) for r in range(n_ranks)]
            for r, cs in enumerate(sets):
                self.assertEqual(len(cs), cpus, "%s: rank %d is bound to CPUs %s" % (name, r, sorted(cs)))
            if n_ranks == 2:
                self.assertFalse(sets[0] & sets[1], "%s: both ranks on CPUs %s" % (name, sorted(sets[0] & sets[1])))
            self.assertIn("--cpus-per-task=%d" % cpus, text)
            self.assertIn("--threads %d" % cpus, text)

    def test_installed_prefix_runs_bend_and_the_slurm_scripts(self):
        """`cmake --install build --prefix DIR` installs bend, bend-torch, the Slurm scripts and the
        job files; DIR/bin/bend runs (`bend models` re-executes DIR/bin/bend-torch); sweep.sh finds
        DIR/bin/bend and DIR/share/bend/jobs by itself; DIR's embed.sbatch, with neither BEND nor
        BEND_ROOT set, runs DIR/bin/bend under srun and writes the bytes mpirun writes."""
        prefix = os.path.join(self.work, "prefix")
        build_dir = os.path.dirname(os.path.abspath(bt.BEND))
        sh(["cmake", "--install", build_dir, "--prefix", prefix])
        share = os.path.join(prefix, "share", "bend")
        for exe in ["bin/bend", "bin/bend-torch"] + ["share/bend/slurm/" + n for n in
                                                     ("embed.sbatch", "train.sbatch", "genome.sbatch", "sweep.sh")]:
            self.assertTrue(os.access(os.path.join(prefix, exe), os.X_OK), exe + " not installed as a program")
        self.assertTrue(os.path.isfile(os.path.join(share, "slurm", "lib.sh")))
        repo_jobs = sorted(n for n in os.listdir(os.path.join(SRC, "jobs")) if n.endswith(".toml"))
        self.assertEqual(sorted(os.listdir(os.path.join(share, "jobs"))), repo_jobs)

        models = sh([os.path.join(prefix, "bin", "bend"), "models"]).stdout
        self.assertRegex(models, r"(?m)^resnetlm ")
        clean = {k: v for k, v in os.environ.items() if k not in ("BEND", "BEND_ROOT")}
        p = sh([os.path.join(share, "slurm", "sweep.sh")], env=dict(clean, DRY_RUN="1", TASKS="histone_modification"),
               cwd=self.work)
        self.assertIn("BEND=%s/bin/bend " % prefix, p.stderr)
        self.assertIn("SWEEP_JOBS_DIR=%s/jobs " % share, p.stderr)

        ref = os.path.join(self.work, "ref-installed")
        self.mpirun(["embed", "--config", self.job_file, "--out", ref])
        out = os.path.join(self.work, "installed-out")
        job_id, log = self.jobs.sbatch("embed.sbatch", "bendtest-installed", slurm_dir=os.path.join(share, "slurm"),
                                       env={"BEND": None, "BEND_ROOT": None, "CONFIG": self.job_file, "OUT": out})
        rec = self.jobs.wait(job_id, log)
        text = read_log(log)
        self.assertEqual(rec["JobState"], "COMPLETED", text)
        self.assertIn(" %s/bin/bend embed --config" % prefix, text)
        self.assert_same_dir(out, ref)

    def test_warning_signal_requeues_and_resumes_to_identical_output(self):
        """USR1 to the batch shell, as `--signal=B:USR1@N` sends it before the time limit: bend
        stops cleanly (exit 75), the job requeues itself, the requeued job resumes and ends with
        the bytes of an uninterrupted mpirun run."""
        ckpt = os.path.join(self.work, "resnetlm")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", ckpt, "--hidden-size", "64",
                 "--n-layers", "16", "--seed", "2"])  # slow enough to signal mid-run
        model = ["--model", "resnetlm", "--checkpoint", ckpt]
        ref = os.path.join(self.work, "ref-resnetlm")
        self.mpirun(["embed", "--config", self.job_file, "--out", ref] + model)

        out = os.path.join(self.work, "slurm-resnetlm")
        job_id, log = self.jobs.sbatch("embed.sbatch", "bendtest-signal", env={
            "CONFIG": self.job_file, "MODEL": "resnetlm", "CHECKPOINT": ckpt, "OUT": out})
        journal = os.path.join(out, "manifest.journal")
        t0 = time.time()
        while not (os.path.exists(journal) and bt.read_text(journal).count("\n") >= 2):
            self.assertFalse(self.jobs.records(job_id), "job ended before it could be signalled:\n" + read_log(log))
            self.assertLess(time.time() - t0, JOB_TIMEOUT_S, "no shard written:\n" + read_log(log))
            time.sleep(0.05)
        sh(["scancel", "--batch", "--signal=USR1", job_id])

        while "requeueing job" not in read_log(log):
            self.assertLess(time.time() - t0, JOB_TIMEOUT_S, "no requeue:\n" + read_log(log))
            time.sleep(0.05)
        self.assert_consistent_after_stop(out, log)

        rec = self.jobs.wait(job_id, log)
        text = read_log(log)
        self.assertEqual(rec["JobState"], "COMPLETED", text)
        states = [r["JobState"] for r in self.jobs.records(job_id)]
        self.assertEqual(len(states), 2, states)  # the requeue, then the end
        self.assertIn("warning signal (USR1)", text)
        m = re.search(r"stopped by SIGUSR1 after (\d+) of (\d+) shards", text)
        self.assertTrue(m, text)
        assert_every_task_exited(self, text, 75)
        self.assertIn("(restart 1)", text)
        m2 = re.search(r"resuming: (\d+) of (\d+) shards", text)
        self.assertTrue(m2, text)
        self.assertEqual(m2.group(1), m.group(1), "the resume did not keep exactly the stopped run's shards")
        self.assertLess(int(m2.group(1)), int(m2.group(2)), "nothing was left to do after the stop")
        self.assert_same_dir(out, ref)

    def assert_consistent_after_stop(self, out, log):
        """Between the stop and the restart: the manifest says "stopped" and lists only whole
        shards (size, records, every CRC), and no journal or temporary file is left."""
        if "(restart 1)" in read_log(log):
            self.fail("the requeued job restarted before the stopped output could be checked")
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertEqual(manifest["status"], "stopped")
        names = os.listdir(out)
        self.assertFalse([n for n in names if ".tmp" in n or n == "manifest.journal"], names)
        self.assertGreaterEqual(len(manifest["shards"]), 2)
        for shard in manifest["shards"]:
            path = os.path.join(out, shard["file"])
            self.assertEqual(os.path.getsize(path), shard["bytes"], path)
            self.assertEqual(len(list(bt.read_tfrecord(path))), shard["records"], path)
        m = re.search(r"stopped by SIGUSR1 after (\d+) of", read_log(log))
        self.assertTrue(m, read_log(log))
        self.assertEqual(int(m.group(1)), len(manifest["shards"]))

    def test_warning_signal_during_training_requeues_and_resumes(self):
        """train.sbatch sent the warning after epoch 2 of 6: bend train stops at a step boundary
        with a checkpoint (exit 75), the job requeues itself, resumes there and ends with the
        results of an uninterrupted mpirun run (losses within 1e-5, the same best epoch, the same
        test metrics)."""
        data = os.path.join(self.work, "train-data")
        self.mpirun(["embed", "--config", self.job_file, "--out", data])
        ref = os.path.join(self.work, "ref-train6")
        self.mpirun(["train", "--config", self.job_file, "--data", data, "--out", ref, "--epochs", "6"])

        out = os.path.join(self.work, "slurm-train6")
        job_id, log = self.jobs.sbatch("train.sbatch", "bendtest-train-signal",
                                       env={"CONFIG": self.job_file, "DATA": data, "OUT": out}, args=["--epochs", "6"])
        ckpt = os.path.join(out, "checkpoints", "epoch_2.safetensors")
        t0 = time.time()
        while not os.path.exists(ckpt):
            self.assertFalse(self.jobs.records(job_id), "job ended before it could be signalled:\n" + read_log(log))
            self.assertLess(time.time() - t0, JOB_TIMEOUT_S, "no epoch saved:\n" + read_log(log))
            time.sleep(0.05)
        sh(["scancel", "--batch", "--signal=USR1", job_id])
        rec = self.jobs.wait(job_id, log)
        text = read_log(log)
        self.assertEqual(rec["JobState"], "COMPLETED", text)
        self.assertEqual([r["JobState"] for r in self.jobs.records(job_id)], ["PENDING", "COMPLETED"], text)
        self.assertIn("warning signal (USR1)", text)
        self.assertRegex(text, r"bend: stopped by SIGUSR1 in epoch [3-6]")
        assert_every_task_exited(self, text, 75)
        self.assertIn("requeueing job", text)
        self.assertRegex(text, r"resuming (after|in) epoch [2-6] of 6")
        self.assertEqual(sorted(tree_bytes(out)), sorted(tree_bytes(ref)), "other files than mpirun's")
        ra = read_csv(os.path.join(ref, "losses.csv"))
        rb = read_csv(os.path.join(out, "losses.csv"))
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
        for u, v in zip(ma[1][1:], mb[1][1:]):
            self.assertAlmostEqual(float(u), float(v), delta=1e-5 * max(1.0, abs(float(u))))

    def test_genome_job_equals_mpirun(self):
        """genome.sbatch on the real hg38 region (tests/data/genome): the plan in the job log
        counts bedtools makewindows' windows, and the shards and manifest are byte-identical to
        `mpirun -np 2 bend genome` with the same options."""
        fasta = os.path.join(bt.TEST_DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
        opts = ["--window", "2000", "--stride", "1000", "--reduce", "bin:100", "--shard-windows", "200"]
        ref = os.path.join(self.work, "ref-genome")
        self.mpirun(["genome", "--genome", fasta, "--model", "onehot", "--out", ref] + opts)
        out = os.path.join(self.work, "slurm-genome")
        job_id, log = self.jobs.sbatch("genome.sbatch", "bendtest-genome", env={"GENOME": fasta, "OUT": out},
                                       args=opts)
        rec = self.jobs.wait(job_id, log)
        text = read_log(log)
        self.assertEqual(rec["JobState"], "COMPLETED", text)
        with open(fasta + ".fai") as f:
            genome_file = "".join("%s\t%s\n" % tuple(l.split("\t")[:2]) for l in f)
        windows = sh(["bedtools", "makewindows", "-g", "/dev/stdin", "-w", "2000", "-s", "1000"],
                     input=genome_file).stdout.splitlines()
        self.assertRegex(text, r"plan: %d windows of 2000 bp \(stride 1000\)" % len(windows))
        self.assertGreater(len([n for n in os.listdir(out) if n.endswith(".tfrecord")]), 1)
        self.assert_same_dir(out, ref)

    def test_variant_effect_job_file_runs_bend_variants(self):
        """A job file with a [variants] section and no [embed] one (jobs/variant_effects.toml's
        layout): embed.sbatch runs `bend variants`, and its scores.tsv, auroc.csv and manifest are
        byte-identical to `mpirun -np 2 bend variants` with the same options."""
        fasta = os.path.join(bt.TEST_DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
        rng = random.Random(5)
        pos = sorted(rng.sample(range(20000, 2300000), 40))
        seq = sh(["samtools", "faidx", fasta] + ["chr2:%d-%d" % (p + 1, p + 1) for p in pos]).stdout
        refs = [l.strip().upper() for l in seq.splitlines() if l and not l.startswith(">")]
        bed = os.path.join(self.work, "variants.bed")
        with open(bed, "w") as f:
            f.write("chromosome\tstart\tend\tref\talt\tlabel\n")
            for i, (p, ref) in enumerate(zip(pos, refs)):
                if ref in "ACGT":
                    alt = rng.choice([b for b in "ACGT" if b != ref])
                    f.write("chr2\t%d\t%d\t%s\t%s\t%d\n" % (p, p + 1, ref, alt, i % 2))
        job = os.path.join(self.work, "jobs", "variant_effects.toml")
        with open(job, "w") as f:
            f.write('[variants]\nbed = "%s"\ngenome = "%s"\nmodel = "onehot"\nscore = "cosine,l2"\n'
                    'shard-rows = 8\nbootstrap = 50\n' % (bed, fasta))
        ref = os.path.join(self.work, "ref-variants")
        self.mpirun(["variants", "--config", job, "--out", ref])
        out = os.path.join(self.work, "slurm-variants")
        job_id, log = self.jobs.sbatch("embed.sbatch", "bendtest-variants", env={"CONFIG": job, "OUT": out})
        rec = self.jobs.wait(job_id, log)
        text = read_log(log)
        self.assertEqual(rec["JobState"], "COMPLETED", text)
        self.assertIn("variants --config", text.replace("'", ""))
        for name in ("scores.tsv", "auroc.csv"):
            self.assertEqual(bt.read_text(os.path.join(out, name)), bt.read_text(os.path.join(ref, name)), name)

    def test_bad_input_fails_the_job_with_the_error_in_its_log(self):
        """A BED row past the chromosome end: the job FAILS (not requeued), its log names
        file:line, and nothing is written."""
        bed = os.path.join(self.data, "histone_demo", "histone_demo.bed")
        lines = bt.read_text(bed).splitlines(True)
        bad = os.path.join(self.work, "bad.bed")
        with open(bad, "w") as f:
            f.writelines(lines[:5] + ["chr1\t999999000\t999999512\t+\t1\ttrain\n"] + lines[5:])
        out = os.path.join(self.work, "bad-out")
        job_id, log = self.jobs.sbatch("embed.sbatch", "bendtest-bad", env={"CONFIG": self.job_file, "OUT": out},
                                       args=["--bed", bad])
        rec = self.jobs.wait(job_id, log)
        text = read_log(log)
        self.assertEqual(rec["JobState"], "FAILED", text)
        self.assertEqual(rec["ExitCode"], "1:0", text)
        self.assertEqual(len(self.jobs.records(job_id)), 1, "the failed job was requeued")
        self.assertRegex(text, r"bend: error: .*bad\.bed:6: .*past the end of chr1")
        self.assertNotIn("requeueing", text)
        self.assertFalse(os.path.exists(out) and os.listdir(out), "partial output in %s" % out)


class SweepPlan(unittest.TestCase):
    """slurm/sweep.sh's arrays without Slurm: DRY_RUN=1 prints the sbatch commands."""

    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir("bend-sweep-plan-")
        os.makedirs(os.path.join(cls.work, "ckpt", "resnetlm"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work, ignore_errors=True)

    def sweep(self, check=True, **env):
        e = dict(os.environ, BEND=bt.BEND, DRY_RUN="1", CHECKPOINTS=os.path.join(self.work, "ckpt"))
        e.update(env)
        return sh([os.path.join(SRC, "slurm", "sweep.sh")], check=check, env=e, cwd=self.work)

    def test_one_array_per_stage_with_checkpoints_cv_folds_and_zero_shot_tasks(self):
        """Three tasks x two models: one embed array of 6 pairs (the ResNet LM's marked as needing
        its checkpoint), one train array for the plainly trained pairs after their embed tasks
        (aftercorr), one 10-fold array per cross-validated pair after its own embed task, and no
        training for the zero-shot task."""
        p = self.sweep(TASKS="histone_modification enhancer_annotation variant_effects",
                       MODELS="onehot resnetlm", ARRAY_MAX="3")
        self.assertEqual(p.stdout.splitlines(), [
            "histone_modification onehot DRYRUN_0 DRYRUN_0",
            "histone_modification resnetlm DRYRUN_1 DRYRUN_1",
            "enhancer_annotation onehot DRYRUN_2 DRYRUN_[1-10]",
            "enhancer_annotation resnetlm DRYRUN_3 DRYRUN_[1-10]",
            "variant_effects onehot DRYRUN_4 -",
            "variant_effects resnetlm DRYRUN_5 -"])
        cmds = [l for l in p.stderr.splitlines() if " sbatch " in l]
        self.assertEqual(len(cmds), 4, p.stderr)
        embed, train, cv0, cv1 = cmds
        self.assertIn("SWEEP_PAIRS=histone_modification,onehot,- histone_modification,resnetlm,c "
                      "enhancer_annotation,onehot,- enhancer_annotation,resnetlm,c "
                      "variant_effects,onehot,- variant_effects,resnetlm,c ", embed)
        self.assertIn("SWEEP_CHECKPOINTS=%s/ckpt " % self.work, embed)
        self.assertIn("--array=0-5%3 ", embed)
        self.assertTrue(embed.endswith("/slurm/embed.sbatch"), embed)
        self.assertIn("--array=0,1%3 --dependency=aftercorr:DRYRUN --kill-on-invalid-dep=yes", train)
        self.assertTrue(train.endswith("/slurm/train.sbatch"), train)
        for i, (cmd, model) in enumerate(((cv0, "onehot"), (cv1, "resnetlm"))):
            self.assertNotIn("SWEEP_PAIRS", cmd)
            self.assertIn("FOLD=array ", cmd)
            self.assertIn("TASK=enhancer_annotation ", cmd)
            self.assertIn("OUT=downstream_tasks/enhancer_annotation/%s " % model, cmd)
            self.assertIn("--array=1-10%%3 --dependency=afterok:DRYRUN_%d --kill-on-invalid-dep=yes" % (2 + i), cmd)

    def test_baselines_train_on_the_tasks_onehot_embeddings_after_its_embed_task(self):
        """BASELINES: one train job (a 10-fold array for cross-validated tasks) per task and
        baseline, reading DATA_DIR/<task>/onehot after that pair's embed task, with --model; Basset
        only for the 512-bp tasks; no baseline without onehot in MODELS."""
        p = self.sweep(TASKS="histone_modification enhancer_annotation variant_effects", MODELS="onehot",
                       BASELINES="resnet-supervised basset-supervised")
        self.assertEqual(p.stdout.splitlines(), [
            "histone_modification onehot DRYRUN_0 DRYRUN_0",
            "enhancer_annotation onehot DRYRUN_1 DRYRUN_[1-10]",
            "variant_effects onehot DRYRUN_2 -",
            "histone_modification resnet-supervised - DRYRUN",
            "enhancer_annotation resnet-supervised - DRYRUN_[1-10]",
            "histone_modification basset-supervised - DRYRUN"])
        cmds = [l for l in p.stderr.splitlines() if " sbatch " in l]
        self.assertEqual(len(cmds), 6, p.stderr)
        for cmd, task, b, oh in ((cmds[3], "histone_modification", "resnet-supervised", 0),
                                 (cmds[4], "enhancer_annotation", "resnet-supervised", 1),
                                 (cmds[5], "histone_modification", "basset-supervised", 0)):
            self.assertNotIn("SWEEP_PAIRS", cmd)
            self.assertIn("DATA=data/%s/onehot " % task, cmd)
            self.assertIn("OUT=downstream_tasks/%s/%s " % (task, b), cmd)
            self.assertIn("--dependency=afterok:DRYRUN_%d --kill-on-invalid-dep=yes" % oh, cmd)
            self.assertTrue(cmd.endswith("/slurm/train.sbatch --model " + b), cmd)
            self.assertEqual("FOLD=array " in cmd and "--array=1-10 " in cmd, task == "enhancer_annotation", cmd)
        p = self.sweep(check=False, TASKS="histone_modification", MODELS="resnetlm", BASELINES="resnet-supervised")
        self.assertEqual(p.returncode, 1)
        self.assertIn("add onehot to MODELS", p.stderr)
        self.assertNotIn("sbatch", p.stderr)

    def test_unknown_model_or_missing_checkpoint_is_refused_before_submitting(self):
        p = self.sweep(check=False, TASKS="histone_modification", MODELS="onehot nosuch")
        self.assertEqual(p.returncode, 1)
        m = re.search(r"sweep: error: unknown model 'nosuch' \(bend models lists: ([^)]*)\)", p.stderr)
        self.assertTrue(m, p.stderr)
        self.assertLessEqual({"onehot", "resnetlm", "dnabert"}, set(m.group(1).split()))
        self.assertNotIn("sbatch", p.stderr)
        p = self.sweep(check=False, TASKS="histone_modification", MODELS="onehot resnetlm",
                       CHECKPOINTS=os.path.join(self.work, "none"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("model resnetlm needs a checkpoint directory: %s/none/resnetlm missing" % self.work, p.stderr)
        self.assertNotIn("sbatch", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
