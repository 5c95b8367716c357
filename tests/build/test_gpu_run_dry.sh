#!/usr/bin/env bash
# tools/gpu/run.sh --dry-run: every CPU-side step of the GPU machine's script on this machine
# (unpack the carried Debian packages away from /, environment, configure Release with
# BEND_WITH_CUDA=ON), that Open MPI / HDF5 / htslib come from the unpacked packages and not from
# /usr, the gpu tests a CUDA build registers, the planned benchmark rows; and a clear error
# without packages. Uses .gpudeps/ when tools/gpu/fetch_deps.sh has filled it, else fetches the
# same packages into a temporary folder (Debian apt).
set -euo pipefail
src="$BEND_SOURCE_DIR"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
debs="$src/.gpudeps"
if ! ls "$debs"/*.deb >/dev/null 2>&1; then
  debs="$work/debs"
  "$src/tools/gpu/fetch_deps.sh" "$debs" >/dev/null
fi
n_list=$(sed 's/#.*//' "$src/tools/gpu/packages.txt" | tr -s ' \t' '\n\n' | grep -vc '^$')
n_debs=$(ls "$debs"/*.deb | wc -l)
[ "$n_debs" -eq "$n_list" ] ||
  { echo "FAIL: $n_debs .deb files in $debs for $n_list listed packages: rerun tools/gpu/fetch_deps.sh" >&2; exit 1; }

out="$work/out.txt"
BEND_GPU_DEPS="$debs" BEND_GPU_DEPS_ROOT="$work/deps" BEND_GPU_BUILD="$work/build" \
  "$src/tools/gpu/run.sh" --dry-run >"$out" 2>&1 || { cat "$out"; echo "FAIL: run.sh --dry-run failed" >&2; exit 1; }
cat "$out"
expect() { grep -qE -- "$1" "$out" || { echo "FAIL: run.sh --dry-run printed no line matching: $1" >&2; exit 1; }; }
expect "unpacking $n_list packages"
expect "MPI_C_HEADER_DIR=$work/deps/"
expect "HDF5_C_INCLUDE_DIR=$work/deps/"
expect "HTSLIB_INCLUDEDIR=$work/deps/"
expect "bend: CUDA paths: ON; NCCL gradient reduction: ON"
expect "gpu/test_cuda_models"
expect "gpu/test_cuda_train"
expect "bench forward --model resnetlm .* --cuda --precision bf16"
expect "train --data .* --cuda"
expect "bench allreduce --cuda"
expect "libmpi.so -> $work/deps/"
expect "libhts.so -> $work/deps/"
expect "link_check: MPI 2 ranks \\(sum 2\\), HDF5 .* parallel, htslib"
expect "dry run done"
[ -x "$work/deps/usr/bin/mpirun" ] || { echo "FAIL: no mpirun link in the unpacked packages" >&2; exit 1; }
# the unpacked Open MPI runs from its new place (OPAL_PREFIX)
incdirs="$(OPAL_PREFIX="$work/deps/usr" LD_LIBRARY_PATH="$work/deps/usr/lib/x86_64-linux-gnu" \
  "$work/deps/usr/bin/mpicc" --showme:incdirs)"
[[ "$incdirs" == *"$work/deps/"* ]] ||
  { echo "FAIL: the unpacked mpicc does not point into $work/deps" >&2; exit 1; }
[ ! -e "$work/build/bend" ] || { echo "FAIL: a dry run built bend" >&2; exit 1; }

mkdir "$work/empty"
if BEND_GPU_DEPS="$work/empty" BEND_GPU_DEPS_ROOT="$work/deps2" "$src/tools/gpu/run.sh" --dry-run >"$out" 2>&1; then
  echo "FAIL: run.sh succeeded without packages" >&2; exit 1
fi
grep -q "fetch_deps.sh" "$out" || { cat "$out"; echo "FAIL: no hint at fetch_deps.sh" >&2; exit 1; }
echo "ok: run.sh --dry-run ($n_list packages)"
