"""Compile-only check of the CUDA/NCCL code paths on a machine without a GPU (ctest label `build`).

The regular build here has BEND_WITH_CUDA off (Debian's LibTorch is CPU-only), so code between
`#ifdef BEND_WITH_CUDA` / `#ifdef BEND_WITH_NCCL` would never be compiled and could rot. This test
takes every translation unit of src/ that holds such code, or includes a header that does, and
compiles it again with the regular build's own command (compile_commands.json) plus
-DBEND_WITH_CUDA=1 -DBEND_WITH_NCCL=1 and the CUDA toolkit's and NCCL's include directories
(BEND_CUDA_INCLUDE, BEND_NCCL_INCLUDE, set by tests/CMakeLists.txt). Debian's LibTorch ships the
c10/cuda and ATen/cuda headers these TUs use; it has no libtorch_cuda, so nothing is linked: a
CUDA bend is linked (and run) on the GPU machine only (tools/gpu/run.sh).
Fails on any compile error and on any warning in bend's own files.
"""
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE = os.environ["BEND_SOURCE_DIR"]
BUILD = os.path.dirname(os.environ["BEND_BIN"])
GUARDS = re.compile(r"#\s*(ifdef|ifndef|if\s*!?\s*defined)\s*\(?\s*BEND_WITH_(CUDA|NCCL)")


def files_under(top, ext):
    for d, _, names in os.walk(top):
        for n in sorted(names):
            if n.endswith(ext):
                yield os.path.join(d, n)


def guarded(path):
    with open(path, encoding="utf-8") as f:
        return bool(GUARDS.search(f.read()))


def cuda_units():
    """src/**/*.cpp with CUDA/NCCL-guarded code or including a header (include/ or src/) that has it."""
    headers = [h for top in ("include", "src") for h in files_under(os.path.join(SOURCE, top), ".hpp") if guarded(h)]
    units = []
    for cpp in files_under(os.path.join(SOURCE, "src"), ".cpp"):
        with open(cpp, encoding="utf-8") as f:
            text = f.read()
        if GUARDS.search(text) or any(re.search(r'#include\s+"[^"]*%s"' % re.escape(os.path.basename(h)), text)
                                      for h in headers):
            units.append(cpp)
    return units, headers


def cuda_command(entry, obj):
    args = shlex.split(entry["command"])
    out = []
    skip = False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-o":
            out += ["-o", obj]
            skip = True
        elif a in ("-g", "-O2", "-O3") or a.startswith("-g"):
            continue  # compile only: no debug info, no optimisation
        else:
            out.append(a)
    extra = ["-O0", "-DBEND_WITH_CUDA=1", "-DBEND_WITH_NCCL=1"]
    for var in ("BEND_CUDA_INCLUDE", "BEND_NCCL_INCLUDE"):
        extra += ["-isystem" + d for d in os.environ[var].split(":") if d]
    ccache = shutil.which("ccache")
    return ([ccache] if ccache else []) + out[:1] + extra + out[1:]


class CudaCompile(unittest.TestCase):
    def test_every_cuda_guarded_unit_compiles_with_cuda_and_nccl_on(self):
        with open(os.path.join(BUILD, "compile_commands.json")) as f:
            commands = {os.path.realpath(e["file"]): e for e in json.load(f)}
        units, headers = cuda_units()
        names = [os.path.relpath(u, SOURCE) for u in units]
        # the guarded code this test exists for; a rename must not make it pass vacuously
        for must in ("src/dist/nccl_reducer.cpp", "src/train/trainer.cpp", "src/models/torch_zoo.cpp",
                     "src/train/train_config.cpp", "src/pipeline/embed_run.cpp"):
            self.assertIn(must, names)
        work = tempfile.mkdtemp(prefix="bend_cuda_compile_")
        try:
            jobs = []
            for i, u in enumerate(units):
                entry = commands.get(os.path.realpath(u))
                self.assertIsNotNone(entry, "%s is not in %s/compile_commands.json" % (u, BUILD))
                jobs.append((u, entry["directory"], cuda_command(entry, os.path.join(work, "%d.o" % i))))

            def run(job):
                u, cwd, cmd = job
                return u, subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)

            failed = []
            with concurrent.futures.ThreadPoolExecutor(int(os.environ.get("BEND_CUDA_COMPILE_JOBS", "2"))) as ex:
                for u, p in ex.map(run, jobs):
                    # dependencies come in with -isystem (silent): a warning is bend's own
                    own_warnings = [l for l in p.stderr.splitlines() if "warning:" in l]
                    print("%-40s %s" % (os.path.relpath(u, SOURCE), "ok" if p.returncode == 0 else "FAILED"))
                    if p.returncode != 0 or own_warnings:
                        failed.append("%s:\n%s" % (u, p.stderr[-6000:]))
            self.assertEqual(failed, [], "\n".join(failed))
            print("compiled %d translation units with BEND_WITH_CUDA and BEND_WITH_NCCL (guarded headers: %s)"
                  % (len(units), ", ".join(os.path.relpath(h, SOURCE) for h in headers)))
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
