"""read_bed parses what the generator wrote: BEND header variants (strand / label / both,
tabs or runs of spaces, '#' header, extra columns, CRLF), headerless BED3/BED6, split order,
200k rows fast; every malformed input fails with "path:LINE: <problem>"; validate_regions
rejects unknown chromosomes and flanks past the chromosome ends."""
import os
import random
import shutil
import subprocess
import tempfile
import unittest

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_bed_dump")


def run_tool(path, *args):
    return subprocess.run([TOOL, path] + list(args), capture_output=True, text=True)


def generate(rng, n, strand, label, depth=18, splits=("train", "valid", "test"), extra=False):
    """Ground-truth rows: dicts with chrom, start, end, strand, ids, split."""
    chroms = ["chr%d" % i for i in range(1, 23)] + ["chrX", "chrUn_KI270302v1"]
    rows = []
    for _ in range(n):
        start = rng.randint(0, 10 ** 9)
        rows.append({
            "chrom": rng.choice(chroms),
            "start": start,
            "end": start + rng.randint(1, 100096),
            "strand": rng.choice("+-.") if strand else ".",
            "ids": sorted(rng.sample(range(depth), rng.randint(0, 4))) if label else [],
            "split": rng.choice(splits),
            "extra": "id%d" % rng.randint(0, 99999),
        })
    return rows


def write_bend(path, rows, strand, label, sep="\t", extra=False, hash_header=False, crlf=False,
               noise=False, rng=None):
    """Writes a BEND-style file; returns the 1-based line number of each data row."""
    cols = ["chromosome", "start", "end"] + (["name"] if extra else []) + \
        (["strand"] if strand else []) + (["label"] if label else []) + ["split"]
    nl = "\r\n" if crlf else "\n"

    def join(fields):
        if sep == "\t":
            return "\t".join(fields)
        out = fields[0]
        for f in fields[1:]:
            out += (" " * rng.randint(1, 3) if rng else " ") + f
        return out

    lines = [("#" if hash_header else "") + join(cols)]
    line_nos = []
    for r in rows:
        if noise and rng.random() < 0.01:
            lines.append("")
        if noise and rng.random() < 0.01:
            lines.append("# a comment")
        f = [r["chrom"], str(r["start"]), str(r["end"])]
        if extra:
            f.append(r["extra"])
        if strand:
            f.append(r["strand"])
        if label:
            text = ",".join(map(str, r["ids"]))
            if text or sep == "\t":
                f.append(text)  # an empty label vanishes between runs of spaces
        f.append(r["split"])
        lines.append(join(f))
        line_nos.append(len(lines))
    with open(path, "w", newline="") as fh:
        fh.write(nl.join(lines) + nl)
    return line_nos


def expected_dump(rows, line_nos, flags, default_split=None):
    chroms, splits = [], []
    out = []
    for i, (r, ln) in enumerate(zip(rows, line_nos)):
        split = r["split"] if default_split is None else default_split
        if r["chrom"] not in chroms:
            chroms.append(r["chrom"])
        if split not in splits:
            splits.append(split)
        out.append("\t".join([r["chrom"], str(r["start"]), str(r["end"]), r["strand"], split,
                              str(i), str(ln), ",".join(map(str, r["ids"])),
                              "%s:%d-%d(%s)" % (r["chrom"], r["start"], r["end"], r["strand"])]))
    return ["flags " + flags, "\t".join(["chroms"] + chroms), "\t".join(["splits"] + splits)] + out


