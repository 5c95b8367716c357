"""Every kind of bad input: a clear error naming file:line (or file) and the problem, a non-zero
exit, under mpirun too, and nothing left under a final name in the output directory."""
import os
import shutil
import unittest

import h5py
import numpy as np

import bendtest as bt

HEADER = "chromosome\tstart\tend\tstrand\tlabel\tsplit\n"


class EmbedErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.fasta = os.path.join(cls.data, "genome", "demo.fa")
        cls.work = bt.tmpdir()
        cls.n = 0
        fai = [l.split("\t") for l in open(cls.fasta + ".fai")]
        cls.chrom, cls.chrom_len = fai[0][0], int(fai[0][1])

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def expect_error(self, args, *needles, np_ranks=2):
        EmbedErrors.n += 1
        out = os.path.join(self.work, "out%d" % self.n)
        p = bt.bend(["embed", "--out", out] + args, np_ranks=np_ranks, check=False)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        for needle in needles:
            self.assertIn(needle, p.stderr)
        self.assertLessEqual(p.stderr.count("error"), 2, "printed once, not once per rank:\n" + p.stderr)
        if os.path.isdir(out):
            left = [n for n in os.listdir(out) if ".tfrecord" in n or n == "manifest.json"]
            self.assertEqual(left, [], "files under final names after an error")
        return p.stderr

    def bed_case(self, body, *needles, extra=("--label-depth", "3")):
        path = self.write("case%d.bed" % self.n, HEADER + body)
        return self.expect_error(["--bed", path, "--genome", self.fasta, "--model", "onehot"] + list(extra),
                                 *needles)

    def test_non_numeric_coordinate(self):
        self.bed_case("%s\t100\t200\t+\t0\ttrain\n%s\t1x0\t200\t+\t0\ttrain\n" % (self.chrom, self.chrom),
                      "case", ".bed:3", "1x0")

    def test_negative_coordinate(self):
        self.bed_case("%s\t-5\t200\t+\t0\ttrain\n" % self.chrom, ".bed:2", "-5")

    def test_end_not_after_start(self):
        self.bed_case("%s\t300\t300\t+\t0\ttrain\n" % self.chrom, ".bed:2", "end")

    def test_unknown_chromosome(self):
        self.bed_case("%s\t1\t20\t+\t0\ttrain\nchrNope\t1\t20\t+\t0\ttrain\n" % self.chrom,
                      ".bed:3", "chrNope")

    def test_region_past_chromosome_end_with_flank(self):
        end = self.chrom_len - 10
        self.bed_case("%s\t%d\t%d\t+\t0\ttrain\n" % (self.chrom, end - 100, end), ".bed:2", "flank",
                      extra=("--label-depth", "3", "--flank", "20"))

    def test_missing_split_column(self):
        path = self.write("nosplit.bed", "chromosome\tstart\tend\n%s\t1\t50\n" % self.chrom)
        self.expect_error(["--bed", path, "--genome", self.fasta, "--model", "onehot"], "nosplit.bed:1", "split")

    def test_label_id_not_below_label_depth(self):
        self.bed_case("%s\t1\t50\t+\t0,3\ttrain\n" % self.chrom, ".bed:2", "3")

    def test_hdf5_row_count_differs_from_bed(self):
        bed = self.write("rows.bed", "chromosome\tstart\tend\tsplit\n%s\t1\t50\ttrain\n%s\t60\t90\ttest\n"
                         % (self.chrom, self.chrom))
        h5 = os.path.join(self.work, "rows.hdf5")
        with h5py.File(h5, "w") as f:
            f["labels"] = np.zeros((3, 4), dtype=np.int64)
        self.expect_error(["--bed", bed, "--genome", self.fasta, "--model", "onehot"], "rows.hdf5", "3", "2")

    def test_unreadable_fasta(self):
        bed = self.write("ok.bed", "chromosome\tstart\tend\tsplit\n%s\t1\t50\ttrain\n" % self.chrom)
        self.expect_error(["--bed", bed, "--genome", os.path.join(self.work, "missing.fa"), "--model", "onehot"],
                          "missing.fa")

    def test_unindexable_plain_gzip_fasta(self):
        gz = os.path.join(self.work, "plain.fa.gz")
        bt.run(["sh", "-c", "gzip -c '%s' > '%s'" % (self.fasta, gz)])
        bed = self.write("ok2.bed", "chromosome\tstart\tend\tsplit\n%s\t1\t50\ttrain\n" % self.chrom)
        self.expect_error(["--bed", bed, "--genome", gz, "--model", "onehot"], "plain.fa.gz", "bgzip")

    def test_unknown_model(self):
        bed = self.write("ok3.bed", "chromosome\tstart\tend\tsplit\n%s\t1\t50\ttrain\n" % self.chrom)
        self.expect_error(["--bed", bed, "--genome", self.fasta, "--model", "nosuchmodel"], "nosuchmodel", "onehot")

    def test_checkpoint_with_missing_and_misshaped_tensors(self):
        import json
        import struct
        ckpt = os.path.join(self.work, "broken_ckpt")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", ckpt, "--hidden-size", "16", "--n-layers", "2"])
        path = os.path.join(ckpt, "model.safetensors")
        raw = bt.read_bytes(path)
        (n,) = struct.unpack_from("<Q", raw, 0)
        header = json.loads(raw[8:8 + n])
        header.pop("encoder.1.ffn.0.weight")
        header["encoder.0.conv.1.bias"]["shape"] = [4, 4]  # 16 values, wrong shape
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        open(path, "wb").write(struct.pack("<Q", len(text)) + text + raw[8 + n:])
        bed = self.write("ok4.bed", "chromosome\tstart\tend\tsplit\n%s\t1\t50\ttrain\n" % self.chrom)
        self.expect_error(["--bed", bed, "--genome", self.fasta, "--model", "resnetlm", "--checkpoint", ckpt],
                          "encoder.1.ffn.0.weight", "encoder.0.conv.1.bias")

    def test_precision_other_than_fp32_needs_cuda_and_a_network(self):
        ckpt = os.path.join(self.work, "prec_ckpt")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", ckpt, "--hidden-size", "16", "--n-layers", "2"])
        bed = self.write("ok5.bed", "chromosome\tstart\tend\tsplit\n%s\t1\t50\ttrain\n" % self.chrom)
        base = ["--bed", bed, "--genome", self.fasta]
        # a value outside the choices is a usage error (exit 2, docs/cli.md), before any work
        err = self.expect_error(base + ["--model", "resnetlm", "--checkpoint", ckpt, "--precision", "fp8"],
                                "--precision: fp8 not in", "bf16")
        self.assertIn("see `bend embed --help`", err)
        self.expect_error(base + ["--model", "resnetlm", "--checkpoint", ckpt, "--precision", "bf16"],
                          "--precision bf16 needs --cuda")
        if os.environ.get("BEND_CUDA_BUILD") == "OFF":  # --cuda itself is refused first
            self.expect_error(base + ["--model", "onehot", "--precision", "fp16", "--cuda"], "--cuda", "without CUDA")
        else:
            self.expect_error(base + ["--model", "onehot", "--precision", "fp16", "--cuda"], "onehot", "fp32")


if __name__ == "__main__":
    unittest.main()
