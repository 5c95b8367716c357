"""Shard inspection (inspect_shard through tool_tfrecord, and `bend inspect` when the bend
binary is built): summaries agree with what python computes from the file (size, CRC32C via
the reference, records, lengths, dim, dtype); per-record listings agree with the written
records; a corrupt shard exits non-zero naming the file, the record and the offset."""
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfrecord_ref as ref  # noqa: E402

BEND = os.environ.get("BEND_BIN", "")


def make_specs(rng, n, dtype, dim):
    specs = []
    for i in range(n):
        length = rng.randint(1, 40)
        elem = 4 if dtype == "float32" else 2
        specs.append({"embedding": {
            "inputs": rng.randbytes(length * dim * elem).hex(), "length": length, "dim": dim, "dtype": dtype,
            "outputs_int": [rng.randint(0, 1) for _ in range(18)], "outputs_shape": [18],
            "index": 1000 + i, "region": "chr%d:%d-%d(+)" % (i % 3 + 1, 10 * i, 10 * i + length)}})
    return specs


class InspectTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        rng = random.Random(5)
        self.shards = {}
        for name, compression, dtype, dim in [("a.tfrecord", "none", "float16", 7),
                                              ("b.tfrecord.gz", "gzip", "float32", 3),
                                              ("c.tfrecord.zlib", "zlib", "bfloat16", 5)]:
            specs = make_specs(rng, rng.randint(2, 12), dtype, dim)
            path = os.path.join(self.dir, name)
            spec_path = os.path.join(self.dir, "spec.json")
            with open(spec_path, "w") as f:
                json.dump(specs, f)
            ref.run_tool("write-examples", spec_path, path, compression)
            self.shards[path] = specs

    def tearDown(self):
        self.tmp.cleanup()

    def expected_summary(self, path):
        specs = [s["embedding"] for s in self.shards[path]]
        with open(path, "rb") as f:
            data = f.read()
        lengths = [e["length"] for e in specs]
        return {"path": path, "records": len(specs), "bytes": len(data), "crc32c": "%08x" % ref.crc32c(data),
                "dim": specs[0]["dim"], "dtype": specs[0]["dtype"], "min_len": min(lengths),
                "max_len": max(lengths), "vectors": sum(lengths), "positions": sum(lengths),
                "token_level_records": 0}

    def expected_records(self, path):
        return [{"shard": path, "record": i, "index": e["index"], "region": e["region"],
                 "shape": [e["length"], e["dim"]], "dtype": e["dtype"], "outputs_shape": e["outputs_shape"],
                 "outputs_dtype": "int64", "positions": e["length"]}
                for i, e in enumerate(s["embedding"] for s in self.shards[path])]

    def corrupt_copy(self):
        src = next(iter(self.shards))
        with open(src, "rb") as f:
            data = bytearray(f.read())
        specs = self.shards[src]
        offsets, pos = [], 0
        for rec in ref.unframe(bytes(data)):
            offsets.append(pos)
            pos += 16 + len(rec)
        victim = len(specs) // 2
        data[offsets[victim] + 12 + 5] ^= 0x01
        path = os.path.join(self.dir, "corrupt.tfrecord")
        with open(path, "wb") as f:
            f.write(data)
        return path, victim, offsets[victim]

    def test_library_summaries_match_the_files(self):
        out = ref.run_tool("inspect", *self.shards.keys()).stdout.splitlines()
        self.assertEqual([json.loads(line) for line in out], [self.expected_summary(p) for p in self.shards])

    def test_library_record_listing_matches_the_records(self):
        for path in self.shards:
            out = ref.run_tool("inspect", "--records", "--json", path).stdout.splitlines()
            self.assertEqual([json.loads(line) for line in out], self.expected_records(path))

    def test_library_reports_corruption_with_record_and_offset(self):
        path, victim, offset = self.corrupt_copy()
        p = ref.run_tool("inspect", path, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%s: record %d at byte offset %d: data crc32c mismatch" % (path, victim, offset), p.stderr)

    def bend(self, *args):
        if not (BEND and os.access(BEND, os.X_OK)):
            self.skipTest("bend binary not built (%s)" % BEND)
        return subprocess.run([BEND, "inspect"] + list(args), capture_output=True, text=True)

    def test_bend_inspect_json_summaries(self):
        p = self.bend("--json", *self.shards.keys())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([json.loads(line) for line in p.stdout.splitlines()],
                         [self.expected_summary(path) for path in self.shards])

    def test_bend_inspect_text_table(self):
        p = self.bend(*self.shards.keys())
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split("\t"), ["shard", "records", "bytes", "dim", "dtype", "min_len", "max_len",
                                                "crc32c", "vectors", "positions"])
        for line, path in zip(lines[1:], self.shards):
            e = self.expected_summary(path)
            self.assertEqual(line.split("\t"), [path, str(e["records"]), str(e["bytes"]), str(e["dim"]), e["dtype"],
                                                str(e["min_len"]), str(e["max_len"]), e["crc32c"],
                                                str(e["vectors"]), str(e["positions"])])
        self.assertEqual(len(lines), 1 + len(self.shards))

    def test_bend_inspect_records(self):
        path = next(iter(self.shards))
        p = self.bend("--records", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split("\t")[:3], ["shard", "record", "index"])
        want = self.expected_records(path)
        self.assertEqual(len(lines), 1 + len(want))
        for line, r in zip(lines[1:], want):
            self.assertEqual(line.split("\t"), [path, str(r["record"]), str(r["index"]), r["region"],
                                                "[%d,%d]" % tuple(r["shape"]), r["dtype"], "[18]",
                                                str(r["positions"])])

    def test_bend_inspect_fails_on_corruption(self):
        path, victim, offset = self.corrupt_copy()
        p = self.bend(path)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("%s: record %d at byte offset %d" % (path, victim, offset), p.stderr)


if __name__ == "__main__":
    unittest.main()
