"""The reading recipes of docs/formats.md ("Reading the outputs in Python") are right for every
stored dtype: the two PyTorch recipes (a Dataset over TFRecord shards, a Dataset over an HDF5
file) are taken out of the doc, executed on real `bend embed` output in float32, float16 and
bfloat16 (compressed shards and --token-level too) and every value compared with the records as
bendtest's independent reader (python3-protobuf, struct) decodes them. TensorFlow is not
installed here: its recipe is parsed with `ast`, its dtype mapping checked against the format
table, and it is run on the same outputs with a NumPy stand-in for the dozen tf functions it
calls (each with TensorFlow's documented semantics), so a recipe that decodes every record as
float32 fails."""
import ast
import json
import os
import re
import sys
import types
import unittest

import h5py
import numpy as np
import torch

import bendtest as bt

FORMATS_MD = os.path.join(bt.SOURCE_DIR, "docs", "formats.md")
DTYPES = ("float32", "float16", "bfloat16")


def recipe(name):
    """The fenced python block that follows `<!-- recipe: NAME -->` in docs/formats.md."""
    text = bt.read_text(FORMATS_MD)
    m = re.search(r"<!-- recipe: %s -->\n```python\n(.*?)```" % re.escape(name), text, re.S)
    if not m:
        raise AssertionError("docs/formats.md has no recipe '%s'" % name)
    return m.group(1)


def run_recipe(name, extra_globals=None):
    ns = {"__name__": "recipe_" + name.replace("-", "_")}
    if extra_globals:
        ns.update(extra_globals)
    exec(compile(recipe(name), "docs/formats.md:" + name, "exec"), ns)
    return ns


def doc_dtypes():
    """The `inputs_dtype` values the TFRecord feature table of docs/formats.md allows."""
    row = [l for l in bt.read_text(FORMATS_MD).splitlines() if l.startswith("| `inputs_dtype` |")]
    assert len(row) == 1, row
    return set(re.findall(r"`(\w+)`", row[0].split("|")[3]))


def reference_records(out, split):
    """[(inputs as float32, dtype, labels array)] of the split's shards, in manifest order."""
    manifest = json.loads(bt.read_text(os.path.join(out, "manifest.json")))
    shards = sorted((s for s in manifest["shards"] if s["split"] == split), key=lambda s: s["shard"])
    recs = []
    for s in shards:
        for data in bt.read_tfrecord(os.path.join(out, s["file"])):
            r = bt.parse_record(data)
            ex = bt.example_pb2().Example()
            ex.ParseFromString(data)
            f = ex.features.feature
            if "token_spans" in f:  # the default output's one vector per nucleotide
                spans = np.array(f["token_spans"].int64_list.value).reshape(-1, 2)
                r["inputs"] = np.repeat(r["inputs"], spans[:, 1], axis=0)
            r["labels"] = np.array(r["outputs"]).reshape(r["outputs_shape"])
            recs.append(r)
    return recs


TORCH_DTYPE = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


# -- a NumPy stand-in for the TensorFlow calls of the recipe -------------------------------------
class _DType:
    def __init__(self, name, np_dtype):
        self.name, self.np = name, np_dtype

    def __repr__(self):
        return "tf." + self.name


