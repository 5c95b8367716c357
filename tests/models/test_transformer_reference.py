"""bend's LibTorch transformer encoders against independent python3-torch references.

Each checkpoint is written by bend (tool_transformer init) from a real config.json in
tests/data (DNABERT-6, DNABERT-2, GENA-LM pre-LN / last-LN / rotary, BigBird) or from the
Nucleotide Transformer configs in tests/models/configs, shrunk to a few small layers, with
seeded weights. The reference (transformer_reference.py) reads the same model.safetensors.
Required: max |bend - reference| <= 1e-4 (float32) at two lengths, alone and in padded batches;
BigBird also at the lengths around its switch to block-sparse attention and up to 4096 tokens.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import transformer_reference as ref  # noqa: E402

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_transformer")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")  # tests/data: real test data
HERE = os.path.dirname(os.path.abspath(__file__))
GENA = os.path.join(DATA, "configs", "gena-lm")
TOL = 1e-4

# Small sizes for every model: real configs keep their other keys. initializer_range 0.15 makes
# attention far from uniform, so a wrong mask, position or head split shows.
SMALL = {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
         "intermediate_size": 96, "initializer_range": 0.15}

# name: (arch, config.json, overrides beyond SMALL)
CASES = {
    "dnabert6": ("bert", os.path.join(DATA, "tokenizers", "dnabert-6", "config.json"), {}),
    "gena_preln_lastln": ("bert", os.path.join(GENA, "L12-H768-A12-V32k-preln-lastln.json"), {}),
    "gena_preln": ("bert", os.path.join(GENA, "L12-H768-A12-V32k-preln.json"), {}),
    "gena_L24_eps1e-5": ("bert", os.path.join(GENA, "L24-H1024-A16-V32k-preln-lastln.json"),
                         {"num_attention_heads": 8}),
    # the rope config without DeepSpeed sparsity, rotating 12 of each head's 16 dims
    "gena_rotary": ("bert", os.path.join(GENA, "L12-H768-A12-V32k-L4096-preln-sparse-rope.json"),
                    {"sparse_config_cls": None, "rotary_dim": 12}),
    "bigbird": ("bert", os.path.join(GENA, "hf_bigbird_L12-H768-A12-V32k-L4096.json"), {}),
    # smaller blocks, 2 random blocks: full attention up to (5 + 2 * 2) * 16 = 144 tokens
    "bigbird_b16_r2": ("bert", os.path.join(GENA, "hf_bigbird_L12-H768-A12-V32k-L4096.json"),
                       {"block_size": 16, "num_random_blocks": 2}),
    "bigbird_full": ("bert", os.path.join(GENA, "hf_bigbird_L12-H768-A12-V32k-L4096.json"),
                     {"attention_type": "original_full"}),
    "nt_v1": ("esm", os.path.join(HERE, "configs", "nt-v1-small.json"), {}),
    "nt_v1_emb_ln": ("esm", os.path.join(HERE, "configs", "nt-v1-small.json"),
                     {"emb_layer_norm_before": True, "token_dropout": False}),
    "nt_v2": ("esm", os.path.join(HERE, "configs", "nt-v2-small.json"), {}),
    "dnabert2": ("mosaic-bert", os.path.join(DATA, "tokenizers", "dnabert2", "config.json"),
                 {"num_attention_heads": 12, "hidden_size": 96}),  # 12 heads: ALiBi's non-2^n case
}


def run(*args, expect_ok=True):
    r = subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True)
    if expect_ok and r.returncode != 0:
        raise AssertionError(f"tool_transformer {' '.join(map(str, args))} failed:\n{r.stderr}")
    return r


def run_script(tmp, commands):
    """Runs the commands (argument lists) in one tool process (LibTorch starts once); returns
    per command (ok, "error message" or "", its stdout)."""
    path = os.path.join(tmp, "script.txt")
    with open(path, "w") as f:
        f.write("".join("\t".join(map(str, c)) + "\n" for c in commands))
    out = run("script", path).stdout
    results = []
    for block in out.split("@@ ")[1:]:
        head, _, body = block.partition("\n")
        if head.startswith("ok"):
            results[-1] = (True, "", results[-1][2])
        elif head.startswith("error: "):
            results[-1] = (False, block[len("error: "):].strip(), results[-1][2])
        else:
            results.append((None, "", body))
    assert len(results) == len(commands) and all(r[0] is not None for r in results), out
    return results


def init_args(arch, d, seed, config, sets):
    return ["init", arch, d, seed, config, *[f"{k}={json.dumps(v)}" for k, v in sets.items()]]


def random_ids(rng, n, cfg):
    """n token ids of the vocabulary, never the padding id (real inputs carry none); ESM inputs
    with token_dropout get some mask tokens."""
    pad = cfg.get("pad_token_id", 0)
    out = []
    while len(out) < n:
        t = rng.randrange(cfg["vocab_size"])
        if t != pad:
            out.append(t)
    if cfg.get("token_dropout") and n > 4:
        for i in rng.sample(range(n), n // 5):
            out[i] = cfg["mask_token_id"]
    return out


class TransformerReference(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import torch
        torch.set_num_threads(1)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ckpts = {}
        commands = []  # every checkpoint, written by one tool process
        for name, (arch, config, extra) in CASES.items():
            commands.append(init_args(arch, os.path.join(cls.tmp.name, name), 7, config,
                                      dict(SMALL, **extra)))
            cls.ckpts[name] = (arch, os.path.join(cls.tmp.name, name))
        sparse = os.path.join(GENA, "L12-H768-A12-V32k-L4096-preln-lastln-sparse-ln1e-05.json")
        commands.append(init_args("bert", os.path.join(cls.tmp.name, "sparse"), 1, sparse, SMALL))
        for ok, err, _ in run_script(cls.tmp.name, commands):
            assert ok, err

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def checkpoint(self, name):
        """(arch, dir, config) of case `name`."""
        arch, d = self.ckpts[name]
        with open(os.path.join(d, "config.json")) as f:
            return arch, d, json.load(f)

    def forward(self, arch, d, inputs, n_alone):
        """States of every input: the first n_alone run one at a time, the rest as one batch."""
        ids_path = os.path.join(self.tmp.name, "ids.txt")
        out_path = os.path.join(self.tmp.name, "out.bin")
        with open(ids_path, "w") as f:
            f.write("".join(" ".join(map(str, ids)) + "\n" for ids in inputs))
        stdout = run("forward", arch, d, ids_path, out_path, "--alone", n_alone).stdout
        h = int(stdout.split()[1])
        flat = np.fromfile(out_path, dtype="<f4")
        self.assertEqual(flat.size, sum(len(i) for i in inputs) * h)
        out, off = [], 0
        for ids in inputs:
            out.append(flat[off:off + len(ids) * h].reshape(len(ids), h))
            off += len(ids) * h
        return out

    def check_case(self, name, lengths=(5, 130), batch_lengths=(130, 5, 64, 1)):
        """Each of `lengths` alone and `batch_lengths` in one padded batch vs the reference."""
        arch, d, cfg = self.checkpoint(name)
        rng = random.Random(sum(name.encode()))
        model = ref.reference(arch, d, cfg)
        inputs = [random_ids(rng, n, cfg) for n in list(lengths) + list(batch_lengths)]
        got = self.forward(arch, d, inputs, n_alone=len(lengths))
        worst = 0.0
        for ids, g in zip(inputs, got):
            want = model(ids)
            self.assertEqual(want.shape, g.shape)
            self.assertGreater(float(np.abs(want).max()), 0.1)  # not a degenerate output
            diff = float(np.abs(want - g).max())
            worst = max(worst, diff)
            self.assertLessEqual(diff, TOL, f"{name}: {len(ids)} tokens")
        print(f"  {name}: max |bend - reference| = {worst:.2e} over lengths "
              f"{list(lengths)} alone and {list(batch_lengths)} batched")

    def test_dnabert_bert(self):
        self.check_case("dnabert6", lengths=(5, 512))

    def test_gena_lm_pre_layer_norm_with_last_layer_norm(self):
        self.check_case("gena_preln_lastln")

    def test_gena_lm_pre_layer_norm_without_last_layer_norm(self):
        self.check_case("gena_preln")

    def test_gena_lm_large_config_layer_norm_eps(self):
        self.check_case("gena_L24_eps1e-5")

    def test_gena_lm_partial_rotary(self):
        self.check_case("gena_rotary")

    def test_bigbird_full_attention(self):
        self.check_case("bigbird", lengths=(3, 704), batch_lengths=(300, 7))
        self.check_case("bigbird_full", lengths=(5, 2000), batch_lengths=(800, 9))

    def test_bigbird_block_sparse_attention(self):
        """Hugging Face switches to block-sparse attention above (5 + 2 r) block_size = 704
        tokens: 705 (padded to 768), a non-multiple of 64, 1024 (its "paper plan" length), the
        4096 of the position table; in a batch beside short inputs (full attention each)."""
        self.check_case("bigbird", lengths=(704, 705, 1000, 1024, 4096),
                        batch_lengths=(4000, 3, 705, 640))
        self.check_case("bigbird_b16_r2", lengths=(144, 145, 333), batch_lengths=(146, 12, 500))

    def test_bigbird_block_sparse_attention_aten_path(self):
        """The ATen products CUDA runs (at::matmul), forced on CPU by BEND_TRANSFORMER_ATEN; the
        CPU default above runs them through oneDNN."""
        os.environ["BEND_TRANSFORMER_ATEN"] = "1"
        try:
            self.check_case("bigbird", lengths=(705, 4096), batch_lengths=(1000, 3))
        finally:
            del os.environ["BEND_TRANSFORMER_ATEN"]

    def test_bigbird_reference_variants_fail(self):
        """The comparison can fail: references with other random blocks (block 1 instead of
        Hugging Face's eval-mode block 0), without the global blocks or with full attention
        differ from bend by far more than the tolerance."""
        arch, d, cfg = self.checkpoint("bigbird")
        ids = random_ids(random.Random(11), 900, cfg)
        got = self.forward(arch, d, [ids], n_alone=1)[0]
        self.assertLessEqual(float(np.abs(ref.reference(arch, d, cfg)(ids) - got).max()), TOL)
        full = dict(cfg, attention_type="original_full")  # what bend ran before: full attention
        variants = [("rand1", ref.reference(arch, d, cfg, "rand1")),
                    ("no_global", ref.reference(arch, d, cfg, "no_global")),
                    ("full attention", ref.reference(arch, d, full))]
        for variant, model in variants:
            diff = float(np.abs(model(ids) - got).max())
            print(f"  bigbird reference variant {variant}: max |bend - variant| = {diff:.2e}")
            self.assertGreater(diff, 100 * TOL, variant)

    def test_nucleotide_transformer_v1_token_dropout(self):
        self.check_case("nt_v1", lengths=(4, 1000))

    def test_nucleotide_transformer_v1_embedding_layer_norm(self):
        self.check_case("nt_v1_emb_ln")

    def test_nucleotide_transformer_v2_rotary_swiglu(self):
        self.check_case("nt_v2")

    def test_dnabert2_alibi_gated_mlp(self):
        self.check_case("dnabert2", lengths=(6, 700))  # longer than its 512 positions: ALiBi

    def test_too_long_inputs_are_refused(self):
        cases = [("dnabert6", 513, "more than the model's 512"),
                 ("nt_v1", 1001, "more than the model's 1000"),
                 ("bigbird", 4097, "more than the model's 4096")]
        commands = []
        for name, n, _ in cases:
            p = os.path.join(self.tmp.name, f"long_{name}.txt")
            with open(p, "w") as f:
                f.write(" ".join(["5"] * n) + "\n")
            commands.append(["forward", *self.checkpoint(name)[:2], p,
                             os.path.join(self.tmp.name, "x.bin")])
        for (ok, err, _), (name, n, what) in zip(run_script(self.tmp.name, commands), cases):
            self.assertFalse(ok, name)
            self.assertIn(what, err)

    def test_converted_pytorch_bin_checkpoint_loads(self):
        """A BertForMaskedLM-style pytorch_model.bin (tied decoder, position_ids buffer, cls.*
        head) converted by tools/bin_to_safetensors.py gives the same states."""
        import shutil
        import torch
        arch, d, cfg = self.checkpoint("dnabert6")
        w = ref.read_safetensors(os.path.join(d, "model.safetensors"))
        state = {k: torch.from_numpy(v) for k, v in w.items()}
        state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]
        state["cls.predictions.bias"] = torch.zeros(cfg["vocab_size"])
        state["bert.embeddings.position_ids"] = torch.arange(512)[None, :]
        conv = os.path.join(self.tmp.name, "converted")
        os.makedirs(conv)
        shutil.copy(os.path.join(d, "config.json"), conv)
        torch.save(state, os.path.join(conv, "pytorch_model.bin"))
        script = os.path.join(HERE, "..", "..", "tools", "bin_to_safetensors.py")
        subprocess.run([sys.executable, script, os.path.join(conv, "pytorch_model.bin"),
                        os.path.join(conv, "model.safetensors")], check=True, capture_output=True)
        os.remove(os.path.join(conv, "pytorch_model.bin"))
        inputs = [random_ids(random.Random(5), n, cfg) for n in (9, 40)]
        a = self.forward(arch, d, inputs, n_alone=2)
        b = self.forward(arch, conv, inputs, n_alone=2)
        for x, y in zip(a, b):
            self.assertEqual(float(np.abs(x - y).max()), 0.0)

    def test_deepspeed_sparse_config_is_refused(self):
        p = os.path.join(self.tmp.name, "one.txt")
        with open(p, "w") as f:
            f.write("5 6 7\n")
        d = os.path.join(self.tmp.name, "sparse")
        r = run("forward", "bert", d, p, os.path.join(self.tmp.name, "x.bin"), expect_ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("DeepSpeed sparse attention", r.stderr)
        self.assertIn(os.path.join(d, "config.json"), r.stderr)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
