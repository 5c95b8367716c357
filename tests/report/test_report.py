"""`bend report`: BEND's table (models x tasks, mean +- sd over runs, n, best marked) recomputed
independently from the CSVs with numpy (np.std, as BEND's scripts/list_metrics.py), the page
loaded in a real headless browser (Debian's chromium): the script ran without console errors, the
numbers in the DOM equal the recomputed ones, a non-blank PNG screenshot; malformed CSVs are
errors naming file:line; and a tree made by real `bend train` runs."""
import csv
import html.parser
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import unittest
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "app"))
import bendtest as bt  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HISTONE = ["--label-depth", "6", "--criterion", "bce", "--metric", "auroc", "--output-window", "512",
           "--batch-size", "32"]


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def make_tree(root, rng):
    """A synthetic results tree: 3 tasks x 3 models with folds or seeds (one cell missing), two
    variant tasks with categories. Returns {(task, model): [headline values]} and the variant rows."""
    tasks = {"gene_finding": ("mcc", ["test_loss", "test_mcc", "test_recall_0", "test_precision_0"]),
             "histone_modification": ("auroc", ["test_loss", "test_auroc_avg", "test_auroc_0"]),
             "enhancer_annotation": ("auprc", ["test_loss", "test_auprc"])}
    values = {}
    for task, (metric, cols) in tasks.items():
        for model in ["onehot", "resnetlm", "resnet-supervised"]:
            if task == "enhancer_annotation" and model == "resnetlm":
                continue  # an empty cell
            runs = ["fold%d" % k for k in range(1, 4)] if task == "enhancer_annotation" else \
                ["seed%d" % s for s in range(1, 1 + rng.randint(1, 3))]
            for run in runs:
                d = os.path.join(root, "downstream_tasks", task, model, run)
                row = [rng.random() for _ in cols]
                write_csv(os.path.join(d, "best_model_metrics.csv"), ["Epoch", "train_loss", "val_loss", "val_" + metric]
                          + cols, [[3, 0.5, 0.6, 0.7] + row])
                values.setdefault((task, model), []).append(row[1])
                write_csv(os.path.join(d, "losses.csv"), ["Epoch", "train_loss", "val_loss", "val_" + metric],
                          [[e, 1 / e + rng.random() * 0.1, 1.2 / e, 0.5 + e * 0.05] for e in range(1, 6)])
    variants = {}
    for vt in ["variant_effects_expression", "variant_effects_disease"]:
        for model in ["onehot", "resnetlm"]:
            rows = []
            for score in ["cosine", "l2"]:
                for cat in ["all", "missense", "synonymous", "intron"]:
                    a = rng.random()
                    rows.append([score, cat, rng.randint(5, 50), rng.randint(5, 50), "%.10f" % a,
                                 "%.10f" % max(0, a - 0.1), "%.10f" % min(1, a + 0.1), 1000])
            write_csv(os.path.join(root, vt, model, "auroc.csv"),
                      ["score", "category", "n_pos", "n_neg", "auroc", "ci_low", "ci_high", "n_boot"], rows)
            variants[(vt, model)] = rows
    return values, variants


class Dom(html.parser.HTMLParser):
    """Table cells, task bars, variant bars, curves, svg count and body attributes of a DOM."""

    def __init__(self):
        super().__init__()
        self.cells, self.bars, self.vbars, self.curves, self.svgs, self.body = [], [], [], [], 0, {}
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "")
        if tag == "body":
            self.body = a
        if tag == "svg":
            self.svgs += 1
        if tag == "td" and "cell" in cls.split():
            self._cell = dict(a, text="")
        if tag == "rect" and cls == "task-bar":
            self.bars.append(a)
        if tag == "rect" and cls == "variant-bar":
            self.vbars.append(a)
        if tag == "figure" and cls == "curve":
            self.curves.append(a)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append(self._cell)
            self._cell = None


def png_pixels(path):
    """(width, height, set of distinct RGBA pixels) of an 8-bit RGB/RGBA PNG (decoded here)."""
    data = bt.read_bytes(path)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, prev, colours, off = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set(), 0
    for _ in range(h):
        f, line = raw[off], bytearray(raw[off + 1:off + 1 + stride])
        off += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(line[i:i + bpp]) for i in range(0, stride, bpp * 7))
        prev = line
    return w, h, colours


