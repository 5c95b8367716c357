"""The command line as a newcomer meets it (docs/cli.md): every usage error is `bend: error: ...`
with exit status 2 and none of CLI11's own text, run failures exit 1, --help/--version exit 0,
every option `--help` lists is documented, progress is a bar exactly when the user's terminal
shows it (also under mpirun, checked on a real pseudo-terminal) or as `--progress` says,
manifest.json records the version and command line, and a checkpoint directory holding only
pytorch_model.bin is refused with the converter's command, which then works."""
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import time
import unittest

import bendtest as bt

GENOME = os.path.join(bt.TEST_DATA, "genome", "hg38_chr2_1-2333275.fa.gz")
CLI11_TEXT = ["Run with --help", "for more information", "The following argument", "ParseError"]


def run_on_pty(cmd, timeout=300):
    """Runs `cmd` with stderr on a new pseudo-terminal (as a user's terminal) and stdout on a pipe;
    returns (exit status, bytes written to the terminal)."""
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.update(bt.MPI_ENV)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    out, deadline = b"", time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not data:
            break
        out += data
    os.close(master)
    return proc.wait(timeout=60), out


def read_safetensors(path):
    """name -> torch tensor, parsed here from the format's spec (8-byte header length, JSON)."""
    import torch
    raw = bt.read_bytes(path)
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        b, e = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(raw[8 + n + b: 8 + n + e]), dtype=torch.float32).reshape(t["shape"])
    return out


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir("bend-cli-")
        cls.bed = os.path.join(cls.work, "regions.bed")
        with open(cls.bed, "w") as f:
            f.write("chromosome\tstart\tend\tsplit\n")
            for i in range(64):
                f.write("chr2\t%d\t%d\t%s\n" % (100000 + 2000 * i, 101000 + 2000 * i, "train" if i % 4 else "test"))

    def embed_args(self, out, extra=()):
        return ["embed", "--bed", self.bed, "--genome", GENOME, "--model", "onehot", "--out", out,
                "--shard-rows", "8"] + list(extra)

    def assert_usage_error(self, p, must_name, help_of):
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stdout, "")
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)  # once, also under mpirun
        self.assertTrue(lines[0].startswith("bend: error: "), p.stderr)
        self.assertIn(must_name, lines[0])
        self.assertIn("(see `%s --help`)" % help_of, lines[0])
        for text in CLI11_TEXT:
            self.assertNotIn(text, p.stderr)

    def test_every_kind_of_usage_error_is_bend_error_with_status_2(self):
        missing = os.path.join(self.work, "no_such.bed")
        out = os.path.join(self.work, "never")
        cases = [
            ([], "a command is required", "bend"),
            (["frobnicate"], "unknown command 'frobnicate' (commands: embed, ", "bend"),
            (["embed", "--genome", GENOME, "--model", "onehot", "--out", out], "--bed is required", "bend embed"),
            (self.embed_args(out, ["--bogus"]), "--bogus", "bend embed"),
            (self.embed_args(out, ["--flank", "eight"]), "eight", "bend embed"),
            (self.embed_args(out, ["--progress", "fancy"]), "fancy", "bend embed"),
            (self.embed_args(out, ["--dtype", "float64"]), "float64", "bend embed"),
            (self.embed_args(out, ["--shard-rows"]), "--shard-rows", "bend embed"),
            (["embed", "--bed", missing, "--genome", GENOME, "--model", "onehot", "--out", out], "no_such.bed",
             "bend embed"),
            (["extract", "--bed", self.bed, "--genome", GENOME + ".missing", "--out", out], "fa.gz.missing",
             "bend extract"),
            (["inspect", os.path.join(self.work, "no_such_dir")], "no_such_dir", "bend inspect"),
            (["train", "--data", os.path.join(self.work, "no_data"), "--out", out, "--label-depth", "2"], "no_data",
             "bend train"),
            (["model", "init", "--arch", "gpt", "--out", out], "gpt", "bend model init"),
            (["train", "--data", self.work, "--out", out, "--label-depth", "2", "--metric", "f1"], "f1", "bend train"),
            (["model"], "a command is required", "bend model"),
            (["bench", "forward", "--model", "onehot", "--len", "x100"], "x100", "bend bench forward"),
            (["--config", os.path.join(self.work, "no.toml"), "embed"], "no.toml", "bend embed"),
        ]
        for args, name, help_of in cases:
            with self.subTest(args=args):
                self.assert_usage_error(bt.bend(args, check=False), name, help_of)
        self.assertFalse(os.path.exists(out), "a usage error started nothing")

    def test_a_job_file_is_checked_only_for_the_command_that_runs(self):
        """[train]'s data is what [embed] writes: `bend embed --config` must not ask for it."""
        emb, job = os.path.join(self.work, "job_emb"), os.path.join(self.work, "job.toml")
        with open(job, "w") as f:
            f.write('[embed]\nbed = "%s"\ngenome = "%s"\nmodel = "onehot"\nout = "%s"\n\n'
                    '[train]\ndata = "%s"\nout = "%s"\nlabel-depth = 2\n'
                    % (self.bed, GENOME, emb, emb, os.path.join(self.work, "job_res")))
        self.assert_usage_error(bt.bend(["train", "--config", job], check=False),
                                "--data: Directory does not exist: " + emb, "bend train")
        bt.bend(["embed", "--config", job], np_ranks=2)
        self.assertTrue(os.path.exists(os.path.join(emb, "manifest.json")))

    def test_under_mpirun_a_usage_error_prints_once_and_every_rank_exits_2(self):
        p = bt.bend(self.embed_args(os.path.join(self.work, "never2"), ["--bogus"]), np_ranks=2, check=False)
        self.assertEqual(p.stderr.count("bend: error: "), 1, p.stderr)
        self.assertIn("bend: error: unknown option or argument: --bogus (see `bend embed --help`)", p.stderr)
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_a_failed_run_exits_1_and_help_and_version_exit_0(self):
        bad = os.path.join(self.work, "bad.bed")
        with open(bad, "w") as f:
            f.write("chr2\t500\t100\n")
        p = bt.bend(["extract", "--bed", bad, "--genome", GENOME, "--out", os.path.join(self.work, "x.fa")],
                    check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertTrue(p.stderr.startswith("bend: error: "), p.stderr)
        self.assertIn("bad.bed:1", p.stderr)
        p = bt.bend(["--version"])
        self.assertEqual(p.stdout.strip(), "bend " + bt.project_version())
        for args in (["--help"], ["embed", "--help"], ["model", "init", "-h"], ["train", "--help"]):
            p = bt.bend(args)
            self.assertIn("Options:", p.stdout)
            self.assertEqual(p.stderr, "")

    def test_every_option_help_lists_is_in_docs_cli_md(self):
        docs = bt.read_text(os.path.join(bt.SOURCE_DIR, "docs", "cli.md"))
        sections = re.split(r"^(?=## )", docs, flags=re.M)
        intro = sections[0]
        for opt in ("--help", "--version", "--config"):
            self.assertIn(opt, intro)
        commands = ["embed", "variants", "train", "genome", "inspect", "extract", "bench forward", "bench train",
                    "bench load", "bench allreduce", "model init", "models", "report"]
        listed = set(re.findall(r"^  ([a-z]+)  ", bt.bend(["--help"]).stdout, flags=re.M))
        self.assertEqual(listed, {"embed", "variants", "train", "genome", "inspect", "extract", "bench", "model",
                                  "models", "report"})
        n_checked = 0
        for cmd in commands:
            text = [s for s in sections if re.match(r"## `bend %s[ `]" % re.escape(cmd), s)]
            self.assertEqual(len(text), 1, "docs/cli.md needs one section `bend %s`" % cmd)
            help_text = bt.bend(cmd.split() + ["--help"]).stdout
            options = re.findall(r"^\s+(?:-\w,)?(--[a-z0-9][a-z0-9-]*)", help_text, flags=re.M)
            self.assertTrue(cmd == "models" or options, help_text)
            for opt in options:
                if opt == "--help":
                    continue
                self.assertRegex(text[0], r"`[^`]*%s\b" % re.escape(opt),
                                 "docs/cli.md, `bend %s`: %s is not documented" % (cmd, opt))
                n_checked += 1
        self.assertGreater(n_checked, 100)

    def test_progress_is_a_bar_on_the_users_terminal_also_under_mpirun(self):
        # a terminal gets the bar as "\r[###...]"; into a pipe mpirun forwards the "\r" as "\n"
        bar = re.compile(rb"[\r\n]\[[#.]{30}\] 100\.0%")
        line = re.compile(rb"progress: 100\.0%")
        # (ranks, --progress, terminal?) -> bar / lines / nothing
        cases = [(2, None, True, "bar"), (1, None, True, "bar"), (2, None, False, "lines"),
                 (2, "lines", True, "lines"), (2, "none", True, "none"), (2, "bar", False, "bar")]
        for i, (ranks, mode, tty, want) in enumerate(cases):
            with self.subTest(ranks=ranks, mode=mode, tty=tty):
                out = os.path.join(self.work, "progress%d" % i)
                args = self.embed_args(out, ["--progress", mode] if mode else [])
                cmd = ["mpirun", "-np", str(ranks), "--bind-to", "none", bt.BEND] if ranks > 1 else [bt.BEND]
                if tty:
                    rc, err = run_on_pty(cmd + args)
                else:
                    p = bt.run(cmd + args, check=False)
                    rc, err = p.returncode, p.stderr.encode()
                self.assertEqual(rc, 0, err)
                self.assertEqual(bool(bar.search(err)), want == "bar", err)
                self.assertEqual(bool(line.search(err)), want == "lines", err)
                self.assertIn(b"done", err)  # the summary line is printed whatever --progress says

    def test_manifest_records_version_and_command_line(self):
        out = os.path.join(self.work, "recorded")
        args = self.embed_args(out, ["--threads", "1"])
        bt.bend(args, np_ranks=2)
        m = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertEqual(m["bend_version"], bt.project_version())
        self.assertEqual(m["command_line"], [bt.BEND] + args)
        self.assertEqual(m["working_directory"], os.getcwd())
        self.assertNotIn("command_line", m["params"])  # not compared on resume:
        args2 = self.embed_args(out, ["--threads", "2"])
        bt.bend(args2)
        m = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertEqual(m["command_line"], [bt.BEND] + args2)  # the latest run's

    def test_a_pytorch_model_bin_directory_is_refused_naming_the_converter_which_then_works(self):
        import torch
        ref = os.path.join(self.work, "resnet_ref")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", ref, "--hidden-size", "8", "--n-layers", "2",
                 "--seed", "3"])
        pickled = os.path.join(self.work, "resnet_bin")
        os.makedirs(pickled)
        bin_path = os.path.join(pickled, "pytorch_model.bin")
        torch.save(read_safetensors(os.path.join(ref, "model.safetensors")), bin_path)
        small_bed = os.path.join(self.work, "small.bed")
        with open(small_bed, "w") as f:
            f.write("chromosome\tstart\tend\tsplit\nchr2\t100000\t100300\ttrain\nchr2\t200000\t200150\ttrain\n")

        def embed(ckpt, out, check=True):
            return bt.bend(["embed", "--bed", small_bed, "--genome", GENOME, "--model", "resnetlm", "--checkpoint",
                            ckpt, "--out", os.path.join(self.work, out)], check=check)

        for extra in ([], ["config.json", "tokenizer.json"]):  # only the pickle, then with the other files
            for name in extra:
                shutil.copy(os.path.join(ref, name), pickled)
            p = embed(pickled, "refused", check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("bend: error: ", p.stderr)
            command = "python3 tools/bin_to_safetensors.py %s %s" % (bin_path, os.path.join(pickled, "model.safetensors"))
            self.assertIn(command, p.stderr)
            self.assertNotIn("config.json", p.stderr)  # the pickle is named first, not a missing file
        self.assertFalse(os.path.exists(os.path.join(self.work, "refused", "manifest.json")))
        bt.run([bt.PYTHON] + command.split()[1:], cwd=bt.SOURCE_DIR)
        embed(pickled, "converted")
        embed(ref, "reference")
        shards = sorted(n for n in os.listdir(os.path.join(self.work, "reference")) if ".tfrecord" in n)
        self.assertTrue(shards)
        for n in shards:
            self.assertEqual(bt.read_bytes(os.path.join(self.work, "converted", n)),
                             bt.read_bytes(os.path.join(self.work, "reference", n)), n)


if __name__ == "__main__":
    unittest.main()
