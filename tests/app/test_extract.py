"""`bend extract` writes exactly what samtools faidx extracts (-i for minus-strand rows),
upper-cased with every non-ACGT byte as N, on the demo genome and on real hg38 sequence
(bgzip, soft-masked, N runs); bad input exits non-zero naming file:line."""
import os
import random
import shutil
import unittest

import bendtest as bt


def samtools_seqs(fasta, regions, reverse):
    """Sequences of 0-based half-open (chrom, start, end) regions from samtools faidx, one call."""
    if not regions:
        return []
    args = ["samtools", "faidx"] + (["-i"] if reverse else []) + [fasta]
    args += ["%s:%d-%d" % (c, s + 1, e) for c, s, e in regions]
    out = bt.run(args).stdout
    seqs, cur = [], None
    for line in out.splitlines():
        if line.startswith(">"):
            if cur is not None:
                seqs.append("".join(cur))
            cur = []
        else:
            cur.append(line)
    seqs.append("".join(cur))
    return ["".join(ch if ch in "ACGT" else "N" for ch in s.upper()) for s in seqs]


def read_fasta(path):
    names, seqs = [], []
    lines = bt.read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for i in range(0, len(lines), 2):  # bend writes one sequence line per record
        names.append(lines[i])
        seqs.append(lines[i + 1])
    return names, seqs


class Extract(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir()

    def check_against_samtools(self, bed, fasta, rows, flank=0, read_strand=True, extra=()):
        """rows: [(chrom, start, end, strand)] in BED order (the BED has them all)."""
        out = os.path.join(self.work, "out%d.fa" % random.getrandbits(32))
        args = ["extract", "--bed", bed, "--genome", fasta, "--out", out, "--flank", str(flank)]
        bt.bend(args + (["--read-strand"] if read_strand else []) + list(extra))
        self.assertFalse(os.path.exists(out + ".tmp"))
        names, seqs = read_fasta(out)
        self.assertEqual(len(seqs), len(rows))
        wide = [(c, s - flank, e + flank) for c, s, e, _ in rows]
        minus = [read_strand and r[3] == "-" for r in rows]
        plus_seqs = iter(samtools_seqs(fasta, [w for w, m in zip(wide, minus) if not m], False))
        minus_seqs = iter(samtools_seqs(fasta, [w for w, m in zip(wide, minus) if m], True))
        for i, (w, m) in enumerate(zip(wide, minus)):
            want = next(minus_seqs) if m else next(plus_seqs)
            self.assertEqual(names[i], ">%s:%d-%d(%s)" % (w[0], w[1], w[2], rows[i][3]))
            self.assertEqual(seqs[i], want, "row %d %s" % (i, names[i]))
        return seqs

    def test_demo_histone_both_strands_matches_samtools(self):
        data = bt.demo_data()
        bed = os.path.join(data, "histone_demo", "histone_demo.bed")
        rows = [l.split("\t") for l in bt.read_text(bed).splitlines()[1:]]
        rows = [(r[0], int(r[1]), int(r[2]), r[3]) for r in rows]
        self.assertIn("-", [r[3] for r in rows])
        for fa in ("demo.fa", "demo.fa.gz"):
            self.check_against_samtools(bed, os.path.join(data, "genome", fa), rows)
        # without --read-strand every row is read forward
        self.check_against_samtools(bed, os.path.join(data, "genome", "demo.fa"), rows, read_strand=False)

    def test_demo_genefind_with_flank_and_split(self):
        data = bt.demo_data()
        bed = os.path.join(data, "genefind_demo", "genefind_demo.bed")
        lines = bt.read_text(bed).splitlines()
        head = lines[0].split("\t")
        rows = [dict(zip(head, l.split("\t"))) for l in lines[1:]]
        test_rows = [(r[head[0]], int(r[head[1]]), int(r[head[2]]), r.get("strand", ".")) for r in rows
                     if r["split"] == "test"]
        self.assertGreater(len(test_rows), 0)
        fa = os.path.join(data, "genome", "demo.fa")
        fai = dict((l.split("\t")[0], int(l.split("\t")[1])) for l in bt.read_text(fa + ".fai").splitlines())
        flank = 50
        self.assertTrue(all(s >= flank and e + flank <= fai[c] for c, s, e, _ in test_rows))
        self.check_against_samtools(bed, fa, test_rows, flank=flank, extra=["--splits", "test"])

    def test_real_hg38_soft_masked_with_n_runs(self):
        src = os.path.join(bt.TEST_DATA, "genome")
        gdir = os.path.join(self.work, "hg38")
        shutil.copytree(src, gdir)
        fa = os.path.join(gdir, "hg38_chr2_1-2333275.fa.gz")
        chrom, length = bt.read_text(fa + ".fai").split("\t")[:2]
        length = int(length)
        rng = random.Random(7)
        rows = [(chrom, 0, 12_000, "+"), (chrom, 9_990, 10_500, "-"), (chrom, length - 700, length, "-")]
        for _ in range(200):
            n = rng.choice([512, 1000, 4096])
            s = rng.randrange(0, length - n)
            rows.append((chrom, s, s + n, rng.choice("+-")))
        bed = os.path.join(self.work, "hg38.bed")  # headerless BED6, no split column
        with open(bed, "w") as f:
            for i, (c, s, e, st) in enumerate(rows):
                f.write("%s\t%d\t%d\tr%d\t0\t%s\n" % (c, s, e, i, st))
        seqs = self.check_against_samtools(bed, fa, rows)
        self.assertTrue(seqs[0].startswith("N" * 10_000))  # the leading N run survives
        self.assertTrue(any(ch in "ACGT" for ch in seqs[0][10_000:]))

    def expect_error(self, bed_text, *needles, genome=None):
        bed = os.path.join(self.work, "bad%d.bed" % random.getrandbits(32))
        with open(bed, "w") as f:
            f.write(bed_text)
        out = os.path.join(self.work, "bad.fa")
        fa = genome or os.path.join(bt.demo_data(), "genome", "demo.fa")
        p = bt.bend(["extract", "--bed", bed, "--genome", fa, "--out", out, "--read-strand"], check=False)
        self.assertNotEqual(p.returncode, 0)
        for n in needles:
            self.assertIn(n, p.stderr)
        self.assertFalse(os.path.exists(out) or os.path.exists(out + ".tmp"), "output left after an error")

    def test_bad_input_names_file_and_line(self):
        name = os.path.basename
        self.expect_error("chr1\t10\t20\nchr1\t1x\t20\n", ".bed:2", "1x")
        self.expect_error("chr1\t10\t20\nchr1\t30\t30\n", ".bed:2")
        self.expect_error("chr1\t10\t20\nchr1\t10\t20\nchrNope\t1\t5\n", ".bed:3", "chrNope")
        self.expect_error("chr1\t10\t20\nchr1\t10\t999999999\n", ".bed:2")
        self.expect_error("chr1\t10\t20\tx\t0\t*\n", ".bed:1")
        missing = os.path.join(self.work, "missing.fa")
        self.expect_error("chr1\t10\t20\n", name(missing), genome=missing)


if __name__ == "__main__":
    unittest.main()
