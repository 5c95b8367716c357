"""Label sources serve what h5py reads: fixed-shape int/float datasets of several types and
ranks (also chunked + gzip, nested groups), variable-length int/float rows; the label column
becomes a multi-hot row; reads from several threads agree; bad files fail with clear messages."""
import os
import random
import shutil
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_labels")


def run_tool(*args):
    return subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True)


def parse_rows(stdout):
    """-> (describe line, [(row, is_float, shape tuple, values list)])."""
    lines = stdout.split("\n")[:-1]
    rows = []
    for line in lines[1:]:
        row, is_float, shape, values = line.split("\t")
        shape = tuple(int(x) for x in shape.split(",")) if shape else ()
        conv = (lambda v: np.float32(float(v))) if is_float == "1" else int
        vals = [conv(v) for v in values.split(",")] if values else []
        rows.append((int(row), is_float == "1", shape, vals))
    return lines[0], rows


class Hdf5Rows(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bend_labels_")
        self.h5 = os.path.join(self.tmp, "task.hdf5")
        self.rng = np.random.default_rng(11)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def served(self, dataset, n, *extra):
        p = run_tool(*extra, "hdf5", self.h5, dataset, n)
        self.assertEqual(p.returncode, 0, p.stderr)
        return parse_rows(p.stdout)

    def assert_fixed(self, dataset, n, *extra):
        with h5py.File(self.h5, "r") as f:
            ref = f[dataset][()]
        desc, rows = self.served(dataset, n, *extra)
        is_float = ref.dtype.kind == "f"
        self.assertEqual(len(rows), n)
        for i, (row, got_float, shape, vals) in enumerate(rows):
            self.assertEqual(row, i)
            self.assertEqual(got_float, is_float)
            self.assertEqual(shape, ref.shape[1:])
            want = ref[i].reshape(-1)
            want = want.astype(np.float32) if is_float else want.astype(np.int64)
            self.assertEqual(vals, list(want), "%s row %d" % (dataset, i))
        return desc

    def test_fixed_shape_int_and_float_datasets(self):
        n = 40
        with h5py.File(self.h5, "w") as f:
            f["u8"] = self.rng.integers(0, 2, size=(n, 18), dtype=np.uint8)
            f["i32"] = self.rng.integers(-5, 9, size=(n,), dtype=np.int32)
            f["i64"] = self.rng.integers(-2 ** 40, 2 ** 40, size=(n, 3, 4), dtype=np.int64)
            f["f32"] = self.rng.standard_normal((n, 782)).astype(np.float32)
            f["f64"] = self.rng.standard_normal((n, 5))
            f.create_dataset("chunked", data=self.rng.integers(0, 9, size=(n, 100),
                                                                dtype=np.int8),
                             chunks=(7, 100), compression="gzip")
            f.create_group("grp")["labels"] = self.rng.integers(0, 9, size=(n, 2), dtype=np.int16)
        for name in ("u8", "i32", "i64", "f32", "f64", "chunked", "grp/labels"):
            with self.subTest(dataset=name):
                desc = self.assert_fixed(name, n)
                self.assertIn(self.h5, desc)

    def test_variable_length_int_and_float_rows(self):
        n = 30
        lens = [int(x) for x in self.rng.integers(0, 300, size=n)]
        lens[3] = 0
        with h5py.File(self.h5, "w") as f:
            di = f.create_dataset("vi", (n,), dtype=h5py.vlen_dtype(np.int8))
            di64 = f.create_dataset("vi64", (n,), dtype=h5py.vlen_dtype(np.int64))
            df = f.create_dataset("vf", (n,), dtype=h5py.vlen_dtype(np.float32))
            for i, L in enumerate(lens):
                di[i] = self.rng.integers(0, 9, size=L, dtype=np.int8)
                di64[i] = self.rng.integers(-2 ** 50, 2 ** 50, size=L, dtype=np.int64)
                df[i] = self.rng.standard_normal(L).astype(np.float32)
        for name, is_float in (("vi", False), ("vi64", False), ("vf", True)):
            with h5py.File(self.h5, "r") as f:
                ref = [f[name][i] for i in range(n)]
            desc, rows = self.served(name, n)
            self.assertIn("vlen", desc)
            for i, (row, got_float, shape, vals) in enumerate(rows):
                self.assertEqual(got_float, is_float)
                self.assertEqual(shape, (lens[i],))
                want = ref[i].astype(np.float32 if is_float else np.int64)
                self.assertEqual(vals, list(want), "%s row %d" % (name, i))

    def test_rows_read_from_threads_agree(self):
        n = 200
        with h5py.File(self.h5, "w") as f:
            f.create_dataset("labels", data=self.rng.integers(0, 9, size=(n, 64)),
                             chunks=(16, 64), compression="gzip")
            d = f.create_dataset("vlen", (n,), dtype=h5py.vlen_dtype(np.int64))
            for i in range(n):
                d[i] = np.arange(i % 17)
        for name in ("labels", "vlen"):
            p = run_tool("--threads", 4, "hdf5", self.h5, name, n)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("threads ok", p.stderr)


class Hdf5Errors(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bend_labels_err_")
        self.h5 = os.path.join(self.tmp, "task.hdf5")
        with h5py.File(self.h5, "w") as f:
            f["labels"] = np.zeros((99, 3), dtype=np.int64)
            f["names"] = np.array([b"a", b"b"])
            f["scalar"] = np.int64(3)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def error_of(self, *args):
        p = run_tool(*args)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        return p.stderr

    def test_row_count_mismatch_names_both_files(self):
        msg = self.error_of("hdf5", self.h5, "labels", 100, "/data/task.bed")
        self.assertIn("%s: dataset 'labels' has 99 rows but BED /data/task.bed has 100 data rows"
                      % self.h5, msg)

    def test_missing_dataset_is_named_with_how_to_list_the_file(self):
        # The file's names are no longer listed: on a corrupt file that crashed inside libhdf5
        # (tests/fuzz/corpus/h5_labels/sigsegv-in-name-listing.hdf5, replayed by fuzz/h5_labels).
        msg = self.error_of("hdf5", self.h5, "label", 99)
        self.assertIn("%s: dataset 'label' not found" % self.h5, msg)
        self.assertIn("h5ls %s" % self.h5, msg)
        crash = os.path.join(os.environ.get("BEND_SOURCE_DIR", "."), "tests", "fuzz", "corpus",
                             "h5_labels", "sigsegv-in-name-listing.hdf5")
        for name in ("labels", "missing"):
            p = run_tool("hdf5", crash, name, 4)
            self.assertEqual(p.returncode, 1, p.stderr)

    def test_missing_file_and_not_hdf5(self):
        missing = os.path.join(self.tmp, "nope.hdf5")
        msg = self.error_of("hdf5", missing, "labels", 99)
        self.assertIn(missing, msg)
        text = os.path.join(self.tmp, "text.hdf5")
        with open(text, "w") as f:
            f.write("not hdf5\n")
        msg = self.error_of("hdf5", text, "labels", 99)
        self.assertIn("%s: not an HDF5 file" % text, msg)

    def test_values_outside_the_label_range_are_refused(self):
        with h5py.File(self.h5, "a") as f:
            bad = np.zeros((99, 3), dtype=np.int64)
            bad[41, 2] = -1
            f["negative"] = bad
            big = np.zeros((99, 3), dtype=np.int64)
            big[7, 0] = 9
            f["big"] = big
            fl = np.zeros((99, 2), dtype=np.float32)
            fl[3, 1] = np.nan
            f["nan"] = fl
        msg = self.error_of("hdf5", self.h5, "negative", 99, "t.bed", 4)
        self.assertIn("%s:/negative: row 41, value 2: label -1 is outside 0..3" % self.h5, msg)
        msg = self.error_of("hdf5", self.h5, "big", 99, "t.bed", 9)
        self.assertIn("%s:/big: row 7, value 0: label 9 is outside 0..8" % self.h5, msg)
        msg = self.error_of("hdf5", self.h5, "nan", 99)
        self.assertIn("%s:/nan: row 3, value 1: label nan is not finite" % self.h5, msg)
        # In range (depth 10, or 0/1 flags with depth 1) reads fine.
        for depth in ("10", "1"):
            p = run_tool("hdf5", self.h5, "labels", 99, "t.bed", depth)
            self.assertEqual(p.returncode, 0, p.stderr)

    def test_corrupt_files_fail_cleanly_never_crash(self):
        # Every single-byte change in the file's metadata (first 2 KiB) either still reads or
        # is a clear error; a signal (SIGSEGV inside libhdf5 while listing names for the
        # "not found" message) is the failure this pins down.
        with open(self.h5, "rb") as f:
            data = f.read()
        rng = np.random.default_rng(19)
        bad = os.path.join(self.tmp, "corrupt.hdf5")
        crashes = []
        for i in range(120):
            b = bytearray(data)
            for pos in rng.integers(0, min(len(b), 2048), size=3):
                b[pos] = int(rng.integers(0, 256))
            with open(bad, "wb") as f:
                f.write(b)
            for name in ("labels", "missing"):
                p = subprocess.run([TOOL, "hdf5", bad, name, "99"], capture_output=True, text=True, errors="replace",
                                   timeout=60)
                if p.returncode not in (0, 1):
                    crashes.append((i, name, p.returncode, p.stderr[-300:]))
        self.assertEqual(crashes, [])

    def test_unsupported_types(self):
        msg = self.error_of("hdf5", self.h5, "names", 2)
        self.assertIn("unsupported element type", msg)
        msg = self.error_of("hdf5", self.h5, "scalar", 1)
        self.assertIn("scalar", msg)


class ColumnAndNone(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="bend_labels_col_")
        self.bed = os.path.join(self.tmp, "t.bed")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_label_column_is_multi_hot(self):
        rng = random.Random(3)
        depth = 18
        ids = [sorted(rng.sample(range(depth), rng.randint(0, 5))) for _ in range(300)]
        with open(self.bed, "w") as f:
            f.write("chromosome\tstart\tend\tstrand\tlabel\tsplit\n")
            for i, row in enumerate(ids):
                f.write("chr1\t%d\t%d\t+\t%s\ttrain\n" % (i, i + 10, ",".join(map(str, row))))
        p = run_tool("column", self.bed, depth)
        self.assertEqual(p.returncode, 0, p.stderr)
        _, rows = parse_rows(p.stdout)
        self.assertEqual(len(rows), len(ids))
        for (row, is_float, shape, vals), want_ids in zip(rows, ids):
            self.assertFalse(is_float)
            self.assertEqual(shape, (depth,))
            self.assertEqual(vals, [1 if k in want_ids else 0 for k in range(depth)])

    def test_label_id_beyond_depth_names_the_line(self):
        with open(self.bed, "w") as f:
            f.write("chromosome\tstart\tend\tlabel\tsplit\nchr1\t0\t5\t1\ttrain\n"
                    "chr1\t0\t5\t0,7\ttrain\n")
        p = run_tool("column", self.bed, 7)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s:3: label id 7 is >= label_depth 7" % self.bed, p.stderr)

    def test_no_labels_rows_are_empty(self):
        p = run_tool("none", 3)
        self.assertEqual(p.returncode, 0, p.stderr)
        _, rows = parse_rows(p.stdout)
        self.assertEqual(rows, [(i, False, (0,), []) for i in range(3)])


if __name__ == "__main__":
    unittest.main(verbosity=2)