def chromium(page, extra, work):
    """Runs headless chromium on `page`; returns (stdout, stderr)."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--user-data-dir=" + os.path.join(work, "chromium-profile"),
            "--enable-logging=stderr", "--v=0"] + extra + ["file://" + os.path.abspath(page)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=180,
                       env=dict(os.environ, HOME=work))
    return p.stdout, p.stderr


def console_errors(stderr):
    return [ln for ln in stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]


class Report(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir()
        cls.root = os.path.join(cls.work, "results")
        cls.values, cls.variants = make_tree(cls.root, random.Random(7))
        cls.proc = bt.bend(["report", cls.root, "--out", os.path.join(cls.work, "out"), "--title", "Demo <&> results"])
        cls.out = os.path.join(cls.work, "out")

    def expected(self):
        """{(task, model): (mean, sd, n)} recomputed here; variant tasks: cosine, category all."""
        e = {k: (np.mean(v), np.std(v), len(v)) for k, v in self.values.items()}
        for (vt, model), rows in self.variants.items():
            a = float([r for r in rows if r[0] == "cosine" and r[1] == "all"][0][4])
            e[(vt, model)] = (a, 0.0, 1)
        return e

    def test_csv_equals_numpy_recomputation_and_best_is_marked(self):
        with open(os.path.join(self.out, "report.csv")) as f:
            rows = list(csv.DictReader(f))
        exp = self.expected()
        tasks = sorted({t for t, _ in exp})
        self.assertEqual(sorted(r["model"] for r in rows), ["onehot", "resnet-supervised", "resnetlm"])
        for task in tasks:
            best = max(v[0] for (t, _), v in exp.items() if t == task)
            for r in rows:
                key = (task, r["model"])
                if key not in exp:
                    self.assertEqual(r[task + "_mean"], "", key)
                    continue
                mean, sd, n = exp[key]
                self.assertAlmostEqual(float(r[task + "_mean"]), mean, delta=1e-12 * max(1, abs(mean)), msg=key)
                self.assertAlmostEqual(float(r[task + "_sd"]), sd, delta=1e-12, msg=key)
                self.assertEqual(int(r[task + "_n"]), n, key)
                self.assertEqual(r[task + "_best"], "1" if mean == best else "0", key)

    def test_markdown_is_printed_and_written(self):
        md = bt.read_text(os.path.join(self.out, "report.md"))
        self.assertEqual(self.proc.stdout, md)
        self.assertTrue(md.startswith("# Demo <&> results\n"))
        mean, sd, n = self.expected()[("gene_finding", "onehot")]
        self.assertIn("%.4f ± %.4f (n=%d)" % (mean, sd, n), md)
        self.assertEqual(md.count("**") // 2, len({t for t, _ in self.expected()}))  # one best per column
        self.assertIn("gene_finding (test_mcc)", md)
        self.assertIn("variant_effects_disease (auroc (cosine))", md)

    def test_report_runs_in_bend_without_libtorch(self):
        # with BEND_TORCH_EXEC set, a command that needed bend-torch would fail instead of re-executing
        p = bt.bend(["report", self.root, "--out", os.path.join(self.work, "torchfree")],
                    env={"BEND_TORCH_EXEC": "1"})
        self.assertEqual(bt.read_bytes(os.path.join(self.work, "torchfree", "report.csv")),
                         bt.read_bytes(os.path.join(self.out, "report.csv")))
        self.assertNotIn("LibTorch", p.stderr)

    def test_page_in_headless_chromium_numbers_screenshot(self):
        page = os.path.join(self.out, "report.html")
        self.assertNotIn("http://", bt.read_text(page).replace("http://www.w3.org/2000/svg", ""))  # no network
        dom_text, err = chromium(page, ["--dump-dom"], self.work)
        self.assertEqual(console_errors(err), [], err[-3000:])
        dom = Dom()
        dom.feed(dom_text)
        self.assertEqual(dom.body.get("data-ready"), str(dom.svgs), "the page's script did not run")
        exp = self.expected()
        self.assertEqual(len(dom.cells), len(exp))
        for c in dom.cells:
            mean, sd, n = exp[(c["data-task"], c["data-model"])]
            self.assertAlmostEqual(float(c["data-mean"]), mean, delta=1e-12 * max(1, abs(mean)))
            self.assertAlmostEqual(float(c["data-sd"]), sd, delta=1e-12)
            self.assertEqual(int(c["data-n"]), n)
            self.assertEqual(c["text"], "%.4f ± %.4f (n=%d)" % (mean, sd, n))
            best = max(v[0] for (t, _), v in exp.items() if t == c["data-task"])
            self.assertEqual("best" in c["class"].split(), mean == best, c)
        self.assertEqual({(b["data-task"], b["data-model"]) for b in dom.bars}, set(exp))
        for b in dom.bars:
            self.assertAlmostEqual(float(b["data-mean"]), exp[(b["data-task"], b["data-model"])][0], delta=1e-12)
        n_vrows = sum(len(r) for r in self.variants.values())
        self.assertEqual(len(dom.vbars), n_vrows)
        for b in dom.vbars:
            row = [r for r in self.variants[(b["data-task"], b["data-model"])]
                   if r[0] == b["data-score"] and r[1] == b["data-category"]][0]
            self.assertEqual(float(b["data-auroc"]), float(row[4]))
        n_runs = sum(len(v) for v in self.values.values())
        self.assertEqual(len(dom.curves), n_runs)
        self.assertTrue(all(c["data-epochs"] == "5" for c in dom.curves))
        png = os.path.join(self.work, "report.png")
        chromium(page, ["--screenshot=" + png, "--window-size=1280,1600", "--hide-scrollbars"], self.work)
        w, h, colours = png_pixels(png)
        self.assertEqual((w, h), (1280, 1600))
        self.assertGreater(len(colours), 10, "a blank screenshot")

    def test_the_console_check_catches_a_script_error(self):
        """The control for the test above: a page whose script throws is caught."""
        bad = os.path.join(self.work, "bad.html")
        with open(bad, "w") as f:
            f.write("<html><body><script>undefined_function_x();</script></body></html>")
        _, err = chromium(bad, ["--dump-dom"], self.work)
        self.assertNotEqual(console_errors(err), [], err[-2000:])

    def test_malformed_csvs_name_file_and_line(self):
        cases = [("best_model_metrics.csv", "Epoch,test_loss,test_mcc\n1,0.5,0.3\n2,0.5\n", ":3: 2 fields, the header has 3"),
                 ("best_model_metrics.csv", "Epoch,test_loss,test_mcc\n1,0.5,abc\n", ":2: column 'test_mcc': 'abc' is not a number"),
                 ("best_model_metrics.csv", "Epoch,test_loss\n1,0.5\n", ":1: expected test_loss and a test metric"),
                 ("losses.csv", "Epoch,train_loss,val_loss,val_mcc\n1,0.5,0.4,0.3\n2,x,0.4,0.3\n",
                  ":3: column 'train_loss': 'x' is not a number"),
                 ("auroc.csv", "score,category,n_pos,n_neg,auroc,ci_low,ci_high,n_boot\ncosine,all,\"3,4,0.5,0.4,0.6,10\n",
                  ":2: unterminated quoted field")]
        for i, (name, text, msg) in enumerate(cases):
            root = os.path.join(self.work, "bad%d" % i)
            d = os.path.join(root, "task", "model")
            os.makedirs(d)
            if name == "losses.csv":
                with open(os.path.join(d, "best_model_metrics.csv"), "w") as f:
                    f.write("Epoch,test_loss,test_mcc\n1,0.5,0.3\n")
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
            p = bt.bend(["report", root], check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn(os.path.join(d, name) + msg, p.stderr)
            self.assertNotIn("internal error", p.stderr)
        p = bt.bend(["report", os.path.join(self.work, "out")], check=False)  # nothing to report
        self.assertEqual(p.returncode, 1)
        self.assertIn("no results found", p.stderr)
        p = bt.bend(["report", os.path.join(self.work, "missing")], check=False)
        self.assertEqual(p.returncode, 2, p.stderr)


class ReportOfRealTraining(unittest.TestCase):
    """A results tree written by real `bend train` runs: 2 models (head sizes) x 2 seeds."""

    def test_report_of_bend_train_results(self):
        data, work = bt.demo_data(), bt.tmpdir()
        emb = os.path.join(work, "emb")
        task = os.path.join(data, "histone_demo")
        bt.bend(["embed", "--bed", os.path.join(task, "histone_demo.bed"), "--genome",
                 os.path.join(data, "genome", "demo.fa"), "--label-depth", "6", "--read-strand",
                 "--model", "onehot", "--out", emb, "--shard-rows", "100"])
        root = os.path.join(work, "results")
        for model, hidden in [("onehot-h16", "16"), ("onehot-h32", "32")]:
            for seed in ["1", "2"]:
                bt.bend(["train", "--data", emb, "--out", os.path.join(root, "histone_demo", model, "seed" + seed)]
                        + HISTONE + ["--epochs", "2", "--hidden-size", hidden, "--seed", seed])
        bt.bend(["report", root])
        with open(os.path.join(root, "report.csv")) as f:
            rows = {r["model"]: r for r in csv.DictReader(f)}
        for model in ["onehot-h16", "onehot-h32"]:
            vals = []
            for seed in ["1", "2"]:
                with open(os.path.join(root, "histone_demo", model, "seed" + seed, "best_model_metrics.csv")) as f:
                    vals.append(float(list(csv.DictReader(f))[0]["test_auroc_avg"]))
            self.assertAlmostEqual(float(rows[model]["histone_demo_mean"]), np.mean(vals), delta=1e-12)
            self.assertAlmostEqual(float(rows[model]["histone_demo_sd"]), np.std(vals), delta=1e-12)
            self.assertEqual(rows[model]["histone_demo_n"], "2")
        dom_text, err = chromium(os.path.join(root, "report.html"), ["--dump-dom"], work)
        self.assertEqual(console_errors(err), [], err[-3000:])
        dom = Dom()
        dom.feed(dom_text)
        self.assertEqual(len(dom.curves), 4)
        self.assertTrue(all(c["data-epochs"] == "2" for c in dom.curves))
        self.assertEqual(len(dom.cells), 2)


if __name__ == "__main__":
    unittest.main()