def fake_tf():
    """tf.* as the recipe uses them, on NumPy arrays. bfloat16 values are held as float32 (exact)."""
    tf = types.SimpleNamespace()
    for name, npd in (("float32", "<f4"), ("float16", "<f2"), ("uint16", "<u2"), ("int64", "<i8"),
                      ("string", None), ("bfloat16", None)):
        setattr(tf, name, _DType(name, npd))

    class FixedLenFeature:
        def __init__(self, shape, dtype):
            self.shape, self.dtype = shape, dtype

    class VarLenFeature:
        def __init__(self, dtype):
            self.dtype = dtype

    def parse_single_example(record, spec):
        ex = bt.example_pb2().Example()
        ex.ParseFromString(record)
        out = {}
        for key, feat in spec.items():
            f = ex.features.feature[key]
            if feat.dtype is tf.string:
                vals = list(f.bytes_list.value)
            elif feat.dtype is tf.int64:
                assert f.WhichOneof("kind") in ("int64_list", None), "%s is %s" % (key, f.WhichOneof("kind"))
                vals = np.array(f.int64_list.value, dtype=np.int64)
            else:
                assert f.WhichOneof("kind") in ("float_list", None), "%s is %s" % (key, f.WhichOneof("kind"))
                vals = np.array(f.float_list.value, dtype=np.float32)
            if isinstance(feat, FixedLenFeature):
                n = int(np.prod(feat.shape)) if feat.shape else 1
                assert len(vals) == n, "FixedLenFeature %s: %d values, spec %r" % (key, len(vals), feat.shape)
                out[key] = vals[0] if not feat.shape else np.asarray(vals).reshape(feat.shape)
            else:
                out[key] = ("sparse", np.asarray(vals))
        return out

    def decode_raw(data, out_type, little_endian=True):
        assert out_type.np is not None, "tf.io.decode_raw: out_type %r is not one it accepts" % out_type
        assert little_endian, "bend writes little-endian"
        return np.frombuffer(data, out_type.np)

    def bitcast(x, dtype):
        assert x.itemsize == 2 and dtype is tf.bfloat16, "only uint16 -> bfloat16 is modelled"
        return (x.astype(np.uint32) << 16).view(np.float32)

    def assert_equal(a, b):
        a = a.decode() if isinstance(a, bytes) else a
        b = b.decode() if isinstance(b, bytes) else b
        assert a == b, "tf.debugging.assert_equal: %r != %r" % (a, b)

    class TFRecordDataset:
        def __init__(self, files, compression_type=""):
            ext = {"": "", "ZLIB": ".zlib", "GZIP": ".gz"}[compression_type]
            for f in files:
                assert f.endswith(".tfrecord" + ext), "%s read with compression %r" % (f, compression_type)
            self.files, self.fn = list(files), None

        def map(self, fn):
            self.fn = fn
            return self

        def __iter__(self):
            for path in self.files:
                for record in bt.read_tfrecord(path):
                    yield self.fn(record)

    tf.io = types.SimpleNamespace(FixedLenFeature=FixedLenFeature, VarLenFeature=VarLenFeature,
                                  parse_single_example=parse_single_example, decode_raw=decode_raw)
    tf.bitcast = bitcast
    tf.reshape = lambda x, shape: np.reshape(x, [int(v) for v in np.asarray(shape).ravel()])
    tf.sparse = types.SimpleNamespace(to_dense=lambda sp: sp[1])
    tf.debugging = types.SimpleNamespace(assert_equal=assert_equal)
    tf.data = types.SimpleNamespace(TFRecordDataset=TFRecordDataset)
    return tf


