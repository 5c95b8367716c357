"""`bend embed --format hdf5` end to end under mpirun: h5py reads every row and it equals the
TFRecord output of the same run (bytes) and the samtools one-hot truth; labels equal the BED and
the source HDF5; np = 1, 2, 3 give identical datasets; float16/bfloat16 bytes; inspect verifies and
catches corruption; training reads it with the same results as from TFRecord; bad input (other parameters, foreign file, locked file, compression, a full
disk) is refused with a clear message and never leaves a file that looks complete."""
import csv
import fcntl
import json
import os
import shutil
import subprocess
import unittest

import h5py
import numpy as np

import bendtest as bt


def task_args(data, task, out, extra=()):
    d = os.path.join(data, task)
    args = ["embed", "--bed", os.path.join(d, task + ".bed"), "--genome",
            os.path.join(data, "genome", "demo.fa"), "--model", "onehot", "--out", out,
            "--shard-rows", "64"]
    if task == "histone_demo":
        args += ["--label-depth", "6", "--read-strand"]
    return args + list(extra)


def h5_rows(path):
    """Every row of a split file: {index: (embedding bytes, region, labels list, label shape)}."""
    out = {}
    with h5py.File(path, "r") as f:
        off, emb = f["offsets"][:], f["embeddings"]
        ragged = "label_offsets" in f
        for i, idx in enumerate(f["index"][:]):
            x = emb[off[i]:off[i + 1]]
            if ragged:
                lo, hi = f["label_offsets"][i], f["label_offsets"][i + 1]
                lab, shape = f["labels"][lo:hi], list(f["label_shapes"][i])
            else:
                lab = f["labels"][i]
                shape = list(lab.shape)
            out[int(idx)] = (x.tobytes(), f["region"].asstr()[i], [v.item() for v in lab.ravel()], shape)
    return out


def datasets_and_attrs(path):
    """Everything h5py sees in a file: {name: bytes} for datasets and attributes."""
    got = {}
    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items():
            got["@" + k] = np.asarray(v).tobytes()
        for name, d in f.items():
            got[name] = d[()].tobytes()
            got[name + ".dtype"] = str(d.dtype).encode()
            for k, v in d.attrs.items():
                got[name + "@" + k] = np.asarray(v).tobytes()
    return got


def h5_files(out):
    return sorted(n for n in os.listdir(out) if n.endswith(".h5"))


