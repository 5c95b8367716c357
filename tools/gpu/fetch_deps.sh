#!/usr/bin/env bash
# Downloads the Debian packages of tools/gpu/packages.txt (exactly those, no dependency
# resolution) into .gpudeps/ of the repository (gitignored), for tools/gpu/run.sh to unpack on the
# GPU machine, which has no package registry. Run here, once, with apt access.
# Usage: tools/gpu/fetch_deps.sh [DIR]   (default: .gpudeps)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="${1:-$root/.gpudeps}"
mapfile -t pkgs < <(sed 's/#.*//' "$root/tools/gpu/packages.txt" | tr -s ' \t' '\n\n' | grep -v '^$')
mkdir -p "$dest"
cd "$dest"
rm -f ./*.deb
apt-get download "${pkgs[@]}"
n=$(ls ./*.deb | wc -l)
if [ "$n" -ne "${#pkgs[@]}" ]; then
  echo "fetch_deps: ${#pkgs[@]} packages asked, $n .deb files in $dest" >&2
  exit 1
fi
echo "fetch_deps: $n packages, $(du -sh . | cut -f1) in $dest"
