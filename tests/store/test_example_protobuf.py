"""tf.train.Example interoperability with python3-protobuf. The test writes the tf.train.Example
schema as its own .proto, compiles it with protoc --python_out, and checks both directions:
Examples we encode (generic and the embedding fast path) parse with protobuf to the same values
and the same bytes as protobuf's deterministic serialization; Examples protobuf serializes
(packed and unpacked lists, any key order) decode in ours."""
import importlib
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tfrecord_ref as ref  # noqa: E402

PROTO = """
syntax = "proto3";
package %(pkg)s;
message BytesList { repeated bytes value = 1; }
message FloatList { repeated float value = 1 [packed = %(packed)s]; }
message Int64List { repeated int64 value = 1 [packed = %(packed)s]; }
message Feature {
  oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; }
}
message Features { map<string, Feature> feature = 1; }
message Example { Features features = 1; }
"""


def compile_protos(workdir):
    mods = {}
    for name, packed in [("example_packed", "true"), ("example_unpacked", "false")]:
        with open(os.path.join(workdir, name + ".proto"), "w") as f:
            f.write(PROTO % {"pkg": "bendtest_" + name, "packed": packed})
        subprocess.run(["protoc", "--proto_path=" + workdir, "--python_out=" + workdir, name + ".proto"],
                       check=True)
    sys.path.insert(0, workdir)
    for name in ["example_packed", "example_unpacked"]:
        mods[name] = importlib.import_module(name + "_pb2")
    return mods["example_packed"], mods["example_unpacked"]


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def bits_f32(b):
    return struct.unpack("<f", struct.pack("<I", b))[0]


def random_float_bits(rng):
    special = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x00000001, 0x007FFFFF, 0x3F800000]
    if rng.random() < 0.2:
        return rng.choice(special)
    while True:
        b = rng.getrandbits(32)
        if (b & 0x7F800000) != 0x7F800000:  # no NaN: protobuf holds floats as doubles
            return b


def random_spec_example(rng):
    """A random Example in the tool's JSON form."""
    feats = {}
    for _ in range(rng.randint(0, 6)):
        key = rng.choice(["", "a", "inputs", "z" * 40, "label", "k%d" % rng.randint(0, 999), "ünï"])
        kind = rng.choice(["bytes", "int64", "float"])
        n = rng.choice([0, 1, 2, 5, 300])
        if kind == "bytes":
            feats[key] = {"kind": "bytes", "values": [rng.randbytes(rng.choice([0, 1, 10, 200])).hex()
                                                      for _ in range(n)]}
        elif kind == "int64":
            feats[key] = {"kind": "int64", "values": [rng.choice([0, 1, -1, 127, 128, -(2 ** 63), 2 ** 63 - 1,
                                                                  rng.randint(-2 ** 40, 2 ** 40)])
                                                      for _ in range(n)]}
        else:
            feats[key] = {"kind": "float", "bits": [random_float_bits(rng) for _ in range(n)]}
    return {"features": feats}


def spec_to_proto(pb, spec):
    ex = pb.Example()
    ex.features.SetInParent()
    for key, f in spec["features"].items():
        feat = ex.features.feature[key]
        if f["kind"] == "bytes":
            feat.bytes_list.SetInParent()
            feat.bytes_list.value.extend(bytes.fromhex(h) for h in f["values"])
        elif f["kind"] == "int64":
            feat.int64_list.SetInParent()
            feat.int64_list.value.extend(f["values"])
        else:
            feat.float_list.SetInParent()
            feat.float_list.value.extend(bits_f32(b) for b in f["bits"])
    return ex


def proto_to_spec(ex):
    feats = {}
    for key, feat in ex.features.feature.items():
        which = feat.WhichOneof("kind")
        if which == "bytes_list" or which is None:
            feats[key] = {"kind": "bytes", "values": [v.hex() for v in feat.bytes_list.value]}
        elif which == "int64_list":
            feats[key] = {"kind": "int64", "values": list(feat.int64_list.value)}
        else:
            feats[key] = {"kind": "float", "bits": [f32_bits(v) for v in feat.float_list.value]}
    return {"features": feats}


