#!/usr/bin/env bash
# The README's first command: install dependencies, build, generate the demo data and run the
# main job on it with 2 MPI ranks: embed the demo histone task with BEND's one-hot embedder and
# with a seeded ResNet LM, verify every shard against its manifest, then train BEND's head on the
# one-hot embeddings and print the test metrics (the planted motifs are learned well above chance),
# train the head on the ResNet-LM embeddings and BEND's Basset baseline end to end on the one-hot
# data, and end with `bend report` of the three runs under demo/results (table, CSV, one HTML page).
# Rerunning is safe: finished shards are verified and skipped, finished epochs are not redone.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
if [ "$(id -u)" -eq 0 ]; then  # Open MPI refuses root unless told
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
MPIRUN=(mpirun -np 2 --oversubscribe --bind-to none)
bend=build/bend

echo "== demo data (seeded) -> demo/data"
/usr/bin/python3 tools/make_demo_data.py --out demo/data --seed 1

echo "== one-hot embedding of the histone demo task, 2 ranks"
"${MPIRUN[@]}" $bend embed --config jobs/demo_histone.toml

echo "== a seeded ResNet LM (BEND's architecture, small) and its embedding, 2 ranks"
[ -d demo/models/resnetlm-small ] ||
  $bend model init --arch resnetlm --out demo/models/resnetlm-small --hidden-size 64 --n-layers 8 --seed 1
"${MPIRUN[@]}" $bend embed --config jobs/demo_histone.toml --model resnetlm \
  --checkpoint demo/models/resnetlm-small --out demo/data/histone_demo/resnetlm-small

echo "== verify the shards against their manifests"
$bend inspect demo/data/histone_demo/onehot demo/data/histone_demo/resnetlm-small
echo "== train BEND's head on the one-hot embeddings (BEND's settings, jobs/demo_histone.toml), 2 ranks"
"${MPIRUN[@]}" $bend train --config jobs/demo_histone.toml
results=demo/results/histone_demo/onehot
echo "== test metrics of the best validation epoch ($results/best_model_metrics.csv)"
/usr/bin/python3 - "$results/best_model_metrics.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
for name, value in zip(rows[0], rows[-1]):
    print("  %-16s %s" % (name, value))
print("test AUROC %.3f (chance: 0.5)" % float(rows[-1][rows[0].index("test_auroc_avg")]))
PY
echo "== BEND's head on the ResNet-LM embeddings, 2 ranks"
"${MPIRUN[@]}" $bend train --config jobs/demo_histone.toml --data demo/data/histone_demo/resnetlm-small \
  --out demo/results/histone_demo/resnetlm-small
echo "== a supervised baseline: BEND's Basset trained end to end on the one-hot data (20 epochs), 2 ranks"
"${MPIRUN[@]}" $bend train --config jobs/demo_histone.toml --model basset-supervised --epochs 20 \
  --out demo/results/histone_demo/basset-supervised
echo "== the report of every run under demo/results (BEND's table, and one HTML page with plots)"
$bend report demo/results --out demo/report --title "bend demo results"
echo "demo done: embeddings in demo/data/histone_demo/{onehot,resnetlm-small}, results in"
echo "  demo/results/histone_demo/{onehot,resnetlm-small,basset-supervised},"
echo "  report in demo/report/report.html (open it in a browser; it needs no network)"
