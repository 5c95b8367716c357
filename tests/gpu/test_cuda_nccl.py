"""NCCL on the GPU machine: `bend bench allreduce --cuda` sums device buffers through bend train's
NCCL reducer (bend checks every element of the first sum) on as many ranks as GPUs."""
import re
import subprocess
import unittest

from gputest import bt


def n_gpus():
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    return len(re.findall(r"^GPU \d+:", out, re.M))


class CudaNccl(unittest.TestCase):
    def test_nccl_reducer_sums_device_buffers(self):
        n = max(1, n_gpus())
        p = bt.bend(["bench", "allreduce", "--cuda", "--mib", "64", "--iters", "10"], np_ranks=n)
        print(p.stdout.strip())
        self.assertRegex(p.stdout, r"bend bench allreduce: nccl, %d ranks" % n)


if __name__ == "__main__":
    unittest.main(verbosity=2)