class ParsesWhatWasWritten(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bend_bed_")
        self.rng = random.Random(2024)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self, path, rows, line_nos, flags, *args, default_split=None):
        p = run_tool(path, *args)
        self.assertEqual(p.returncode, 0, p.stderr)
        got = p.stdout.split("\n")[:-1]
        want = expected_dump(rows, line_nos, flags, default_split)
        self.assertEqual(got[:3], want[:3])
        self.assertEqual(len(got), len(want))
        for g, w in zip(got, want):
            self.assertEqual(g, w)
        return p

    def test_bend_header_variants_tabs_and_spaces(self):
        for strand in (False, True):
            for label in (False, True):
                for sep in ("\t", " "):
                    with self.subTest(strand=strand, label=label, sep=repr(sep)):
                        path = os.path.join(self.tmp, "t.bed")
                        rows = generate(self.rng, 500, strand, label)
                        lines = write_bend(path, rows, strand, label, sep=sep, rng=self.rng,
                                           noise=True)
                        flags = "header=1 strand=%d label=%d split=1" % (strand, label)
                        self.check(path, rows, lines, flags, "--depth", "18")

    def test_hash_header_extra_column_crlf(self):
        path = os.path.join(self.tmp, "t.bed")
        rows = generate(self.rng, 300, True, True)
        lines = write_bend(path, rows, True, True, extra=True, hash_header=True, crlf=True)
        self.check(path, rows, lines, "header=1 strand=1 label=1 split=1")

    def test_columns_after_the_first_three_are_found_by_name_in_any_order(self):
        """`split` need not be last (docs/formats.md): strand, label and split are looked up by name."""
        path = os.path.join(self.tmp, "t.bed")
        rows = generate(self.rng, 300, True, True)
        lines = write_bend(path, rows, True, True, extra=True)
        with open(path) as fh:
            table = [l.rstrip("\n").split("\t") for l in fh]
        # chromosome start end name strand label split -> chromosome start end split label name strand
        perm = [0, 1, 2, 6, 5, 3, 4]
        with open(path, "w") as fh:
            for f in table:
                fh.write("\t".join(f[i] for i in perm) + "\n")
        self.assertEqual(table[0][6], "split")
        self.check(path, rows, lines, "header=1 strand=1 label=1 split=1")

    def test_split_names_in_order_of_first_appearance(self):
        path = os.path.join(self.tmp, "t.bed")
        rows = generate(self.rng, 50, False, False, splits=["part%d" % i for i in range(1, 11)])
        rows[0]["split"] = "part7"
        lines = write_bend(path, rows, False, False)
        p = self.check(path, rows, lines, "header=1 strand=0 label=0 split=1")
        splits = p.stdout.split("\n")[2].split("\t")[1:]
        self.assertEqual(splits[0], "part7")

    def test_headerless_bed3_and_bed6(self):
        rows = generate(self.rng, 200, True, False)
        for kind in (3, 6):
            path = os.path.join(self.tmp, "b%d.bed" % kind)
            with open(path, "w") as f:
                for r in rows:
                    fields = [r["chrom"], str(r["start"]), str(r["end"])]
                    if kind == 6:
                        fields += ["name%d" % r["start"], "0", r["strand"]]
                    f.write("\t".join(fields) + "\n")
            want_rows = [dict(r, strand=r["strand"] if kind == 6 else ".") for r in rows]
            flags = "header=0 strand=%d label=0 split=0" % (kind == 6)
            self.check(path, want_rows, range(1, len(rows) + 1), flags, "--no-require-split",
                       "--default-split", "everything", default_split="everything")

    def test_200k_rows_parse_fast(self):
        path = os.path.join(self.tmp, "big.bed")
        rows = generate(self.rng, 200000, True, True)
        lines = write_bend(path, rows, True, True)
        p = self.check(path, rows, lines, "header=1 strand=1 label=1 split=1", "--depth", "18")
        seconds = float(p.stderr.split(" in ")[1].split()[0])
        print("bed: " + p.stderr.strip())
        self.assertLess(seconds, 2.0)


