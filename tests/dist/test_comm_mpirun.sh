#!/usr/bin/env bash
# Comm (the MPI component) under real mpirun with 1, 2 and 3 ranks, and the PML Open MPI selects
# for it: ob1 without probing the "cm" fabrics when all ranks are on this node, unless the user
# chose one.
set -euo pipefail
for n in 1 2 3; do
  out=$(OMPI_MCA_pml_base_verbose=10 mpirun -np "$n" --oversubscribe --bind-to none "$BEND_TEST_TOOLS/tool_comm" 2>&1)
  grep -v "mca: base:\|select:\|selected\|check:select" <<<"$out"
  grep -q "comm ok on $n ranks" <<<"$out"
  [ "$(grep -c "select: component ob1 selected" <<<"$out")" = "$n" ] || { echo "ob1 not selected on $n ranks" >&2; exit 1; }
  if grep -q "found loaded component cm" <<<"$out"; then echo "the cm PML was opened on $n ranks" >&2; exit 1; fi
done
# A user's choice is kept: with OMPI_MCA_pml=^ucx Open MPI opens cm again (and then picks ob1).
out=$(OMPI_MCA_pml='^ucx' OMPI_MCA_pml_base_verbose=10 mpirun -np 2 --oversubscribe --bind-to none "$BEND_TEST_TOOLS/tool_comm" 2>&1)
grep -q "comm ok on 2 ranks" <<<"$out"
[ "$(grep -c "found loaded component cm" <<<"$out")" -ge 2 ] || { echo "OMPI_MCA_pml=^ucx was not kept" >&2; exit 1; }
echo "pml choice ok"
