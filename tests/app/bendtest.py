"""Shared helpers of the end-to-end tests: run `bend`, make demo data, read shards independently.

Independent of bend's own code: TFRecord framing is parsed here with struct and a bit-wise
CRC32C, Examples are parsed by python3-protobuf from a schema compiled at test time, and
sequences come from samtools.
"""
import atexit
import functools
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from crc32c_ref import crc32c, masked_crc  # noqa: E402,F401  (bt.crc32c in the app tests)

SOURCE_DIR = os.environ.get("BEND_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BEND = os.environ.get("BEND_BIN", os.path.join(SOURCE_DIR, "build", "bend"))
TEST_DATA = os.path.join(SOURCE_DIR, "tests", "data")  # real test data (tests/data/SOURCES.md)
PYTHON = os.environ.get("PYTHON", "/usr/bin/python3")  # ctest sets it (BEND_PYTHON)
MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "OMPI_MCA_rmaps_base_oversubscribe": "1"}

EXAMPLE_PROTO = """
syntax = "proto3";
package benddemo;
message BytesList { repeated bytes value = 1; }
message FloatList { repeated float value = 1 [packed = true]; }
message Int64List { repeated int64 value = 1 [packed = true]; }
message Feature { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
message Features { map<string, Feature> feature = 1; }
message Example { Features features = 1; }
"""


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def read_text(path):
    with open(path) as f:
        return f.read()


def project_version():
    """bend's version as CMakeLists.txt's project() states it (the one source of truth)."""
    import re
    return re.search(r"project\(bend VERSION ([0-9.]+)", read_text(os.path.join(SOURCE_DIR, "CMakeLists.txt"))).group(1)