class EmbedHdf5(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = bt.demo_data()
        cls.work = bt.tmpdir()
        cls.tf = os.path.join(cls.work, "tf")
        bt.bend(task_args(cls.data, "histone_demo", cls.tf), np_ranks=2)
        cls.h5 = os.path.join(cls.work, "h5_np2")
        bt.bend(task_args(cls.data, "histone_demo", cls.h5, ["--format", "hdf5"]), np_ranks=2)

    def test_every_row_equals_tfrecord_bytes_samtools_onehot_and_bed_labels(self):
        recs = bt.read_shard_dir(self.tf)
        bed = os.path.join(self.data, "histone_demo", "histone_demo.bed")
        header, rows = bt.read_bed_rows(bed)
        col = {name: i for i, name in enumerate(header)}
        fasta = os.path.join(self.data, "genome", "demo.fa")
        seen = {}
        for name in h5_files(self.h5):
            for idx, (raw, region, labels, shape) in h5_rows(os.path.join(self.h5, name)).items():
                self.assertEqual(rows[idx][-1] + ".h5", name, "row %d is in its split's file" % idx)
                seen[idx] = True
                r = recs[idx]
                self.assertEqual(raw, r["inputs"].astype("<f4").tobytes(), "bytes of row %d" % idx)
                row = rows[idx]
                seq = bt.samtools_seq(fasta, row[0], int(row[1]), int(row[2]), row[col["strand"]] == "-")
                x = np.frombuffer(raw, dtype="<f4").reshape(-1, 5)
                np.testing.assert_array_equal(x, bt.onehot(seq), err_msg="row %d" % idx)
                want = [0] * 6
                for c in filter(None, row[col["label"]].split(",")):
                    want[int(c)] = 1
                self.assertEqual(labels, want)
                self.assertEqual(shape, [6])
                self.assertEqual(region, r["region"])
        self.assertEqual(sorted(seen), list(range(len(rows))), "every BED row exactly once")
        manifest = json.loads(bt.read_text(os.path.join(self.h5, "manifest.json")))
        self.assertEqual(manifest["status"], "complete")
        self.assertEqual(manifest["params"]["format"], "hdf5")
        with h5py.File(os.path.join(self.h5, "train.h5"), "r") as f:
            self.assertEqual(f.attrs["complete"], 1)
            # string attributes are variable-length UTF-8: h5py gives str, not bytes
            for k in ("format", "command", "split", "model", "model_fingerprint", "checkpoint", "task",
                      "params", "dtype"):
                self.assertIsInstance(f.attrs[k], str, k)
            self.assertIsInstance(f["embeddings"].attrs["dtype"], str)
            self.assertEqual(f.attrs["format"], "bend-embeddings")
            self.assertEqual(f.attrs["version"], 2)
            self.assertEqual(f.attrs["split"], "train")
            self.assertEqual(f.attrs["task"], "histone_demo")
            self.assertEqual(f.attrs["model"], "onehot")
            self.assertEqual(f.attrs["dtype"], "float32")
            self.assertEqual(json.loads(f.attrs["params"]), manifest["params"])
            # the region table: fixed-length UTF-8 strings; asstr() decodes them
            self.assertEqual(f["region"].dtype.kind, "S")
            self.assertIsInstance(f["region"].asstr()[0], str)
            self.assertEqual(f["embeddings"].dtype, np.dtype("<f4"))
            self.assertEqual(f["embeddings"].chunks[1], 5)
            # the manifest's per-shard CRC32C is that of the shard's embedding bytes in the file
            off, crcs = f["offsets"][:], f["shard_crc32c"][:]
            entries = sorted((s for s in manifest["shards"] if s["file"] == "train.h5"), key=lambda s: s["shard"])
            self.assertEqual(len(entries), len(crcs))
            for k, e in enumerate(entries):
                lo, hi = k * 64, min(len(off) - 1, (k + 1) * 64)
                blob = f["embeddings"][off[lo]:off[hi]].tobytes()
                self.assertEqual(bt.crc32c(blob), int(e["crc32c"], 16))
                self.assertEqual(int(crcs[k]), int(e["crc32c"], 16))
                self.assertEqual(e["bytes"], len(blob))

    def test_np_1_2_3_give_identical_files(self):
        ref = {n: datasets_and_attrs(os.path.join(self.h5, n)) for n in h5_files(self.h5)}
        for np_ranks in (1, 3):
            out = os.path.join(self.work, "h5_np%d" % np_ranks)
            bt.bend(task_args(self.data, "histone_demo", out, ["--format", "hdf5"]), np_ranks=np_ranks)
            self.assertEqual(h5_files(out), sorted(ref))
            for n in ref:
                self.assertEqual(datasets_and_attrs(os.path.join(out, n)), ref[n], "%s np=%d" % (n, np_ranks))
                self.assertEqual(bt.read_bytes(os.path.join(out, n)), bt.read_bytes(os.path.join(self.h5, n)),
                                 "%s: whole file bytes, np=%d vs 2" % (n, np_ranks))

    def test_ragged_and_fixed_hdf5_labels_equal_the_source_and_tfrecord(self):
        for task in ("genefind_demo", "enhancer_demo"):
            tf, h5 = os.path.join(self.work, task + "_tf"), os.path.join(self.work, task + "_h5")
            bt.bend(task_args(self.data, task, tf), np_ranks=2)
            bt.bend(task_args(self.data, task, h5, ["--format", "hdf5"]), np_ranks=2)
            recs = bt.read_shard_dir(tf)
            with h5py.File(os.path.join(self.data, task, task + ".hdf5"), "r") as src:
                truth = src["labels"][:]
            n = 0
            for name in h5_files(h5):
                with h5py.File(os.path.join(h5, name), "r") as f:
                    self.assertEqual("label_offsets" in f, task == "genefind_demo", task)
                for idx, (raw, region, labels, shape) in h5_rows(os.path.join(h5, name)).items():
                    r = recs[idx]
                    self.assertEqual(raw, r["inputs"].astype("<f4").tobytes(), (task, idx))
                    self.assertEqual(labels, r["outputs"], (task, idx))
                    self.assertEqual(shape, r["outputs_shape"], (task, idx))
                    self.assertEqual(labels, [v.item() for v in np.asarray(truth[idx]).ravel()], (task, idx))
                    n += 1
            self.assertEqual(n, len(recs))

    def test_float16_and_bfloat16_bytes_equal_tfrecord(self):
        for dt in ("float16", "bfloat16"):
            tf, h5 = os.path.join(self.work, dt + "_tf"), os.path.join(self.work, dt + "_h5")
            bt.bend(task_args(self.data, "histone_demo", tf, ["--dtype", dt, "--splits", "valid"]), np_ranks=2)
            bt.bend(task_args(self.data, "histone_demo", h5, ["--dtype", dt, "--splits", "valid", "--format", "hdf5"]),
                    np_ranks=2)
            recs = bt.read_shard_dir(tf)
            with h5py.File(os.path.join(h5, "valid.h5"), "r") as f:
                emb = f["embeddings"]
                self.assertEqual(emb.dtype, np.dtype("<f2" if dt == "float16" else "<u2"), dt)
                self.assertEqual(emb.attrs["dtype"], dt)
                off = f["offsets"][:]
                for i, idx in enumerate(f["index"][:]):
                    x = emb[off[i]:off[i + 1]]
                    want = recs[int(idx)]["inputs"]  # decoded to float32 by bendtest
                    if dt == "float16":
                        got = x.astype(np.float32)
                    else:
                        got = (x.astype(np.uint32) << 16).view(np.float32)
                    np.testing.assert_array_equal(got, want, err_msg="%s row %d" % (dt, idx))

    def test_training_from_hdf5_equals_training_from_tfrecord(self):
        args = ["--label-depth", "6", "--criterion", "bce", "--metric", "auroc", "--output-window", "512",
                "--batch-size", "32", "--seed", "1", "--epochs", "3", "--shuffle-buffer", "100"]
        results = {}
        for name, data in (("tf", self.tf), ("h5", self.h5)):
            out = os.path.join(self.work, "train_" + name)
            bt.bend(["train", "--data", data, "--out", out] + args, np_ranks=2)
            results[name] = {f: bt.read_text(os.path.join(out, f)) for f in ("losses.csv", "best_model_metrics.csv")}
        self.assertEqual(results["h5"], results["tf"])
        self.assertEqual(len(results["h5"]["losses.csv"].splitlines()), 4)

    def test_training_on_wide_embeddings_from_hdf5_equals_tfrecord_and_np2_equals_np1(self):
        # dim 160: the loader keeps [n, len, dim] batches (the head's channels-last convolution);
        # TFRecord records are mapped and copied straight into the batch, HDF5 rows decoded
        head, rows = bt.read_bed_rows(os.path.join(self.data, "histone_demo", "histone_demo.bed"))
        per_split = {"train": 96, "valid": 32, "test": 32}
        bed = os.path.join(self.work, "wide.bed")
        with open(bed, "w") as f:
            f.write("\t".join(head) + "\n")
            for r in rows:
                if per_split.get(r[-1], 0) > 0:
                    per_split[r[-1]] -= 1
                    f.write("\t".join(r) + "\n")
        ckpt = os.path.join(self.work, "resnet160")
        bt.bend(["model", "init", "--arch", "resnetlm", "--out", ckpt, "--seed", "4", "--hidden-size", "160",
                 "--n-layers", "1"])
        args = ["--label-depth", "6", "--criterion", "bce", "--metric", "auroc", "--output-window", "512",
                "--batch-size", "16", "--seed", "1", "--epochs", "2", "--shuffle-buffer", "50"]
        results = {}
        for fmt in ("tfrecord", "hdf5"):
            data = os.path.join(self.work, "wide_" + fmt)
            bt.bend(["embed", "--bed", bed, "--genome", os.path.join(self.data, "genome", "demo.fa"), "--model",
                     "resnetlm", "--checkpoint", ckpt, "--out", data, "--shard-rows", "32", "--label-depth", "6",
                     "--read-strand", "--format", fmt], np_ranks=2)
            for np_ranks in (1, 2):
                out = os.path.join(self.work, "wide_train_%s_np%d" % (fmt, np_ranks))
                p = bt.bend(["train", "--data", data, "--out", out] + args, np_ranks=np_ranks)
                self.assertIn("dim 160", p.stderr)
                results[fmt, np_ranks] = [r for r in csv.reader(open(os.path.join(out, "losses.csv")))]
        self.assertEqual(results["hdf5", 1], results["tfrecord", 1])
        self.assertEqual(results["hdf5", 2], results["tfrecord", 2])
        one, two = results["tfrecord", 1], results["tfrecord", 2]
        self.assertEqual(len(one), 3)
        for a, b in zip(one[1:], two[1:]):
            for x, y in zip(a[1:], b[1:]):  # losses and AUROC: the same up to float rounding
                self.assertLessEqual(abs(float(x) - float(y)), 1e-5 * max(1.0, abs(float(x))), (one, two))

    def test_inspect_verifies_and_names_a_corrupt_shard(self):
        p = bt.bend(["inspect", self.h5])
        self.assertIn("train.h5", p.stdout)
        p = bt.bend(["inspect", os.path.join(self.h5, "valid.h5"), "--records"])
        self.assertEqual(len(p.stdout.strip().splitlines()) - 1, len(h5_rows(os.path.join(self.h5, "valid.h5"))))
        bad = os.path.join(self.work, "corrupt")
        shutil.copytree(self.h5, bad)
        with h5py.File(os.path.join(bad, "train.h5"), "r+") as f:
            off = f["offsets"][:]
            f["embeddings"][off[70], 0] = 7.0  # a row of shard 1
        p = bt.bend(["inspect", bad], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("train.h5: shard 1", p.stderr)
        self.assertIn("corrupt", p.stderr)

    def test_version_1_files_with_fixed_length_string_attributes_are_still_read(self):
        """Format version 1 stored string attributes fixed-length (h5py: bytes); the reader takes both."""
        old = os.path.join(self.work, "version1")
        shutil.copytree(self.h5, old)
        for name in h5_files(old):
            with h5py.File(os.path.join(old, name), "r+") as f:
                for obj in (f, f["embeddings"]):
                    for k in list(obj.attrs):
                        v = obj.attrs[k]
                        if isinstance(v, str):
                            raw = v.encode()
                            tid = h5py.h5t.C_S1.copy()
                            tid.set_size(max(1, len(raw)))
                            tid.set_strpad(h5py.h5t.STR_NULLPAD)
                            tid.set_cset(h5py.h5t.CSET_UTF8)
                            del obj.attrs[k]
                            obj.attrs.create(k, np.array(raw, dtype="S%d" % max(1, len(raw))), dtype=h5py.Datatype(tid))
                f.attrs["version"] = np.int64(1)
            with h5py.File(os.path.join(old, name), "r") as f:
                self.assertIsInstance(f.attrs["model"], bytes, "the copy has version 1's fixed-length strings")
        def table(p, d):  # the inspect table without the file size (rewritten attributes moved it)
            rows = [l.split("\t") for l in p.stdout.replace(d, "OUT").splitlines()]
            drop = next((r.index("bytes") for r in rows if "bytes" in r), None)
            return [[c for i, c in enumerate(r) if i != drop] for r in rows]
        for args in (["inspect"], ["inspect", "--records"]):
            for name in h5_files(old):
                new_p = bt.bend(args + [os.path.join(self.h5, name)])
                old_p = bt.bend(args + [os.path.join(old, name)])
                self.assertEqual(table(old_p, old), table(new_p, self.h5))
                self.assertGreater(len(table(new_p, self.h5)), 1)
        args = ["--label-depth", "6", "--criterion", "bce", "--metric", "auroc", "--output-window", "512",
                "--batch-size", "32", "--seed", "1", "--epochs", "1"]
        results = []
        for data in (self.h5, old):
            out = os.path.join(self.work, "train_v%s" % len(results))
            bt.bend(["train", "--data", data, "--out", out] + args)
            results.append(bt.read_text(os.path.join(out, "losses.csv")))
        self.assertEqual(results[0], results[1])
        # a version 1 file is never resumed into (that would mix the two layouts): an unfinished one
        # is written again, whole; finished ones are left as they are (still readable)
        mpath = os.path.join(old, "manifest.json")
        manifest = json.loads(bt.read_text(mpath))
        manifest["status"] = "stopped"
        dropped = [s for s in manifest["shards"] if s["file"] == "train.h5"][-1]  # train.h5 unfinished
        manifest["shards"].remove(dropped)
        with open(mpath, "w") as f:
            json.dump(manifest, f)
        p = bt.bend(task_args(self.data, "histone_demo", old, ["--format", "hdf5"]), np_ranks=2)
        self.assertIn("%s: format version 1 (an earlier bend); writing it again" % os.path.join(old, "train.h5"),
                      p.stderr)
        self.assertEqual(datasets_and_attrs(os.path.join(old, "train.h5")),
                         datasets_and_attrs(os.path.join(self.h5, "train.h5")))
        with h5py.File(os.path.join(old, "train.h5"), "r") as f:
            self.assertEqual(f.attrs["version"], 2)
        with h5py.File(os.path.join(old, "valid.h5"), "r") as f:
            self.assertEqual(f.attrs["version"], 1)
        self.assertEqual(bt.read_bytes(os.path.join(old, "manifest.json")).count(b'"complete"'), 1)

    def test_other_parameters_and_foreign_files_are_refused_unless_overwrite(self):
        out = os.path.join(self.work, "refuse")
        shutil.copytree(self.h5, out)
        before = datasets_and_attrs(os.path.join(out, "train.h5"))
        p = bt.bend(task_args(self.data, "histone_demo", out, ["--format", "hdf5", "--dtype", "float16"]),
                    np_ranks=2, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("different parameters", p.stderr)
        self.assertIn("dtype", p.stderr)
        self.assertEqual(datasets_and_attrs(os.path.join(out, "train.h5")), before, "refused run changed nothing")
        # without a manifest the file's own `params` attribute is checked
        os.remove(os.path.join(out, "manifest.json"))
        p = bt.bend(task_args(self.data, "histone_demo", out, ["--format", "hdf5", "--dtype", "float16"]),
                    check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("train.h5 was written with different parameters", p.stderr)
        foreign = os.path.join(self.work, "foreign")
        os.makedirs(foreign)
        with h5py.File(os.path.join(foreign, "valid.h5"), "w") as f:
            f["data"] = np.arange(3)
        p = bt.bend(task_args(self.data, "histone_demo", foreign, ["--format", "hdf5"]), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("valid.h5 exists and is not a bend embeddings file", p.stderr)
        bt.bend(task_args(self.data, "histone_demo", foreign, ["--format", "hdf5", "--overwrite"]), np_ranks=2)
        self.assertEqual(datasets_and_attrs(os.path.join(foreign, "valid.h5")),
                         datasets_and_attrs(os.path.join(self.h5, "valid.h5")))

    def test_a_locked_file_is_refused_before_anything_changes(self):
        out = os.path.join(self.work, "locked")
        shutil.copytree(self.h5, out)
        manifest = bt.read_bytes(os.path.join(out, "manifest.json"))
        # another writer (what a second bend embed holds), then an h5py reader (HDF5's own lock)
        with open(os.path.join(out, "valid.h5"), "rb") as held:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            p = bt.bend(task_args(self.data, "histone_demo", out, ["--format", "hdf5"]), np_ranks=2, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("valid.h5 is locked by another process", p.stderr)
        with h5py.File(os.path.join(out, "train.h5"), "r"):
            p = bt.bend(task_args(self.data, "histone_demo", out, ["--format", "hdf5", "--overwrite"]), check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("train.h5 is locked by another process", p.stderr)
        self.assertEqual(bt.read_bytes(os.path.join(out, "manifest.json")), manifest)
        # and the lock is released: the same run now resumes with nothing to do
        p = bt.bend(task_args(self.data, "histone_demo", out, ["--format", "hdf5"]))
        self.assertIn("resuming: ", p.stderr)

    def test_compression_is_refused_with_hdf5(self):
        out = os.path.join(self.work, "compressed")
        p = bt.bend(task_args(self.data, "histone_demo", out, ["--format", "hdf5", "--compression", "zlib"]),
                    np_ranks=2, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot be used with --format hdf5", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "train.h5")))

    def test_full_disk_gives_a_clear_error_and_no_complete_file(self):
        if shutil.which("unshare") is None:
            self.skipTest("no unshare(1)")
        out = os.path.join(self.work, "full")
        keep = os.path.join(self.work, "full_copy")
        os.makedirs(out)
        os.makedirs(keep)
        # A private mount namespace: the 1 MiB tmpfs vanishes with the shell, whatever happens.
        cmd = " ".join(["mount -t tmpfs -o size=1m bendtest %s || exit 77;" % out]
                       + [bt.BEND] + task_args(self.data, "histone_demo", out, ["--format", "hdf5"])
                       + ["; rc=$?; cp -a %s/. %s/; exit $rc" % (out, keep)])
        p = bt.run(["unshare", "-m", "sh", "-c", cmd], check=False)
        if p.returncode == 77:
            self.skipTest("cannot mount a tmpfs here: " + p.stderr.strip())
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("not enough disk space", p.stderr)
        self.assertIn("train.h5", p.stderr)
        for name in h5_files(keep):
            if os.path.getsize(os.path.join(keep, name)) == 0:
                continue
            try:
                with h5py.File(os.path.join(keep, name), "r") as f:
                    self.assertEqual(f.attrs.get("complete", 0), 0, name)
            except OSError:
                pass  # not even readable as HDF5: does not look complete either
        m = os.path.join(keep, "manifest.json")
        if os.path.exists(m):
            self.assertNotEqual(json.loads(bt.read_text(m))["status"], "complete")


if __name__ == "__main__":
    unittest.main()
