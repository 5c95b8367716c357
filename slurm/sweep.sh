#!/usr/bin/env bash
# Submits a sweep of BEND tasks x models as job arrays, one array per stage:
#   embed  one array task per (task, model) pair, running slurm/embed.sbatch;
#   train  one array task per pair whose job file has a [train] section, running
#          slurm/train.sbatch; array task i waits for embed task i (--dependency=aftercorr,
#          which holds across the embed task's own requeues) and is cancelled if that embedding
#          fails (--kill-on-invalid-dep=yes);
#   cv     tasks with cross-validation (`cv = true` in the job file, e.g. enhancer_annotation)
#          train as one array of 10 folds per pair instead, after that pair's embed task;
#   baselines  BEND's supervised baselines (BASELINES) train end to end on the task's onehot
#          embeddings: one train job (or 10-fold array) per task and baseline, after the task's
#          onehot embed task (MODELS must include onehot); results in RESULTS_DIR/<task>/<baseline>.
# Run it on a login node, from the directory the job files' relative paths start from; it
# prints one line per pair:
#   <task> <model> <embed array task> <train array task, cv array, or - for a job file without [train]>
# e.g. `histone_modification resnetlm 1234_3 1235_3`, `enhancer_annotation onehot 1234_0 1236_[1-10]`.
#
# Usage:
#   slurm/sweep.sh                      all BEND tasks in jobs/ x MODELS
#   TASKS="gene_finding histone_modification" MODELS="onehot resnetlm" slurm/sweep.sh
#   BASELINES="resnet-supervised basset-supervised" slurm/sweep.sh   (the table's baseline rows)
#   DRY_RUN=1 slurm/sweep.sh            print the pairs and the sbatch commands only
#
# Environment (all optional):
#   TASKS          job files $JOBS_DIR/<task>.toml (default: every job file except demo_*)
#   MODELS         models, as `bend models` lists  (default onehot)
#   BASELINES      bend train --model baselines: resnet-supervised, basset-supervised (default none;
#                  BEND sweeps basset-supervised for histone and chromatin accessibility only)
#   JOBS_DIR       where the job files are         (default $BEND_ROOT/jobs)
#   CHECKPOINTS    checkpoint dir of model M: $CHECKPOINTS/M, for models that need one
#                                                  (default pretrained_models)
#   DATA_DIR       embeddings go to $DATA_DIR/<task>/<model>           (default data)
#   RESULTS_DIR    results go to $RESULTS_DIR/<task>/<model>           (default downstream_tasks)
#   DTYPE          stored dtype for every embedding (default: the job file's)
#   EMBED_SBATCH, TRAIN_SBATCH   extra sbatch options, e.g. "-N 4 --ntasks-per-node=2 --ntasks-per-socket=1 -c 16"
#                  (an -o/--output naming one file for a whole array should contain %a or %j)
#   EMBED_ARGS, TRAIN_ARGS       extra bend embed / bend train options, e.g. "--epochs 20"
#   ARRAY_MAX      run at most this many tasks of each array at once (sbatch --array=...%N)
#   SRUN_MPI       srun's --mpi plugin in every job   (default pmix)
#   BEND           the bend executable  (default: $BEND_ROOT/build/bend, else <prefix>/bin/bend
#                  when installed, else bend on PATH)
#   BEND_ROOT      where slurm/ and jobs/ are      (default: the directory above this script)
# Everything else in the environment (THREADS, CUDA, BEND_MAX_REQUEUES, ...) reaches the jobs.
set -euo pipefail

