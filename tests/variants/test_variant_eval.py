"""bend's AUROC and bootstrap interval (variant_eval.hpp, through tool_variant_eval) against
sklearn.metrics.roc_auc_score and numpy.percentile, on data with many tied scores.

The resampling is re-implemented here from its description (splitmix64 counter streams, an index
per draw = (x * n) >> 64); each resample's AUROC is sklearn's with the draw counts as
sample_weight, so the interval checks bend's weighted AUROC and its percentile rule."""
import os
import random
import subprocess
import unittest

import numpy as np
from sklearn.metrics import roc_auc_score

TOOL = os.path.join(os.environ.get("BEND_TEST_TOOLS", "."), "tool_variant_eval")
M = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M
    return x ^ (x >> 31)


def bootstrap(y, s, n_boot, seed):
    n, out = len(y), []
    for b in range(n_boot):
        stream = splitmix64(seed ^ splitmix64(b))
        w = np.zeros(n)
        for k in range(n):
            w[(splitmix64((stream + k) & M) * n) >> 64] += 1
        if w[y == 1].sum() == 0 or w[y == 0].sum() == 0:
            continue
        out.append(roc_auc_score(y, s, sample_weight=w))
    return np.percentile(out, [2.5, 97.5]), len(out)


def tool(y, s, n_boot, seed):
    text = "".join("%r\t%d\n" % (float(a), int(b)) for a, b in zip(s, y))
    out = subprocess.run([TOOL, str(n_boot), str(seed)], input=text, capture_output=True, text=True, check=True)
    a, lo, hi, n = out.stdout.split()
    return float(a), float(lo), float(hi), int(n)


class Auroc(unittest.TestCase):
    def test_equal_to_sklearn_with_ties_within_1e_9(self):
        rng = random.Random(5)
        for case in range(30):
            n = rng.randint(2, 3000)
            y = np.array([rng.random() < 0.3 for _ in range(n)], dtype=int)
            y[0], y[1] = 0, 1
            levels = rng.choice([2, 5, 50, 10 ** 6])  # few levels: many ties
            s = np.array([rng.randrange(levels) / levels + 0.1 * y[i] * rng.random() for i in range(n)])
            got = tool(y, s, 0, 1)[0]
            self.assertAlmostEqual(got, roc_auc_score(y, s), delta=1e-9, msg="case %d" % case)

    def test_bootstrap_interval_equals_the_reference_resampling(self):
        rng = random.Random(9)
        for n, seed in ((40, 0), (150, 12345), (9, 7)):
            y = np.array([rng.random() < 0.4 for _ in range(n)], dtype=int)
            y[0], y[1] = 0, 1
            s = np.array([round(rng.gauss(y[i], 1.0), 1) for i in range(n)])
            (lo, hi), n_ok = bootstrap(y, s, 120, seed)
            a, glo, ghi, gn = tool(y, s, 120, seed)
            self.assertEqual(gn, n_ok)
            self.assertAlmostEqual(a, roc_auc_score(y, s), delta=1e-9)
            self.assertAlmostEqual(glo, lo, delta=1e-9)
            self.assertAlmostEqual(ghi, hi, delta=1e-9)


if __name__ == "__main__":
    unittest.main()
