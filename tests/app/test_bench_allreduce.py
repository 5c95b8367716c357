"""`bend bench allreduce` under real mpirun: bend train's MPI gradient reducer sums every rank's
buffer correctly (checked by bend itself: a wrong element fails the run) and reports the bus
bandwidth as algbw * 2 (n - 1) / n; bad settings and --cuda without a CUDA build are refused."""
import os
import re
import unittest

import bendtest as bt


class BenchAllreduce(unittest.TestCase):
    def test_mpi_sum_and_bandwidth_over_1_2_3_ranks(self):
        for n in (1, 2, 3):
            p = bt.bend(["bench", "allreduce", "--mib", "4", "--iters", "5"], np_ranks=n)
            lines = [l for l in p.stdout.splitlines() if l.startswith("bend bench allreduce:")]
            self.assertEqual(len(lines), 1, p.stdout)  # rank 0 only
            m = re.search(r"mpi, (\d+) ranks, 4\.0 MiB .* algbw_gb_s=([0-9.]+) busbw_gb_s=([0-9.]+)", lines[0])
            self.assertIsNotNone(m, lines[0])
            self.assertEqual(int(m.group(1)), n)
            alg, bus = float(m.group(2)), float(m.group(3))
            self.assertGreater(alg, 0)
            self.assertAlmostEqual(bus, alg * 2 * (n - 1) / n, delta=0.02 + 0.01 * alg)  # both printed to 0.01

    def test_bad_settings_are_refused(self):
        p = bt.bend(["bench", "allreduce", "--iters", "31"], np_ranks=2, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--iters", p.stderr)
        if os.environ.get("BEND_CUDA_BUILD") == "OFF":
            p = bt.bend(["bench", "allreduce", "--cuda"], check=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("without CUDA", p.stderr)


if __name__ == "__main__":
    unittest.main()
