"""FastaReader extraction equals `samtools faidx` (upper-cased, non-ACGT -> N; `-i` for the
minus strand) on generated FASTAs (plain, bgzip, CRLF, without index) and on real hg38 sequence.
Also pins down the error messages for files faidx cannot serve."""
import os
import random
import shutil
import subprocess
import tempfile
import threading
import unittest

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_fetch")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")  # tests/data: real test data
HG38 = os.path.join(DATA, "genome", "hg38_chr2_1-2333275.fa.gz")

ACGT = set("ACGT")
IUPAC = "RYKMSWBDHVN"


def normalize(seq):
    """The reference normalization, written independently of the C++ tables."""
    return "".join(c if c in ACGT else "N" for c in seq.upper())


def random_sequence(rng, n):
    """Mostly ACGT with soft-masked runs, N runs and scattered IUPAC codes (any case)."""
    out = []
    while len(out) < n:
        r = rng.random()
        run = rng.randint(1, 40)
        if r < 0.6:
            out.extend(rng.choice("ACGT") for _ in range(run))
        elif r < 0.8:
            out.extend(rng.choice("acgt") for _ in range(run))
        elif r < 0.9:
            out.extend(rng.choice("Nn") * run)
        else:
            out.extend(rng.choice(IUPAC + IUPAC.lower()) for _ in range(rng.randint(1, 3)))
    return "".join(out[:n])


def write_fasta(path, chroms, crlf=False):
    """chroms: list of (name, seq, line_width)."""
    nl = "\r\n" if crlf else "\n"
    with open(path, "w", newline="") as f:
        for name, seq, width in chroms:
            f.write(">" + name + " some description" + nl)
            for i in range(0, len(seq), width):
                f.write(seq[i:i + width] + nl)


def make_chroms(rng):
    specs = [("chr1", 5000, 60), ("chr2", 777, 50), ("chrUn_KI270302v1", 1200, 80),
             ("chrM", 61, 61), ("chr_short", 7, 3), ("chrX", 2500, 70)]
    return [(name, random_sequence(rng, n), w) for name, n, w in specs]


def random_regions(rng, lengths, n):
    """lengths: {chrom: len}. Random regions plus the edges of every chromosome."""
    regions = []
    names = sorted(lengths)
    for name in names:
        L = lengths[name]
        regions += [(name, 0, 1), (name, L - 1, L), (name, 0, L)]
    for _ in range(n):
        name = rng.choice(names)
        L = lengths[name]
        size = min(L, rng.choice([1, 2, 3, 10, 59, 60, 61, 120, 512, L]))
        start = rng.randint(0, L - size)
        regions.append((name, start, start + size))
    return [(c, s, e, rng.choice("+-")) for c, s, e in regions]


def samtools_fetch(fasta, regions, tmp):
    """Sequences of `regions` from samtools faidx (minus strand via -i), normalized."""
    out = [None] * len(regions)
    for strand in "+-":
        idx = [i for i, r in enumerate(regions) if r[3] == strand]
        if not idx:
            continue
        reg_file = os.path.join(tmp, "samtools_regions.txt")
        with open(reg_file, "w") as f:
            for i in idx:
                c, s, e, _ = regions[i]
                f.write("%s:%d-%d\n" % (c, s + 1, e))
        cmd = ["samtools", "faidx", fasta, "-r", reg_file, "-n", "1000000000"]
        if strand == "-":
            cmd.append("-i")
        text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        records = text.split(">")[1:]
        assert len(records) == len(idx), (len(records), len(idx))
        for i, rec in zip(idx, records):
            out[i] = normalize("".join(rec.split("\n")[1:]).strip())
    return out


def tool_fetch(fasta, regions, tmp, **kw):
    reg_file = os.path.join(tmp, "tool_regions_%d.txt" % threading.get_ident())
    with open(reg_file, "w") as f:
        for c, s, e, strand in regions:
            f.write("%s\t%d\t%d\t%s\n" % (c, s, e, strand))
    p = subprocess.run([TOOL, fasta, reg_file], capture_output=True, text=True, **kw)
    return p


def run_ok(fasta, regions, tmp):
    p = tool_fetch(fasta, regions, tmp)
    if p.returncode != 0:
        raise AssertionError("tool_fetch failed: " + p.stderr)
    lines = p.stdout.split("\n")
    assert lines[-1] == ""
    return lines[:-1]