BEND_ROOT=${BEND_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
export BEND_ROOT
JOBS_DIR=${JOBS_DIR:-$BEND_ROOT/jobs}
MODELS=${MODELS:-onehot}
CHECKPOINTS=${CHECKPOINTS:-pretrained_models}
DATA_DIR=${DATA_DIR:-data}
RESULTS_DIR=${RESULTS_DIR:-downstream_tasks}

die() { echo "sweep: error: $*" >&2; exit 1; }

if [ -z "${BEND:-}" ]; then  # the same search as slurm/lib.sh's bend_default_exe
  if [ -x "$BEND_ROOT/build/bend" ]; then BEND=$BEND_ROOT/build/bend
  elif [ -x "$BEND_ROOT/../../bin/bend" ]; then BEND=$(cd "$BEND_ROOT/../../bin" && pwd)/bend
  else BEND=$(command -v bend) || die "no bend found (build it: tools/build.sh, or set BEND)"; fi
fi
export BEND
[ -x "$BEND" ] || die "$BEND is not executable (build first: tools/build.sh, or set BEND)"

if [ -z "${TASKS:-}" ]; then
  TASKS=""
  for f in "$JOBS_DIR"/*.toml; do
    case $(basename "$f") in demo_*) ;; *) TASKS+="$(basename "$f" .toml) " ;; esac
  done
fi

# `bend models` prints a block per model: its name at the start of a line, then indented lines,
# one of them `checkpoint: none` or `checkpoint: <files>`.
MODELS_TEXT=$("$BEND" models) || die "$BEND models failed"

checkpoint_need() {  # model -> prints "yes" or "no"; dies for a model bend does not know
  local need
  need=$(awk -v m="$1" '
    /^[^ \t]/ { cur = $1; next }
    cur == m && $1 == "checkpoint:" { print ($2 == "none" ? "no" : "yes"); exit }' <<<"$MODELS_TEXT")
  if [ -z "$need" ]; then
    awk -v m="$1" '/^[^ \t]/ && $1 == m { found = 1 } END { exit !found }' <<<"$MODELS_TEXT" &&
      die "cannot tell from \`$BEND models\` whether model '$1' needs a checkpoint"
    die "unknown model '$1' (bend models lists: $(awk '/^[^ \t]/ {printf "%s%s", s, $1; s = " "}' <<<"$MODELS_TEXT"))"
  fi
  echo "$need"
}

submit() {  # prints the job id of `sbatch ARGS`, or DRYRUN after printing the command
  if [ "${DRY_RUN:-0}" = 1 ]; then
    echo "$(env | grep -E '^SWEEP_|^(BEND|TASK|CONFIG|MODEL|CHECKPOINT|DATA|OUT|FOLD)=' | sort | tr '\n' ' ')sbatch $*" >&2
    echo "DRYRUN"
    return
  fi
  sbatch --parsable "$@" | cut -d';' -f1
}

array_spec() {  # index list -> --array value, with ARRAY_MAX's throttle
  echo "$1${ARRAY_MAX:+%$ARRAY_MAX}"
}

# 1. The pairs, in order; pair i is embed array task i. Checked before anything is submitted.
pairs=()        # "task,model,c" (needs a checkpoint) or "task,model,-"
train_idx=()    # pairs trained by the train array (same index)
cv_idx=()       # pairs trained by an array of 10 folds
for task in $TASKS; do
  config=$JOBS_DIR/$task.toml
  [ -f "$config" ] || die "no job file $config"
  case $task in *,*|*/*) die "task name '$task' may not contain ',' or '/'" ;; esac
  for model in $MODELS; do
    ckpt=-
    need=$(checkpoint_need "$model") || exit 1
    if [ "$need" = yes ]; then
      [ -d "$CHECKPOINTS/$model" ] ||
        die "model $model needs a checkpoint directory: $CHECKPOINTS/$model missing (set CHECKPOINTS)"
      ckpt=c
    fi
    i=${#pairs[@]}
    pairs+=("$task,$model,$ckpt")
    if ! grep -q '^\[train\]' "$config"; then  # e.g. variant_effects: zero-shot, no head
      continue
    elif grep -Eq '^cv *= *true' "$config"; then
      cv_idx+=("$i")
    else
      train_idx+=("$i")
    fi
  done
done
[ "${#pairs[@]}" -gt 0 ] || die "nothing to do: no tasks (TASKS, JOBS_DIR) or no models (MODELS)"

# The baselines: "task,baseline,i" with i the task's onehot pair (its embed task), tasks with [train] only.
baselines=()
for b in ${BASELINES:-}; do
  case $b in resnet-supervised|basset-supervised) ;;
    *) die "unknown baseline '$b' (BASELINES: resnet-supervised basset-supervised)" ;; esac
  for task in $TASKS; do
    grep -q '^\[train\]' "$JOBS_DIR/$task.toml" || continue
    # Basset takes 512-bp rows only: the tasks whose head pools 512 positions
    [ "$b" = basset-supervised ] && ! grep -Eq '^output-window *= *512' "$JOBS_DIR/$task.toml" && continue
    oh=""
    for i in "${!pairs[@]}"; do [ "${pairs[$i]}" = "$task,onehot,-" ] && oh=$i; done
    [ -n "$oh" ] || die "baseline $b trains on the onehot embeddings: add onehot to MODELS"
    baselines+=("$task,$b,$oh")
  done
