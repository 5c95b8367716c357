#!/usr/bin/env bash
# The README's test command: install dependencies, build, run the whole test suite (ctest), then
# the sanitizer stage: the torch-free unit tests and the fuzz replays (ctest label `torchfree`)
# built with ASan + UBSan into build-asan/ (docs/testing.md, "Sanitizers").
# Arguments go to the first ctest and skip the sanitizer stage (e.g. tools/test.sh -R fasta);
# BEND_SANITIZER_STAGE=0 skips it too.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
rc=0
(cd build && ctest --output-on-failure -j "${BEND_TEST_JOBS:-2}" "$@") || rc=$?
if [ $# -eq 0 ] && [ "${BEND_SANITIZER_STAGE:-1}" != 0 ]; then
  echo "test.sh: sanitizer stage (ASan + UBSan, torch-free tests) in build-asan/"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBEND_SANITIZE=address,undefined >/dev/null
  ninja -C build-asan -j "${BEND_BUILD_JOBS:-$(nproc)}" torchfree_tests
  (cd build-asan && ctest --output-on-failure -j "${BEND_TEST_JOBS:-2}" -L torchfree) || rc=$?
fi
exit "$rc"