def run(args, check=True, env=None, timeout=600, **kw):
    e = dict(os.environ)
    e.update(MPI_ENV)
    if env:
        e.update(env)
    p = subprocess.run(args, capture_output=True, text=True, env=e, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError("command failed (%d): %s\nstdout:\n%s\nstderr:\n%s"
                             % (p.returncode, " ".join(args), p.stdout, p.stderr))
    return p


def bend(args, np_ranks=1, check=True, **kw):
    """Runs `bend ARGS` under `mpirun -np N` (N > 1) or directly."""
    if np_ranks > 1:
        cmd = ["mpirun", "-np", str(np_ranks), "--oversubscribe", "--bind-to", "none", BEND] + args
    else:
        cmd = [BEND] + args
    return run(cmd, check=check, **kw)


@functools.lru_cache(maxsize=None)
def demo_data(scale="small", seed=1):
    """Generates the demo data once per test process; returns its directory."""
    out = os.path.join(tmpdir("bend-demo-"), "data")
    run([PYTHON, os.path.join(SOURCE_DIR, "tools", "make_demo_data.py"), "--out", out,
         "--seed", str(seed), "--scale", scale])
    return out


@functools.lru_cache(maxsize=None)
def example_pb2():
    d = tmpdir("bend-proto-")
    with open(os.path.join(d, "benddemo_example.proto"), "w") as f:
        f.write(EXAMPLE_PROTO)
    run(["protoc", "--python_out=" + d, "-I", d, os.path.join(d, "benddemo_example.proto")])
    sys.path.insert(0, d)
    import benddemo_example_pb2  # noqa: E402
    return benddemo_example_pb2


def read_tfrecord(path, check_crc=True):
    """Yields the records of a TFRecord file (.gz / .zlib decompressed with zlib)."""
    raw = read_bytes(path)
    if path.endswith(".gz"):
        raw = zlib.decompress(raw, 16 + 15)
    elif path.endswith(".zlib"):
        raw = zlib.decompress(raw)
    pos = 0
    while pos < len(raw):
        (length,) = struct.unpack_from("<Q", raw, pos)
        (len_crc,) = struct.unpack_from("<I", raw, pos + 8)
        data = raw[pos + 12: pos + 12 + length]
        (data_crc,) = struct.unpack_from("<I", raw, pos + 12 + length)
        if check_crc:
            assert len_crc == masked_crc(raw[pos: pos + 8]), "%s: bad length crc at %d" % (path, pos)
            assert data_crc == masked_crc(data), "%s: bad data crc at %d" % (path, pos)
        yield data
        pos += 16 + length


def parse_record(data):
    """tf.train.Example bytes -> dict with numpy `inputs` [length, dim] and the other features."""
    ex = example_pb2().Example()
    ex.ParseFromString(data)
    f = ex.features.feature
    shape = list(f["inputs_shape"].int64_list.value)
    dtype = f["inputs_dtype"].bytes_list.value[0].decode()
    buf = f["inputs"].bytes_list.value[0]
    if dtype == "float32":
        arr = np.frombuffer(buf, dtype="<f4")
    elif dtype == "float16":
        arr = np.frombuffer(buf, dtype="<f2").astype(np.float32)
    elif dtype == "bfloat16":
        arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        raise AssertionError("unknown dtype " + dtype)
    out = f["outputs"]
    outputs = list(out.int64_list.value) if out.WhichOneof("kind") == "int64_list" else list(out.float_list.value)
    return {
        "inputs": arr.reshape(shape),
        "dtype": dtype,
        "outputs": outputs,
        "outputs_shape": list(f["outputs_shape"].int64_list.value),
        "index": f["index"].int64_list.value[0],
        "region": f["region"].bytes_list.value[0].decode(),
    }


def read_shard_dir(out_dir):
    """All records of an embed output directory, keyed by BED row."""
    recs = {}
    for name in sorted(os.listdir(out_dir)):
        if ".tfrecord" in name and ".tmp" not in name:
            for data in read_tfrecord(os.path.join(out_dir, name)):
                r = parse_record(data)
                r["file"] = name
                recs[r["index"]] = r
    return recs


def samtools_seq(fasta, chrom, start, end, minus):
    """Truth sequence: samtools faidx (1-based closed), upper-cased, non-ACGT -> N."""
    args = ["samtools", "faidx", fasta, "%s:%d-%d" % (chrom, start + 1, end)]
    if minus:
        args.insert(2, "-i")
    out = run(args).stdout.split("\n", 1)[1].replace("\n", "").upper()
    return "".join(c if c in "ACGT" else "N" for c in out)


def onehot(seq):
    codes = {"A": 0, "C": 1, "G": 2, "N": 3, "T": 4}
    m = np.zeros((len(seq), 5), dtype=np.float32)
    for i, c in enumerate(seq):
        m[i, codes[c]] = 1
    return m


def read_bed_rows(path):
    lines = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    header, rows = lines[0], lines[1:]
    return header, rows


def dir_bytes(d):
    """{name: bytes} of an output directory, without the manifest's timestamp, input paths and the
    command line and working directory of the run that wrote it (docs/formats.md)."""
    out = {}
    for name in sorted(os.listdir(d)):
        data = read_bytes(os.path.join(d, name))
        if name == "manifest.json":
            import json
            m = json.loads(data)
            m.pop("updated", None)
            m.pop("inputs", None)
            m.pop("command_line", None)
            m.pop("working_directory", None)
            data = json.dumps(m, sort_keys=True).encode()
        out[name] = data
    return out


def kill_session(sid, timeout=60):
    """SIGKILL every process of session `sid` (mpirun started with start_new_session=True: the
    ranks are in the session but in process groups of their own) and wait until none is left."""
    import time
    t0 = time.time()
    def alive():
        pids = subprocess.run(["pgrep", "-s", str(sid)], capture_output=True, text=True).stdout.split()
        live = []
        for pid in pids:
            try:
                with open("/proc/%s/stat" % pid) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z":  # zombies are dead, only not yet reaped
                live.append(pid)
        return live

    while time.time() - t0 < timeout:
        subprocess.run(["pkill", "-KILL", "-s", str(sid)], capture_output=True)
        if not alive():
            return
        time.sleep(0.05)
    raise AssertionError("processes of session %d survived SIGKILL" % sid)


def tmpdir(prefix="bend-test-"):
    """A fresh directory under $TMPDIR, removed with its contents when the test process exits
    (kept for inspection when BEND_TEST_KEEP_TMP=1)."""
    d = tempfile.mkdtemp(prefix=prefix)
    if os.environ.get("BEND_TEST_KEEP_TMP") != "1":
        atexit.register(shutil.rmtree, d, True)
    return d
