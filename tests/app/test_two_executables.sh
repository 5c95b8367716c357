#!/bin/bash
# `bend` must start without LibTorch and hand torch commands to bend-torch (src/app/torch_exec.hpp).
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
bin_dir=$(dirname "$BEND_BIN")
[ -x "$bin_dir/bend-torch" ] || fail "bend-torch missing beside $BEND_BIN"
light_libs=$(ldd "$BEND_BIN"); torch_libs=$(ldd "$bin_dir/bend-torch")
if grep -q 'libtorch\|libc10' <<<"$light_libs"; then fail "bend links LibTorch: $light_libs"; fi
grep -q 'libtorch' <<<"$torch_libs" || fail "bend-torch does not link LibTorch"

# `bend models` (registry of torch models) runs in bend-torch and lists resnetlm
models=$("$BEND_BIN" models)
for m in onehot resnetlm dnabert nt dnabert2 gena-lm hyenadna awdlstm torchscript caduceus; do
  grep -q "^$m " <<<"$models" || fail "bend models does not list $m: $models"
done
# every model says its dim, causality, tokenizer, longest input and checkpoint files
for key in "dim:" "max input:" "checkpoint:"; do
  n=$(grep -c "^  .*$key" <<<"$models" || true)
  n_models=$(grep -c '^[a-z]' <<<"$models")
  [ "$n" -eq "$n_models" ] || fail "bend models: '$key' on $n of $n_models models: $models"
done
grep -q '^  dim: d_model; causal: yes' <<<"$models" || fail "HyenaDNA not listed as causal: $models"

# without bend-torch beside it, a torch command fails clearly and names the missing file
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp "$BEND_BIN" "$tmp/bend"
set +e
err=$("$tmp/bend" models 2>&1); rc=$?
set -e
[ $rc -ne 0 ] || fail "bend models without bend-torch exited 0"
echo "$err" | grep -q "$tmp/bend-torch" || fail "error does not name the missing bend-torch: $err"
# torch-free commands still work without it
version=$("$tmp/bend" --version)
grep -q '^bend ' <<<"$version" || fail "bend --version failed without bend-torch: $version"
echo "ok"