done

# What every array task needs to find its pair (slurm/lib.sh, bend_sweep_pair).
export SWEEP_PAIRS="${pairs[*]}" SWEEP_JOBS_DIR=$JOBS_DIR SWEEP_CHECKPOINTS=$CHECKPOINTS \
  SWEEP_DATA_DIR=$DATA_DIR SWEEP_RESULTS_DIR=$RESULTS_DIR

# 2. The embed array.
last=$((${#pairs[@]} - 1))
# shellcheck disable=SC2086  # EMBED_SBATCH / EMBED_ARGS are option lists
embed_id=$(submit --job-name=bend-sweep-embed --array="$(array_spec "0-$last")" ${EMBED_SBATCH:-} \
  "$BEND_ROOT/slurm/embed.sbatch" ${EMBED_ARGS:-})

# 3. The train array: task i after embed task i.
train_id=""
if [ "${#train_idx[@]}" -gt 0 ]; then
  list=$(IFS=,; echo "${train_idx[*]}")
  # shellcheck disable=SC2086
  train_id=$(submit --job-name=bend-sweep-train --array="$(array_spec "$list")" \
    --dependency="aftercorr:$embed_id" --kill-on-invalid-dep=yes ${TRAIN_SBATCH:-} \
    "$BEND_ROOT/slurm/train.sbatch" ${TRAIN_ARGS:-})
fi

# 4. One array of 10 folds per cross-validated pair, after that pair's embed task.
declare -A cv_id=()
for i in "${cv_idx[@]}"; do
  IFS=, read -r task model _ <<<"${pairs[$i]}"
  # shellcheck disable=SC2086
  cv_id[$i]=$(unset SWEEP_PAIRS
    TASK=$task CONFIG=$JOBS_DIR/$task.toml DATA=$DATA_DIR/$task/$model OUT=$RESULTS_DIR/$task/$model \
      FOLD=array submit --job-name="bend-cv-$task-$model" --array="$(array_spec 1-10)" \
      --dependency="afterok:${embed_id}_$i" --kill-on-invalid-dep=yes ${TRAIN_SBATCH:-} \
      "$BEND_ROOT/slurm/train.sbatch" ${TRAIN_ARGS:-})
done

# 5. The baselines: bend train --model B on the task's onehot embeddings, after its embed task.
declare -A baseline_id=()
for k in "${!baselines[@]}"; do
  IFS=, read -r task b oh <<<"${baselines[$k]}"
  spec=() fold=""
  if grep -Eq '^cv *= *true' "$JOBS_DIR/$task.toml"; then spec=(--array="$(array_spec 1-10)"); fold=array; fi
  # shellcheck disable=SC2086
  baseline_id[$k]=$(unset SWEEP_PAIRS
    TASK=$task CONFIG=$JOBS_DIR/$task.toml DATA=$DATA_DIR/$task/onehot OUT=$RESULTS_DIR/$task/$b \
      FOLD=$fold submit --job-name="bend-$b-$task" "${spec[@]}" --dependency="afterok:${embed_id}_$oh" \
      --kill-on-invalid-dep=yes ${TRAIN_SBATCH:-} "$BEND_ROOT/slurm/train.sbatch" --model "$b" ${TRAIN_ARGS:-})
done

# 6. One line per pair, then one per baseline (`-` for its embed task: it reads onehot's).
for i in "${!pairs[@]}"; do
  IFS=, read -r task model _ <<<"${pairs[$i]}"
  train=-
  if [ -n "${cv_id[$i]:-}" ]; then
    train="${cv_id[$i]}_[1-10]"
  elif [ -n "$train_id" ] && [[ " ${train_idx[*]} " == *" $i "* ]]; then
    train="${train_id}_$i"
  fi
  echo "$task $model ${embed_id}_$i $train"
done
for k in "${!baselines[@]}"; do
  IFS=, read -r task b _ <<<"${baselines[$k]}"
  train=${baseline_id[$k]}
  grep -Eq '^cv *= *true' "$JOBS_DIR/$task.toml" && train="${train}_[1-10]"
  echo "$task $b - $train"
done
