"""`bend model init` and `bend models`, run through $BEND_BIN.

Checks the written config.json against BEND's resnetlm defaults and the flags given, the weights
with an independent safetensors parser, seed determinism, and that refusals exit non-zero with
the path named.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_resnetlm_reference import read_safetensors  # noqa: E402  (json + numpy parser)

BEND = os.environ.get("BEND_BIN", "bend")
TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_resnetlm")
BEND_DEFAULTS = dict(vocab_size=7, hidden_size=256, n_layers=30, kernel_size=9,
                     dilation_double_every=1, dilation_max=32, dilation_cycle=6,
                     initializer_range=0.02)


def bend(*args):
    return subprocess.run([BEND, *args], capture_output=True, text=True)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class ModelCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not (os.path.isfile(BEND) and os.access(BEND, os.X_OK)):
            raise AssertionError(f"BEND_BIN={BEND} is not an executable: build the bend target")

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def init(self, out, *flags):
        r = bend("model", "init", "--out", os.path.join(self.d, out), *flags)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.d, out, "config.json")) as f:
            return json.load(f), r.stdout

    def test_defaults_are_bends_resnetlm(self):
        cfg, stdout = self.init("full")
        for k, v in BEND_DEFAULTS.items():
            self.assertEqual(cfg[k], v, k)
        self.assertIn(os.path.join(self.d, "full"), stdout)
        w = read_safetensors(os.path.join(self.d, "full", "model.safetensors"))
        self.assertEqual(len(w), 8 * 30)
        self.assertEqual(w["encoder.29.conv.1.weight"].shape, (256, 256, 9))
        self.assertEqual(w["encoder.0.ffn.0.weight"].shape, (256, 256))
        self.assertAlmostEqual(float(w["encoder.3.conv.1.weight"].std()), 0.02, delta=0.001)

    def test_flags_override_the_config_file(self):
        base = dict(BEND_DEFAULTS, hidden_size=32, n_layers=4, dilation_max=8, kernel_size=5)
        cfg_path = os.path.join(self.d, "base.json")
        with open(cfg_path, "w") as f:
            json.dump(base, f)
        cfg, _ = self.init("m", "--config", cfg_path, "--n-layers", "2", "--seed", "3",
                           "--initializer-range", "0.5")
        self.assertEqual(cfg["hidden_size"], 32)
        self.assertEqual(cfg["kernel_size"], 5)
        self.assertEqual(cfg["dilation_max"], 8)
        self.assertEqual(cfg["n_layers"], 2)
        self.assertEqual(cfg["initializer_range"], 0.5)
        w = read_safetensors(os.path.join(self.d, "m", "model.safetensors"))
        self.assertEqual(sorted(w), sorted(f"encoder.{i}.{t}" for i in range(2) for t in [
            "conv.1.weight", "conv.1.bias", "conv.4.weight", "conv.4.bias",
            "ffn.0.weight", "ffn.0.bias", "ffn.2.weight", "ffn.2.bias"]))
        self.assertEqual(w["encoder.1.conv.1.weight"].shape, (32, 32, 5))

    def test_same_seed_same_bytes_as_the_library(self):
        self.init("a", "--hidden-size", "16", "--n-layers", "3", "--seed", "77")
        self.init("b", "--hidden-size", "16", "--n-layers", "3", "--seed", "77")
        self.init("c", "--hidden-size", "16", "--n-layers", "3", "--seed", "78")
        cfg_path = os.path.join(self.d, "a", "config.json")
        subprocess.run([TOOL, "init", os.path.join(self.d, "lib"), "77", cfg_path], check=True)
        for name in ["config.json", "tokenizer.json", "model.safetensors"]:
            a = read_bytes(os.path.join(self.d, "a", name))
            self.assertEqual(a, read_bytes(os.path.join(self.d, "b", name)), name)
            self.assertEqual(a, read_bytes(os.path.join(self.d, "lib", name)), name)
        self.assertNotEqual(read_bytes(os.path.join(self.d, "a", "model.safetensors")),
                            read_bytes(os.path.join(self.d, "c", "model.safetensors")))

    def test_refusals_exit_non_zero_and_name_the_problem(self):
        self.init("x", "--hidden-size", "8", "--n-layers", "1")
        r = bend("model", "init", "--out", os.path.join(self.d, "x"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(os.path.join(self.d, "x"), r.stderr)
        r = bend("model", "init", "--out", os.path.join(self.d, "y"), "--arch", "transformer")
        self.assertNotEqual(r.returncode, 0)
        r = bend("model", "init", "--out", os.path.join(self.d, "z"), "--hidden-size", "4")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("hidden_size", r.stderr)  # one-hot of 7 tokens needs >= 7 channels
        self.assertFalse(os.path.exists(os.path.join(self.d, "z")))

    def test_models_lists_the_registry(self):
        r = bend("models")
        self.assertEqual(r.returncode, 0, r.stderr)
        blocks, name = {}, None  # "name  description" then indented detail lines
        for line in r.stdout.splitlines():
            if line and not line.startswith(" "):
                name = line.split()[0]
                blocks[name] = ""
            elif name:
                blocks[name] += line + "\n"
        self.assertIn("onehot", blocks)
        self.assertIn("resnetlm", blocks)
        self.assertIn("checkpoint: none", blocks["onehot"])
        self.assertIn("dim: 5;", blocks["onehot"])
        self.assertIn("checkpoint: config.json, model.safetensors, tokenizer.json", blocks["resnetlm"])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
