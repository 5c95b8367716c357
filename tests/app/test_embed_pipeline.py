"""`bend embed` end to end with real mpirun: contents against samtools, labels against the BED and
h5py, byte-identical output for np = 1, 2, 3, compression and dtypes against zlib and torch."""
import json
import os
import re
import shutil
import subprocess
import unittest

import h5py
import numpy as np

import bendtest as bt


def histone_args(data, out, extra=()):
    task = os.path.join(data, "histone_demo")
    return ["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
            os.path.join(data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand",
            "--model", "onehot", "--out", out, "--shard-rows", "64"] + list(extra)


class EmbedPipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.ckpt = os.path.join(cls.work, "resnetlm-small")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", cls.ckpt, "--hidden-size", "32",
                 "--n-layers", "4", "--seed", "7"])

    def test_onehot_shards_equal_samtools_sequences_and_bed_labels(self):
        out = os.path.join(self.work, "onehot_np2")
        bt.bend(histone_args(self.data, out), np_ranks=2)
        bed = os.path.join(self.data, "histone_demo", "histone_demo.bed")
        header, rows = bt.read_bed_rows(bed)
        recs = bt.read_shard_dir(out)
        self.assertEqual(sorted(recs), list(range(len(rows))), "every BED row exactly once")
        fasta = os.path.join(self.data, "genome", "demo.fa")
        col = {name: i for i, name in enumerate(header)}
        for i, row in enumerate(rows):
            chrom, start, end, strand = row[0], int(row[1]), int(row[2]), row[col["strand"]]
            r = recs[i]
            seq = bt.samtools_seq(fasta, chrom, start, end, strand == "-")
            np.testing.assert_array_equal(r["inputs"], bt.onehot(seq), err_msg="row %d" % i)
            want = [0] * 6
            for c in filter(None, row[col["label"]].split(",")):
                want[int(c)] = 1
            self.assertEqual(r["outputs"], want, "labels of row %d" % i)
            self.assertEqual(r["outputs_shape"], [6])
            self.assertEqual(r["region"], "%s:%d-%d(%s)" % (chrom, start, end, strand))
            self.assertEqual(r["file"].split("-")[0], row[-1], "row %d is in a shard of its split" % i)
        manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
        self.assertEqual(manifest["status"], "complete")
        listed = {s["file"]: s for s in manifest["shards"]}
        on_disk = sorted(n for n in os.listdir(out) if ".tfrecord" in n)
        self.assertEqual(sorted(listed), on_disk)
        for name in on_disk[:3]:
            blob = bt.read_bytes(os.path.join(out, name))
            self.assertEqual(listed[name]["bytes"], len(blob))
            self.assertEqual(int(listed[name]["crc32c"], 16), bt.crc32c(blob))
        self.assertFalse(os.path.exists(os.path.join(out, "manifest.journal")))

    def test_output_bytes_identical_for_1_2_and_3_ranks(self):
        task = os.path.join(self.data, "genefind_demo")
        outs = []
        for n in (1, 2, 3):
            out = os.path.join(self.work, "resnet_np%d" % n)
            bt.bend(["embed", "--bed", os.path.join(task, "genefind_demo.bed"), "--genome",
                     os.path.join(self.data, "genome", "demo.fa.gz"), "--model", "resnetlm",
                     "--checkpoint", self.ckpt, "--out", out, "--shard-rows", "16",
                     "--batch-nt", "6000"], np_ranks=n)
            outs.append(bt.dir_bytes(out))
        self.assertGreater(len(outs[0]), 3)
        self.assertEqual(sorted(outs[0]), sorted(outs[1]))
        for name in outs[0]:
            self.assertEqual(outs[0][name], outs[1][name], name + " differs between np=1 and np=2")
            self.assertEqual(outs[0][name], outs[2][name], name + " differs between np=1 and np=3")

    def test_hdf5_labels_stored_per_row(self):
        task = os.path.join(self.data, "genefind_demo")
        out = os.path.join(self.work, "genefind_onehot")
        bt.bend(["embed", "--bed", os.path.join(task, "genefind_demo.bed"), "--genome",
                 os.path.join(self.data, "genome", "demo.fa"), "--model", "onehot", "--out", out],
                np_ranks=2)
        recs = bt.read_shard_dir(out)
        with h5py.File(os.path.join(task, "genefind_demo.hdf5"), "r") as f:
            labels = f["labels"]
            self.assertEqual(len(recs), labels.shape[0])
            for i in range(labels.shape[0]):
                want = np.asarray(labels[i]).reshape(-1)
                self.assertEqual(recs[i]["outputs"], want.tolist(), "row %d" % i)
                self.assertEqual(recs[i]["outputs_shape"], [len(want)])
                self.assertEqual(recs[i]["inputs"].shape[0], len(want))

    def test_zlib_and_gzip_shards_decode_with_zlib_and_match_uncompressed(self):
        plain = os.path.join(self.work, "c_none")
        bt.bend(histone_args(self.data, plain, ["--splits", "valid"]))
        base = bt.read_shard_dir(plain)
        for comp, suffix in (("zlib", ".zlib"), ("gzip", ".gz")):
            out = os.path.join(self.work, "c_" + comp)
            bt.bend(histone_args(self.data, out, ["--splits", "valid", "--compression", comp]), np_ranks=2)
            names = sorted(n for n in os.listdir(out) if ".tfrecord" in n)
            self.assertTrue(names and all(n.endswith(".tfrecord" + suffix) for n in names), names)
            recs = bt.read_shard_dir(out)
            self.assertEqual(sorted(recs), sorted(base))
            for k in base:
                np.testing.assert_array_equal(recs[k]["inputs"], base[k]["inputs"])
            if comp == "gzip":  # the gzip tool itself reads our shards
                for n in names:
                    raw = subprocess.run(["gzip", "-dc", os.path.join(out, n)], check=True,
                                         capture_output=True).stdout
                    plain_name = n[: -len(suffix)]
                    self.assertEqual(raw, bt.read_bytes(os.path.join(plain, plain_name)))

    def test_half_precision_dtypes_round_like_torch(self):
        import torch
        task = os.path.join(self.data, "histone_demo")
        ref_dir = os.path.join(self.work, "dt_f32")
        args = ["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
                os.path.join(self.data, "genome", "demo.fa"), "--label-depth", "6", "--model",
                "resnetlm", "--checkpoint", self.ckpt, "--splits", "test", "--shard-rows", "32"]
        bt.bend(args + ["--out", ref_dir])
        ref = bt.read_shard_dir(ref_dir)
        for dt, tdt in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
            out = os.path.join(self.work, "dt_" + dt)
            bt.bend(args + ["--out", out, "--dtype", dt], np_ranks=2)
            recs = bt.read_shard_dir(out)
            for k, r in recs.items():
                self.assertEqual(r["dtype"], dt)
                want = torch.from_numpy(ref[k]["inputs"].copy()).to(tdt).to(torch.float32).numpy()
                np.testing.assert_array_equal(r["inputs"], want)
            size_half = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out) if ".tfrecord" in n)
            self.assertLess(size_half, 0.55 * sum(os.path.getsize(os.path.join(ref_dir, n))
                                                  for n in os.listdir(ref_dir) if ".tfrecord" in n))

    def test_inspect_verifies_and_reports_a_flipped_byte_with_file_and_offset(self):
        out = os.path.join(self.work, "inspect")
        bt.bend(histone_args(self.data, out, ["--splits", "test"]))
        shard = os.path.join(out, "test-00000.tfrecord")
        p = bt.bend(["inspect", shard])
        self.assertIn("test-00000.tfrecord", p.stdout + p.stderr)
        p = bt.bend(["inspect", out])  # the directory: every shard against the manifest
        self.assertIn("status 'complete'", p.stderr)
        self.assertEqual(p.stdout.count(".tfrecord"), len([n for n in os.listdir(out) if ".tfrecord" in n]))
        blob = bytearray(bt.read_bytes(shard))
        blob[len(blob) // 2] ^= 0x40
        open(shard, "wb").write(bytes(blob))
        p = bt.bend(["inspect", shard], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(shard, p.stderr)
        self.assertRegex(p.stderr, r"record \d+ at byte offset \d+")
        p = bt.bend(["inspect", out], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("test-00000.tfrecord", p.stderr)

    def test_peak_rss_is_the_ranks_own_not_inherited_from_the_launching_process(self):
        # Linux carries getrusage's ru_maxrss over fork and execve: a bend started by a parent
        # holding 600 MiB used to report the parent's 600 MiB as its own peak.
        ballast = bytearray(600 * 2**20)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1
        out = os.path.join(self.work, "rss")
        p = bt.bend(histone_args(self.data, out, ["--splits", "test"]))
        del ballast
        rss = float(re.search(r"peak RSS per rank: ([0-9.]+) MiB", p.stderr).group(1))
        self.assertGreater(rss, 1.0)
        self.assertLess(rss, 300.0, "a one-hot embed of the demo rows reported the launcher's memory")

    def test_options_come_from_a_toml_config_and_the_command_line_overrides_it(self):
        task = os.path.join(self.data, "histone_demo")
        cli_out = os.path.join(self.work, "cfg_cli")
        bt.bend(histone_args(self.data, cli_out, ["--splits", "valid,test"]))
        cfg_out = os.path.join(self.work, "cfg_file")
        toml = os.path.join(self.work, "job.toml")
        with open(toml, "w") as f:
            f.write('[embed]\nbed = "%s"\ngenome = "%s"\nlabel-depth = 6\nread-strand = true\n'
                    'model = "onehot"\nout = "%s"\nshard-rows = 999\nsplits = ["valid", "test"]\n'
                    % (os.path.join(task, "histone_demo.bed"), os.path.join(self.data, "genome", "demo.fa"),
                       os.path.join(self.work, "not_used")))
        bt.bend(["embed", "--config", toml, "--out", cfg_out, "--shard-rows", "64"], np_ranks=2)
        a, b = bt.dir_bytes(cli_out), bt.dir_bytes(cfg_out)
        self.assertEqual(sorted(a), sorted(b))
        for name in a:
            self.assertEqual(a[name], b[name], name)
        self.assertFalse(os.path.exists(os.path.join(self.work, "not_used")))


if __name__ == "__main__":
    unittest.main()