class Errors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bend_bed_err_")
        self.path = os.path.join(self.tmp, "bad.bed")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def error_of(self, text, *args):
        with open(self.path, "w") as f:
            f.write(text)
        p = run_tool(self.path, *args)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        return p.stderr

    def expect(self, text, line, problem, *args):
        msg = self.error_of(text, *args)
        self.assertIn("%s:%d: " % (self.path, line), msg)
        self.assertIn(problem, msg)

    H = "chromosome\tstart\tend\tstrand\tlabel\tsplit\n"

    def test_coordinates(self):
        self.expect(self.H + "chr1\tabc\t200\t+\t1\ttrain\n", 2, "start 'abc' is not a")
        self.expect(self.H + "chr1\t-5\t200\t+\t1\ttrain\n", 2, "start '-5' is not a")
        self.expect(self.H + "chr1\t5\t2x0\t+\t1\ttrain\n", 2, "end '2x0' is not a")
        self.expect(self.H + "chr1\t200\t200\t+\t1\ttrain\n", 2, "end 200 <= start 200")
        self.expect(self.H + "chr1\t1\t2\t+\t1\ttrain\n\n\nchr1\t300\t100\t+\t1\ttrain\n", 5,
                    "end 100 <= start 300")

    def test_columns(self):
        self.expect(self.H + "chr1\t1\t2\t+\n", 2, "missing columns")
        self.expect(self.H + "chr1\t1\t2\t+\t1\ttrain\tx\n", 2, "too many columns")
        self.expect("chr1\t1\n", 1, "missing columns", "--no-require-split")
        self.expect("chr1\t1\t5\tn\t0\t+\nchr1\t1\t5\n", 2, "missing columns",
                    "--no-require-split")

    def test_strand(self):
        self.expect(self.H + "chr1\t1\t2\tx\t1\ttrain\n", 2, "bad strand 'x'")
        self.expect("chr1\t1\t5\tn\t0\t*\n", 1, "bad strand '*'", "--no-require-split")

    def test_missing_split(self):
        self.expect("chromosome\tstart\tend\tlabel\nchr1\t1\t2\t0\n", 1, "missing split column")
        self.expect("chr1\t1\t2\n", 1, "missing split column")

    def test_labels(self):
        self.expect(self.H + "chr1\t1\t2\t+\t1,a\ttrain\n", 2, "label '1,a' is not")
        self.expect(self.H + "chr1\t1\t2\t+\t-1\ttrain\n", 2, "label '-1' is not")
        self.expect(self.H + "chr1\t1\t2\t+\t1.5\ttrain\n", 2, "label '1.5' is not")
        self.expect(self.H + "chr1\t1\t2\t+\t0,3\ttrain\n", 2, "label id 3 is >= label_depth 3",
                    "--depth", "3")

    def test_tab_rows_need_every_field(self):
        # One field short: the label is not silently taken as empty (all-zero labels).
        self.expect(self.H + "chr1\t1\t2\t+\ttrain\n", 2, "missing columns")
        # A trailing tab is an empty split, not the label read as the split name.
        self.expect(self.H + "chr1\t1\t2\t+\t1\t\n", 2, "empty split field (column 6)")
        self.expect(self.H + "chr1\t1\t2\t+\t1\t \n", 2, "empty split field")
        self.expect(self.H + "chr1\t1\t2\t\t1\ttrain\n", 2, "empty strand field (column 4)")
        self.expect(self.H + "\t1\t2\t+\t1\ttrain\n", 2, "empty chromosome field (column 1)")
        self.expect(self.H + "chr1\t\t2\t+\t1\ttrain\n", 2, "empty start field (column 2)")

    def test_space_rows_missing_split_is_not_an_empty_label(self):
        H = "chromosome start end strand label split\n"
        self.expect(H + "chr1 1 2 + 1\n", 2, "missing columns")
        self.expect(H + "chr1 1 2 + 1,3\n", 2, "missing columns")

    def test_empty_label_stays_allowed(self):
        for text in (self.H + "chr1\t1\t2\t+\t\ttrain\n",
                     "chromosome start end strand label split\nchr1 1 2 + train\n"):
            with open(self.path, "w") as f:
                f.write(text)
            p = run_tool(self.path)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("\ttrain\t0\t2\t\t", p.stdout)

    def test_split_names_must_be_safe_file_names(self):
        for bad in ("../../x", "a/b", ".hidden", "x y", "tr\\ain", "a" * 65, "sp$lit"):
            with self.subTest(split=bad):
                self.expect(self.H + "chr1\t1\t2\t+\t1\ttrain\nchr1\t1\t2\t+\t1\t%s\n" % bad, 3,
                            "split name '%s'" % bad)
        for good in ("train", "part10", "fold_1", "valid-2", "v1.2", "A" * 64):
            with open(self.path, "w") as f:
                f.write(self.H + "chr1\t1\t2\t+\t1\t%s\n" % good)
            p = run_tool(self.path)
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_fifo_is_refused_not_waited_on(self):
        fifo = os.path.join(self.tmp, "fifo.bed")
        os.mkfifo(fifo)
        p = subprocess.run([TOOL, fifo], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a regular file", p.stderr)

    def test_empty_and_missing_files(self):
        msg = self.error_of("")
        self.assertIn(self.path, msg)
        self.assertIn("no data rows", msg)
        p = run_tool(os.path.join(self.tmp, "nope.bed"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("nope.bed", p.stderr)
        self.assertIn("not found", p.stderr)


class Validate(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bend_bed_val_")
        self.fa = os.path.join(self.tmp, "g.fa")
        rng = random.Random(5)
        with open(self.fa, "w") as f:
            for i in range(1, 16):
                f.write(">chr%d\n" % i)
                seq = "".join(rng.choice("ACGT") for _ in range(180 + i))
                for k in range(0, len(seq), 60):
                    f.write(seq[k:k + 60] + "\n")
        self.bed = os.path.join(self.tmp, "t.bed")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_bed(self, rows, flank):
        with open(self.bed, "w") as f:
            f.write("chromosome\tstart\tend\tsplit\n")
            for c, s, e in rows:
                f.write("%s\t%d\t%d\ttrain\n" % (c, s, e))
        return run_tool(self.bed, "--fasta", self.fa, "--flank", str(flank))

    def test_regions_inside_pass(self):
        p = self.run_bed([("chr1", 50, 131), ("chr15", 0, 195)], 0)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.run_bed([("chr1", 50, 131)], 50)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_unknown_chromosome_lists_at_most_ten(self):
        p = self.run_bed([("chr1", 0, 10), ("chr2", 0, 10), ("chrX", 5, 10)], 0)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s:4: unknown chromosome 'chrX' (FASTA %s has: chr1, chr2, chr3, chr4, "
                      "chr5, chr6, chr7, chr8, chr9, chr10, ... (15 in total))"
                      % (self.bed, self.fa), p.stderr)

    def test_flank_past_either_end(self):
        p = self.run_bed([("chr1", 50, 100), ("chr1", 100, 140)], 50)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s:3: region chr1:100-140 with flank 50 extends past the end of chr1 "
                      "(length 181) in %s" % (self.bed, self.fa), p.stderr)
        p = self.run_bed([("chr2", 49, 100)], 50)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s:2: region chr2:49-100 with flank 50 starts before the beginning of "
                      "chr2" % self.bed, p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
