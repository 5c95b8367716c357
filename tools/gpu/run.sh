#!/usr/bin/env bash
# The GPU machine's one script (docs/cluster.md, "GPUs"): unpacks the Debian packages carried in
# .gpudeps/ (tools/gpu/fetch_deps.sh) into a folder away from /, configures and builds bend in
# Release against the PyTorch wheel's LibTorch (CUDA) and NCCL (nvidia.nccl), runs every ctest
# labelled `gpu`, then prints the GPU benchmark rows (tools/gpu/gpu_bench.py). Sized for one
# device call of at most 8 minutes.
#
# Usage: tools/gpu/run.sh [--dry-run]      (BEND_GPU_DRY=1 is the same as --dry-run)
# --dry-run does every CPU-side step on a machine without a GPU: unpack, environment, configure
# with BEND_WITH_CUDA=ON (Debian's CPU LibTorch, /usr/local/cuda's NCCL), checks that Open MPI,
# HDF5 and htslib come from the unpacked packages, lists the gpu tests, plans the benchmark rows;
# it builds nothing and runs nothing on a device (tests/build/test_gpu_run_dry.sh).
# Settings (environment): BEND_GPU_DEPS (the .deb folder, default .gpudeps), BEND_GPU_DEPS_ROOT
# (unpack there, default /tmp/deps), BEND_GPU_BUILD (default build-gpu), BEND_GPU_JOBS (nproc),
# BEND_GPU_PYTHON (python3; /usr/bin/python3 when dry), BEND_GPU_STEPS (after the build: "tests",
# "bench" or "tests bench", the default).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
dry="${BEND_GPU_DRY:-0}"
[ "${1:-}" = "--dry-run" ] && dry=1
deps_src="${BEND_GPU_DEPS:-$root/.gpudeps}"
deps="${BEND_GPU_DEPS_ROOT:-/tmp/deps}"
build="${BEND_GPU_BUILD:-$root/build-gpu}"
jobs="${BEND_GPU_JOBS:-$(nproc)}"
if [ "$dry" = 1 ]; then py="${BEND_GPU_PYTHON:-/usr/bin/python3}"; else py="${BEND_GPU_PYTHON:-python3}"; fi
py="$(command -v "$py")"
t0=$SECONDS
step() { echo "== gpu/run.sh [$((SECONDS - t0)) s] $*"; }
fail() { echo "gpu/run.sh: error: $*" >&2; exit 1; }
arch="$(uname -m)-linux-gnu"