class FetchMatchesSamtools(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bend_genome_")
        self.rng = random.Random(1234)
        self.chroms = make_chroms(self.rng)
        self.lengths = {name: len(seq) for name, seq, _ in self.chroms}

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def dirs(self):
        ours, ref = os.path.join(self.tmp, "ours"), os.path.join(self.tmp, "ref")
        os.makedirs(ours)
        os.makedirs(ref)
        return ours, ref

    def check_same(self, our_fa, ref_fa, n=2000):
        regions = random_regions(self.rng, self.lengths, n)
        got = run_ok(our_fa, regions, self.tmp)
        want = samtools_fetch(ref_fa, regions, self.tmp)
        self.assertEqual(len(got), len(want))
        for r, g, w in zip(regions, got, want):
            self.assertEqual(g, w, "region %s" % (r,))

    def test_plain_fasta_without_index_builds_the_samtools_index(self):
        ours, ref = self.dirs()
        write_fasta(os.path.join(ours, "g.fa"), self.chroms)
        shutil.copy(os.path.join(ours, "g.fa"), ref)
        self.assertFalse(os.path.exists(os.path.join(ours, "g.fa.fai")))
        self.check_same(os.path.join(ours, "g.fa"), os.path.join(ref, "g.fa"))
        with open(os.path.join(ours, "g.fa.fai"), "rb") as a, \
                open(os.path.join(ref, "g.fa.fai"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual([n for n in os.listdir(ours) if ".tmp." in n], [])

    def test_bgzip_fasta_without_index_builds_fai_and_gzi(self):
        ours, ref = self.dirs()
        plain = os.path.join(self.tmp, "g.fa")
        write_fasta(plain, self.chroms)
        for d in (ours, ref):
            with open(os.path.join(d, "g.fa.gz"), "wb") as f:
                subprocess.run(["bgzip", "-c", "-l", "1", plain], stdout=f, check=True)
        self.check_same(os.path.join(ours, "g.fa.gz"), os.path.join(ref, "g.fa.gz"))
        for ext in (".fai", ".gzi"):
            with open(os.path.join(ours, "g.fa.gz" + ext), "rb") as a, \
                    open(os.path.join(ref, "g.fa.gz" + ext), "rb") as b:
                self.assertEqual(a.read(), b.read(), ext)

    def test_crlf_line_endings(self):
        ours, ref = self.dirs()
        write_fasta(os.path.join(ours, "g.fa"), self.chroms, crlf=True)
        shutil.copy(os.path.join(ours, "g.fa"), ref)
        self.check_same(os.path.join(ours, "g.fa"), os.path.join(ref, "g.fa"))

    def test_chromosomes_in_fai_order_with_lengths(self):
        fa = os.path.join(self.tmp, "g.fa")
        write_fasta(fa, self.chroms)
        p = subprocess.run([TOOL, "--chroms", fa], capture_output=True, text=True, check=True)
        got = [tuple(line.split("\t")) for line in p.stdout.splitlines()]
        self.assertEqual(got, [(name, str(len(seq))) for name, seq, _ in self.chroms])

    def test_concurrent_readers_build_the_index_once_atomically(self):
        fa = os.path.join(self.tmp, "g.fa.gz")
        plain = os.path.join(self.tmp, "plain.fa")
        write_fasta(plain, self.chroms)
        with open(fa, "wb") as f:
            subprocess.run(["bgzip", "-c", plain], stdout=f, check=True)
        regions = random_regions(self.rng, self.lengths, 300)
        results = [None] * 6

        def worker(i):
            results[i] = tool_fetch(fa, regions, self.tmp)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        want = samtools_fetch(plain, regions, self.tmp)
        for p in results:
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.split("\n")[:-1], want)


class FetchRealHg38(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bend_hg38_")
        for ext in ("", ".fai", ".gzi"):
            shutil.copy(HG38 + ext, self.tmp)
        self.fa = os.path.join(self.tmp, os.path.basename(HG38))
        with open(self.fa + ".fai") as f:
            name, length = f.readline().split("\t")[:2]
        self.chrom, self.len = name, int(length)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_random_regions_including_leading_n_run(self):
        rng = random.Random(38)
        c, L = self.chrom, self.len
        fixed = [(0, 512), (0, 10000), (9990, 10010), (9999, 10001), (10000, 10512),
                 (0, 100096), (L - 512, L), (L - 1, L), (0, L)]
        regions = [(c, s, e, strand) for s, e in fixed for strand in "+-"]
        for _ in range(3000):
            size = rng.choice([1, 2, 50, 128, 512, 1000, 5000, 100096])
            start = rng.randint(0, 12000) if rng.random() < 0.2 else rng.randint(0, L - size)
            regions.append((c, start, start + size, rng.choice("+-")))
        got = run_ok(self.fa, regions, self.tmp)
        want = samtools_fetch(self.fa, regions, self.tmp)
        self.assertEqual(got[0], "N" * 512)
        for r, g, w in zip(regions, got, want):
            self.assertEqual(g, w, "region %s" % (r,))

    def test_plain_copy_in_sorted_shuffled_and_overlapping_order(self):
        # A plain FASTA is read with pread: sorted rows through 256 KiB read-ahead windows (rows
        # straddling a window's end, gaps just inside and just past the read-ahead distance),
        # other rows with reads of their own bytes. Every order must give samtools' sequences.
        import gzip
        plain = os.path.join(self.tmp, "plain.fa")
        with gzip.open(self.fa, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        rng = random.Random(512)
        c, L = self.chrom, self.len
        sorted_rows, pos = [], 9000
        while pos < L - 300000:
            size = rng.choice([1, 513, 4096, 70000, 300000])
            sorted_rows.append((c, pos, pos + size, rng.choice("+-")))
            pos += rng.choice([-200, 0, 1, 511, 100000, 262144, 262200, 400000])
            pos = max(pos, 0)
        shuffled = list(sorted_rows)
        rng.shuffle(shuffled)
        # A row far from the last one, then the same row one base on: the second needs one byte
        # more than the first read.
        step = [(c, x + d, x + d + 513, "+") for x in rng.sample(range(L - 600), 200) for d in (0, 1)]
        regions = (sorted_rows + shuffled + [(c, L - 513, L, "+"), (c, 0, 513, "-")] + step
                   + sorted_rows[::-1])
        got = run_ok(plain, regions, self.tmp)
        want = samtools_fetch(plain, regions, self.tmp)
        self.assertEqual(len(got), len(want))
        for r, g, w in zip(regions, got, want):
            self.assertEqual(g, w, "region %s" % (r,))

    def test_many_short_regions_are_fast(self):
        rng = random.Random(7)
        regions = []
        for _ in range(100000):
            s = rng.randint(0, self.len - 512)
            regions.append((self.chrom, s, s + 512, rng.choice("+-")))
        regions.sort(key=lambda r: r[1])
        p = tool_fetch(self.fa, regions, self.tmp)
        self.assertEqual(p.returncode, 0, p.stderr)
        seconds = float(p.stderr.split(" in ")[1].split()[0])
        print("hg38: " + p.stderr.strip())
        self.assertLess(seconds, 20.0)
        lines = p.stdout.split("\n")
        self.assertEqual(len(lines), len(regions) + 1)
        spot = rng.sample(range(len(regions)), 200)
        want = samtools_fetch(self.fa, [regions[i] for i in spot], self.tmp)
        self.assertEqual([lines[i] for i in spot], want)


class FetchErrors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bend_genome_err_")
        self.rng = random.Random(99)
        self.chroms = make_chroms(self.rng)
        self.plain = os.path.join(self.tmp, "g.fa")
        write_fasta(self.plain, self.chroms)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def error_of(self, fasta, regions=(("chr1", 0, 10, "+"),), **kw):
        p = tool_fetch(fasta, list(regions), self.tmp, **kw)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        return p.stderr

    def test_plain_gzip_says_recompress_with_bgzip(self):
        gz = os.path.join(self.tmp, "plain.fa.gz")
        with open(gz, "wb") as f:
            subprocess.run(["gzip", "-c", self.plain], stdout=f, check=True)
        msg = self.error_of(gz)
        self.assertIn(gz, msg)
        self.assertIn("plain gzip", msg)
        self.assertIn("recompress with bgzip", msg)

    def test_missing_file_and_directory(self):
        missing = os.path.join(self.tmp, "nope.fa")
        msg = self.error_of(missing)
        self.assertIn(missing, msg)
        self.assertIn("not found", msg)
        msg = self.error_of(self.tmp)
        self.assertIn("is a directory", msg)

    def test_unwritable_directory_for_the_index(self):
        # Root may write anywhere, so as root the tool runs as user nobody.
        ro = os.path.join(self.tmp, "ro")
        os.makedirs(ro)
        shutil.copy(self.plain, ro)
        os.chmod(self.tmp, 0o755)
        os.chmod(os.path.join(ro, "g.fa"), 0o644)
        os.chmod(ro, 0o555)

        def drop():
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)

        try:
            msg = self.error_of(os.path.join(ro, "g.fa"), preexec_fn=drop)
        finally:
            os.chmod(ro, 0o755)
        self.assertIn("not writable", msg)
        self.assertIn(ro, msg)

    def test_out_of_range_and_unknown_chromosome(self):
        L = len(self.chroms[0][1])
        msg = self.error_of(self.plain, [("chr1", L - 5, L + 1, "+")])
        self.assertIn("chr1:%d-%d" % (L - 5, L + 1), msg)
        self.assertIn("length %d" % L, msg)
        self.assertIn(self.plain, msg)
        msg = self.error_of(self.plain, [("chrZ", 0, 10, "-")])
        self.assertIn("unknown chromosome 'chrZ'", msg)
        self.assertIn(self.plain, msg)

    def test_fasta_shorter_than_its_index_names_region_and_file(self):
        subprocess.run(["samtools", "faidx", self.plain], check=True)
        size = os.path.getsize(self.plain)
        with open(self.plain, "r+b") as f:
            f.truncate(size - 100)
        L = len(self.chroms[-1][1])
        msg = self.error_of(self.plain, [("chr1", 0, 10, "+"), ("chrX", L - 10, L, "+")])
        self.assertIn("chrX:%d-%d" % (L - 10, L), msg)
        self.assertIn(self.plain, msg)
        self.assertIn("stale .fai", msg)

    def test_ragged_lines_cannot_be_indexed(self):
        bad = os.path.join(self.tmp, "ragged.fa")
        with open(bad, "w") as f:
            f.write(">chr1\nACGTACGT\nACG\nACGTACGT\n")
        msg = self.error_of(bad)
        self.assertIn(bad, msg)
        self.assertIn("building the index", msg)


if __name__ == "__main__":
    unittest.main(verbosity=2)
