"""Every architecture on CUDA equals its CPU output (float32, max |diff| <= 1e-4), and bf16 / fp16
autocast stays within the stated tolerance of CUDA float32, on the benchmark's seeded checkpoints
(tools/bench/run_bench.py zoo_models) and real hg38 windows."""
import os
import unittest

import numpy as np

from gputest import bt, forward, run_bench

# Reduced precision vs float32, max |diff| over all outputs, per model (outputs are layer-normed,
# magnitude ~1): bf16 keeps 8 mantissa bits, fp16 11. First stated from the formats; the GPU run
# prints the measured values (docs/benchmarks.md).
TOLERANCE = {"bf16": 0.15, "fp16": 0.03}


class CudaModels(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = bt.tmpdir()
        cls.seqs = os.path.join(cls.work, "seqs.txt")
        run_bench.zoo_sequences(cls.seqs, 4, 512)

    def test_each_architecture_on_cuda_equals_cpu_and_autocast_is_close(self):
        for i, (row, model, init) in enumerate(run_bench.zoo_models(quick=True)):
            with self.subTest(row):
                ckpt = os.path.join(self.work, "m%d_%s" % (i, model))
                bt.bend(["model", "init", "--out", ckpt, "--seed", str(11 + i)] + init)
                cpu = forward(ckpt, model, self.seqs, ckpt + ".cpu.f32")
                gpu = forward(ckpt, model, self.seqs, ckpt + ".cuda.f32", ["--cuda"])
                self.assertEqual(cpu.shape, gpu.shape)
                self.assertTrue(np.isfinite(gpu).all())
                diff = float(np.abs(cpu - gpu).max())
                print("%-24s cuda fp32 vs cpu: max_abs_diff=%.3g" % (row, diff))
                self.assertLessEqual(diff, 1e-4, row)
                for prec, tol in TOLERANCE.items():
                    low = forward(ckpt, model, self.seqs, ckpt + ".%s.f32" % prec, ["--cuda", "--precision", prec])
                    d = float(np.abs(low - gpu).max())
                    print("%-24s cuda %s vs fp32: max_abs_diff=%.3g (tolerance %g)" % (row, prec, d, tol))
                    self.assertLessEqual(d, tol, (row, prec))
                    self.assertGreater(d, 0.0, "%s: %s gave float32's exact outputs: autocast not applied" % (row, prec))


if __name__ == "__main__":
    unittest.main(verbosity=2)