# 1. The carried packages, unpacked away from / (dpkg-deb, or ar + tar where dpkg is missing).
shopt -s nullglob
debs=("$deps_src"/*.deb)
[ ${#debs[@]} -gt 0 ] || fail "no .deb files in $deps_src: run tools/gpu/fetch_deps.sh first (on a machine with apt)"
step "unpacking ${#debs[@]} packages from $deps_src into $deps"
mkdir -p "$deps"
for f in "${debs[@]}"; do
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb -x "$f" "$deps"
  else
    (cd "$deps" && ar p "$f" "$(ar t "$f" | grep '^data\.tar')" | tar -x --zstd -f - 2>/dev/null ||
      ar p "$f" "$(ar t "$f" | grep '^data\.tar')" | tar -xJ -f -)
  fi
done
# Debian names Open MPI's tools through update-alternatives, which dpkg -x does not run.
for t in mpicc mpirun mpiexec; do
  [ -e "$deps/usr/bin/$t" ] || ln -sf "$t.openmpi" "$deps/usr/bin/$t"
done
export PATH="$deps/usr/bin:$PATH"
export LD_LIBRARY_PATH="$deps/usr/lib/$arch:$deps/usr/lib/$arch/openmpi/lib:$deps/usr/lib/$arch/hdf5/openmpi:${LD_LIBRARY_PATH:-}"
export OPAL_PREFIX="$deps/usr"  # Open MPI finds its components and wrapper data here
export PKG_CONFIG_PATH="$deps/usr/lib/$arch/pkgconfig:$deps/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$deps"  # .pc files say /usr: read them as $deps/usr
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

# 2. LibTorch and NCCL: the wheel's on the GPU machine; Debian's and /usr/local/cuda's when dry.
torch_prefix="$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
torch_version="$("$py" -c 'import torch; print(torch.__version__)')"
nccl_home=""
if nccl_dir="$("$py" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null)"; then
  # the wheel ships lib/libnccl.so.2 only: give find_library its libnccl.so
  nccl_home="$deps/nccl"
  mkdir -p "$nccl_home/lib"
  ln -sfn "$nccl_dir/include" "$nccl_home/include"
  ln -sf "$nccl_dir/lib/libnccl.so.2" "$nccl_home/lib/libnccl.so"
  export LD_LIBRARY_PATH="$nccl_dir/lib:$LD_LIBRARY_PATH"
elif [ "$dry" = 1 ] && [ -e /usr/local/cuda/include/nccl.h ]; then
  nccl_home=/usr/local/cuda
else
  fail "no NCCL: $py has no nvidia.nccl package"
fi
export NCCL_HOME="$nccl_home"
step "LibTorch $torch_version from $torch_prefix; NCCL from $nccl_home; python $py"

# 3. Configure (Release, CUDA on), then check where the dependencies were found.
step "configuring $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBEND_WITH_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$deps/usr" -DCUDAToolkit_ROOT="${CUDA_HOME:-/usr/local/cuda}" \
  -DMPI_C_COMPILER="$deps/usr/bin/mpicc.openmpi" -DMPIEXEC_EXECUTABLE="$deps/usr/bin/mpirun.openmpi" \
  -DHDF5_ROOT="$deps/usr/lib/$arch/hdf5/openmpi" -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON \
  -DPKG_CONFIG_EXECUTABLE="$deps/usr/bin/pkgconf" -DBEND_PYTHON="$py" >"$build.configure.log" 2>&1 ||
  { tail -40 "$build.configure.log"; fail "cmake configure failed (log: $build.configure.log)"; }
grep -E "bend: (CUDA|gpu tests)" "$build.configure.log" || true
cache="$build/CMakeCache.txt"
for key in MPI_C_HEADER_DIR HDF5_C_INCLUDE_DIR HTSLIB_INCLUDEDIR; do
  val="$(grep -E "^$key(:[A-Z]+)?=" "$cache" | head -1 | cut -d= -f2- || true)"
  case "$val" in
    "$deps"/*) echo "   $key=$val" ;;
    *) fail "$key='$val' is not under $deps: the build would not use the carried packages" ;;
  esac
done
grep -q "^BEND_WITH_CUDA:STRING=ON" "$cache" || fail "BEND_WITH_CUDA is not ON in $cache"

# 4. The carried libraries link and load: a small MPI + parallel HDF5 + htslib program, found
# with the same settings, run on two ranks by the carried mpirun (tools/gpu/link_check).
step "link check: carried Open MPI, HDF5, htslib"
cmake -S tools/gpu/link_check -B "$build-link" -G Ninja -DCMAKE_PREFIX_PATH="$deps/usr" \
  -DMPI_C_COMPILER="$deps/usr/bin/mpicc.openmpi" -DHDF5_ROOT="$deps/usr/lib/$arch/hdf5/openmpi" \
  -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON -DPKG_CONFIG_EXECUTABLE="$deps/usr/bin/pkgconf" \
  >"$build-link.log" 2>&1 && ninja -C "$build-link" >>"$build-link.log" 2>&1 ||
  { tail -30 "$build-link.log"; fail "link check did not build (log: $build-link.log)"; }
for lib in libmpi.so libhdf5 libhts.so; do
  # awk reads all of ldd's output (grep -m1 could end the pipe early: SIGPIPE under pipefail)
  where="$(ldd "$build-link/link_check" | awk -v l="$lib" 'index($0, l) && !n++ {print $3}')"
  case "$where" in
    "$deps"/*) echo "   $lib -> $where" ;;
    *) fail "link_check loads $lib from '$where', not from $deps" ;;
  esac
done
"$deps/usr/bin/mpirun" -np 2 --bind-to none "$build-link/link_check" || fail "link check failed under the carried mpirun"

if [ "$dry" = 1 ]; then
  step "dry run: gpu tests that a build would run"
  ctest --test-dir "$build" -N -L gpu | grep -E "Test +#|Total Tests"
  step "dry run: benchmark rows"
  "$py" tools/gpu/gpu_bench.py --bend "$build/bend" --dry-run
  step "dry run done: nothing built, nothing run on a device"
  exit 0
fi

# 5. Build, test, benchmark. A failing test does not stop the benchmark rows; the exit status
# reports it.
step "building bend (Release, $jobs jobs)"
nvidia-smi -L || fail "no GPU visible (nvidia-smi)"
ninja -C "$build" -j "$jobs" bend bend-torch
steps="${BEND_GPU_STEPS:-tests bench}"
rc=0
if [[ " $steps " == *" tests "* ]]; then
  step "ctest -L gpu"
  ctest --test-dir "$build" -L gpu --output-on-failure -j1 --timeout 300 || rc=$?
fi
if [[ " $steps " == *" bench "* ]]; then
  step "benchmark rows"
  "$py" tools/gpu/gpu_bench.py --bend "$build/bend" || rc=$((rc ? rc : 3))
fi
step "done (status $rc)"
exit "$rc"