def random_embedding(rng, i):
    length, dim = rng.randint(0, 50), rng.randint(1, 16)
    dtype = rng.choice(["float32", "float16", "bfloat16"])
    elem = 4 if dtype == "float32" else 2
    n_out = rng.randint(0, 30)
    e = {"inputs": rng.randbytes(length * dim * elem).hex(), "length": length, "dim": dim, "dtype": dtype,
         "outputs_shape": [n_out], "index": rng.randint(0, 10 ** 7),
         "region": "chr%d:%d-%d(%s)" % (rng.randint(1, 22), i, i + length, rng.choice("+-"))}
    if i % 2:
        e["outputs_float_bits"] = [random_float_bits(rng) for _ in range(n_out)]
    else:
        e["outputs_int"] = [rng.randint(-100, 8) for _ in range(n_out)]
    if i % 3 == 0 and length > 0:  # a --token-level record: contiguous spans of 1..300 bp
        e["token_spans"] = random_spans(rng, length)
    return {"embedding": e}


def random_spans(rng, n_vectors):
    spans, start = [], 0
    for _ in range(n_vectors):
        n = rng.choice([1, 2, 6, 127, 128, 300])
        spans += [start, n]
        start += n
    return spans


def embedding_to_proto(pb, e):
    ex = pb.Example()
    f = ex.features.feature
    f["inputs"].bytes_list.value.append(bytes.fromhex(e["inputs"]))
    f["inputs_shape"].int64_list.value.extend([e["length"], e["dim"]])
    f["inputs_dtype"].bytes_list.value.append(e["dtype"].encode())
    if "outputs_float_bits" in e:
        f["outputs"].float_list.SetInParent()
        f["outputs"].float_list.value.extend(bits_f32(b) for b in e["outputs_float_bits"])
    else:
        f["outputs"].int64_list.SetInParent()
        f["outputs"].int64_list.value.extend(e["outputs_int"])
    f["outputs_shape"].int64_list.value.extend(e["outputs_shape"])
    f["index"].int64_list.value.append(e["index"])
    f["region"].bytes_list.value.append(e["region"].encode())
    if "token_spans" in e:
        f["token_spans"].int64_list.value.extend(e["token_spans"])
    return ex


class ExampleProtobufTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pb, cls.pb_unpacked = compile_protos(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def write_spec(self, specs, compression="none"):
        spec_path, out = self.path("spec.json"), self.path("ours.tfrecord")
        with open(spec_path, "w") as f:
            json.dump(specs, f)
        ref.run_tool("write-examples", spec_path, out, compression)
        with open(out, "rb") as f:
            return ref.unframe(f.read())

    def dump(self, serialized, what="dump-examples"):
        path = self.path("theirs.tfrecord")
        with open(path, "wb") as f:
            f.write(ref.frame(serialized))
        return json.loads(ref.run_tool(what, path, "none").stdout)

    def test_our_examples_parse_with_protobuf_and_match_its_serialization(self):
        rng = random.Random(11)
        specs = [random_spec_example(rng) for _ in range(200)]
        records = self.write_spec(specs)
        self.assertEqual(len(records), len(specs))
        for spec, rec in zip(specs, records):
            ex = self.pb.Example()
            ex.ParseFromString(rec)
            self.assertEqual(proto_to_spec(ex), spec)
            self.assertEqual(rec, spec_to_proto(self.pb, spec).SerializeToString(deterministic=True))

    def test_protobuf_examples_decode_in_ours(self):
        rng = random.Random(12)
        specs = [random_spec_example(rng) for _ in range(200)]
        serialized = []
        for i, spec in enumerate(specs):
            ex = spec_to_proto(self.pb, spec)
            serialized.append(ex.SerializeToString(deterministic=bool(i % 2)))
        self.assertEqual(self.dump(serialized), specs)

    def test_unpacked_lists_decode_in_ours(self):
        rng = random.Random(13)
        specs = [random_spec_example(rng) for _ in range(100)]
        serialized = [spec_to_proto(self.pb_unpacked, s).SerializeToString() for s in specs]
        self.assertNotEqual(serialized, [spec_to_proto(self.pb, s).SerializeToString() for s in specs])
        self.assertEqual(self.dump(serialized), specs)

    def test_embedding_records_match_protobuf_field_by_field_and_byte_for_byte(self):
        rng = random.Random(14)
        specs = [random_embedding(rng, i) for i in range(60)]
        records = self.write_spec(specs, "none")
        for spec, rec in zip(specs, records):
            e = spec["embedding"]
            ex = self.pb.Example()
            ex.ParseFromString(rec)
            f = ex.features.feature
            self.assertEqual(sorted(f.keys()), ["index", "inputs", "inputs_dtype", "inputs_shape", "outputs",
                                                "outputs_shape", "region"] + (["token_spans"] if "token_spans" in e else []))
            if "token_spans" in e:
                self.assertEqual(list(f["token_spans"].int64_list.value), e["token_spans"])
            self.assertEqual(f["inputs"].bytes_list.value[0].hex(), e["inputs"])
            self.assertEqual(list(f["inputs_shape"].int64_list.value), [e["length"], e["dim"]])
            self.assertEqual(f["inputs_dtype"].bytes_list.value[0].decode(), e["dtype"])
            if "outputs_float_bits" in e:
                self.assertEqual(f["outputs"].WhichOneof("kind"), "float_list")
                self.assertEqual([f32_bits(v) for v in f["outputs"].float_list.value], e["outputs_float_bits"])
            else:
                self.assertEqual(f["outputs"].WhichOneof("kind"), "int64_list")
                self.assertEqual(list(f["outputs"].int64_list.value), e["outputs_int"])
            self.assertEqual(list(f["outputs_shape"].int64_list.value), e["outputs_shape"])
            self.assertEqual(list(f["index"].int64_list.value), [e["index"]])
            self.assertEqual(f["region"].bytes_list.value[0].decode(), e["region"])
            self.assertEqual(rec, embedding_to_proto(self.pb, e).SerializeToString(deterministic=True))

    def test_protobuf_embedding_examples_decode_with_the_fast_path(self):
        rng = random.Random(15)
        specs = [random_embedding(rng, i) for i in range(60)]
        serialized = [embedding_to_proto(self.pb if i % 2 else self.pb_unpacked, s["embedding"]).SerializeToString()
                      for i, s in enumerate(specs)]
        self.assertEqual(self.dump(serialized, "dump-embeddings"), specs)

    def test_a_missing_embedding_feature_is_named(self):
        rng = random.Random(16)
        ex = embedding_to_proto(self.pb, random_embedding(rng, 0)["embedding"])
        del ex.features.feature["inputs_dtype"]
        path = self.path("missing.tfrecord")
        with open(path, "wb") as f:
            f.write(ref.frame([ex.SerializeToString()]))
        p = ref.run_tool("dump-embeddings", path, "none", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("'inputs_dtype'", p.stderr)

    def test_bad_token_spans_are_refused_naming_the_vector(self):
        rng = random.Random(17)
        e = random_embedding(rng, 0)["embedding"]
        self.assertIn("token_spans", e)
        n = e["length"]
        good = e["token_spans"]
        cases = [(good[:-2], "token_spans has %d values but inputs_shape has %d vectors" % (2 * n - 2, n)),
                 ([1] + good[1:], "vector 0 covers (start 1, length %d)" % good[1]),
                 (good[:3] + [0] + good[4:], "vector 1 covers (start %d, length 0)" % good[2]),
                 (good[:2] + [good[2] + 1] + good[3:], "vector 1 covers (start %d" % (good[2] + 1))]
        for spans, msg in cases:
            # decode: protobuf writes the bad record, ours refuses it
            ex = embedding_to_proto(self.pb, dict(e, token_spans=spans))
            path = self.path("badspans.tfrecord")
            with open(path, "wb") as f:
                f.write(ref.frame([ex.SerializeToString()]))
            p = ref.run_tool("dump-embeddings", path, "none", check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(msg, p.stderr)
            # encode: refused too, naming the record
            spec_path = self.path("badspec.json")
            with open(spec_path, "w") as f:
                json.dump([{"embedding": dict(e, token_spans=spans)}], f)
            p = ref.run_tool("write-examples", spec_path, self.path("bad.tfrecord"), "none", check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("embedding record %d (%s): " % (e["index"], e["region"]), p.stderr)
            self.assertIn(msg, p.stderr)


if __name__ == "__main__":
    unittest.main()