class FormatRecipes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir("bend-recipes-")
        task = os.path.join(cls.data, "histone_demo")
        base = ["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
                os.path.join(cls.data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand",
                "--splits", "valid", "--shard-rows", "16"]
        ckpt = os.path.join(cls.work, "resnet")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", ckpt, "--seed", "3", "--hidden-size", "8",
                 "--n-layers", "1"])
        model = ["--model", "resnetlm", "--checkpoint", ckpt]  # real-valued: rounding matters per dtype
        compression = {"float32": "none", "float16": "zlib", "bfloat16": "gzip"}
        cls.tf, cls.h5 = {}, {}
        for dt in DTYPES:
            cls.tf[dt] = os.path.join(cls.work, "tf_" + dt)
            bt.bend(base + model + ["--dtype", dt, "--compression", compression[dt], "--out", cls.tf[dt]],
                    np_ranks=2)
            cls.h5[dt] = os.path.join(cls.work, "h5_" + dt)
            bt.bend(base + model + ["--dtype", dt, "--format", "hdf5", "--out", cls.h5[dt]], np_ranks=2)
        cls.tok_tf = os.path.join(cls.work, "tok_tf")
        bt.bend(base + ["--model", "onehot", "--token-level", "--dtype", "bfloat16", "--out", cls.tok_tf])
        cls.tok_h5 = os.path.join(cls.work, "tok_h5")
        bt.bend(base + ["--model", "onehot", "--token-level", "--dtype", "bfloat16", "--format", "hdf5",
                        "--out", cls.tok_h5])

    def check_items(self, items, refs, dtype):
        self.assertEqual(len(items), len(refs))
        self.assertGreater(len(refs), 0)
        for (x, y), r in zip(items, refs):
            self.assertEqual(x.dtype, TORCH_DTYPE[dtype])
            np.testing.assert_array_equal(x.float().numpy(), r["inputs"])
            np.testing.assert_array_equal(y.numpy(), r["labels"])

    def test_torch_dataset_over_tfrecord_shards_gives_the_stored_values(self):
        ns = run_recipe("torch-tfrecord")
        for dt in DTYPES:
            with self.subTest(dtype=dt):
                ds = ns["BendTFRecordDataset"](self.tf[dt], "valid")
                refs = reference_records(self.tf[dt], "valid")
                self.check_items([ds[i] for i in range(len(ds))], refs, dt)
                self.assertTrue(any(r["inputs"].std() > 0 for r in refs), "real-valued embeddings")
                loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
                batch_x, batch_y = next(iter(loader))
                self.assertEqual(tuple(batch_x.shape), (4,) + refs[0]["inputs"].shape)
        with self.subTest("token-level"):
            ds = ns["BendTFRecordDataset"](self.tok_tf, "valid")
            self.check_items([ds[i] for i in range(len(ds))], reference_records(self.tok_tf, "valid"), "bfloat16")

    def test_torch_dataset_over_the_hdf5_file_gives_the_stored_values(self):
        ns = run_recipe("torch-hdf5")
        for dt in DTYPES + ("token-level",):
            with self.subTest(dtype=dt):
                h5_dir, tf_dir = (self.tok_h5, self.tok_tf) if dt == "token-level" else (self.h5[dt], self.tf[dt])
                path = os.path.join(h5_dir, "valid.h5")
                ds = ns["BendH5Dataset"](path)
                by_index = {r["index"]: r for r in reference_records(tf_dir, "valid")}
                with h5py.File(path, "r") as f:
                    index = list(f["index"][:])
                self.check_items([ds[i] for i in range(len(ds))], [by_index[i] for i in index],
                                 "bfloat16" if dt == "token-level" else dt)
                loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
                self.assertEqual(len(list(loader)), (len(ds) + 3) // 4)

    def test_tensorflow_recipe_parses_and_maps_each_inputs_dtype_as_the_format_says(self):
        code = recipe("tensorflow-tfrecord")
        tree = ast.parse(code)
        maps = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                target = node.targets[0].id
                maps[target] = {k.value: ast.unparse(v) for k, v in zip(node.value.keys, node.value.values)}
        self.assertEqual(set(maps["RAW_DTYPE"]), doc_dtypes())
        self.assertEqual(set(maps["VALUE_DTYPE"]), doc_dtypes())
        # the format table: float32 IEEE <f4, float16 IEEE binary16, bfloat16 the upper half of a
        # float32 (TensorFlow's decode_raw has no bfloat16: read uint16, bitcast)
        self.assertEqual(maps["RAW_DTYPE"], {"float32": "tf.float32", "float16": "tf.float16",
                                             "bfloat16": "tf.uint16"})
        self.assertEqual(maps["VALUE_DTYPE"], {"float32": "tf.float32", "float16": "tf.float16",
                                               "bfloat16": "tf.bfloat16"})
        calls = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Call)]
        decode = [c for c in calls if c.startswith("tf.io.decode_raw(")]
        self.assertEqual(len(decode), 1, decode)
        self.assertIn("RAW_DTYPE[dtype]", decode[0], "decode_raw must take the record's dtype, not float32")
        self.assertIn("tf.bitcast(x, tf.bfloat16)", calls)
        self.assertIn("inputs_dtype", code)

    def test_tensorflow_recipe_run_on_a_numpy_stand_in_gives_the_stored_values(self):
        for dt in DTYPES:
            with self.subTest(dtype=dt):
                sys.modules["tensorflow"] = fake_tf()  # what the recipe's `import tensorflow` finds
                try:
                    ns = run_recipe("tensorflow-tfrecord")
                finally:
                    del sys.modules["tensorflow"]
                got = list(ns["bend_tfrecord_dataset"](self.tf[dt], "valid"))
                refs = reference_records(self.tf[dt], "valid")
                self.assertEqual(len(got), len(refs))
                for (x, y), r in zip(got, refs):
                    np.testing.assert_array_equal(np.asarray(x, dtype=np.float32), r["inputs"])
                    np.testing.assert_array_equal(y, r["labels"])


if __name__ == "__main__":
    unittest.main()
