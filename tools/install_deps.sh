#!/usr/bin/env bash
# Installs everything bend needs to build, test and run, from Debian 12 packages by name.
# Idempotent: packages already present are skipped by apt; safe to run again.
# Usage (as root): tools/install_deps.sh
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build ccache pkg-config git
  # libraries bend links
  libtorch-dev libopenmpi-dev openmpi-bin libhdf5-openmpi-dev libhts-dev zlib1g-dev
  libcli11-dev catch2 nlohmann-json3-dev
  # independent references used by the tests and the benchmarks
  samtools tabix bedtools python3-torch python3-sklearn python3-h5py python3-numpy
  python3-pysam python3-protobuf protobuf-compiler
  # a real local Slurm for the slurm/ scripts and their tests (tools/slurm/local_slurm.sh):
  # slurm-wlm-basic-plugins (pulled in by slurm-wlm) has srun's pmix plugin, built against
  # libpmix2, the PMIx that Debian's Open MPI uses
  slurm-wlm munge libpmix2
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the JavaScript test references (tests/tokenize): Debian's packages, unless
# a node and npm are already on PATH (e.g. from NodeSource)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages present"
else
  echo "install_deps: installing ${#missing[@]} packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "install_deps: must run as root (apt-get install)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# JavaScript test references pinned by tools/js/package-lock.json (@huggingface/tokenizers, an
# independent implementation of Hugging Face tokenizers); installed here, never at test time.
js_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/js" && pwd)"
want=$(node -p "require('$js_dir/package-lock.json').packages['node_modules/@huggingface/tokenizers'].version")
have=$(node -p "try { require('$js_dir/node_modules/@huggingface/tokenizers/package.json').version } catch (e) { '' }")
if [ "$want" = "$have" ]; then
  echo "install_deps: JavaScript test references present (@huggingface/tokenizers $have)"
else
  echo "install_deps: npm ci in $js_dir (@huggingface/tokenizers $want)"
  npm ci --prefix "$js_dir" --no-audit --no-fund
fi
