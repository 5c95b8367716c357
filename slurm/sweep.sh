#!/usr/bin/env bash
# Submits a sweep of BEND tasks x models: for every pair, one embedding job (slurm/embed.sbatch)
# and one training job (slurm/train.sbatch) that starts only after the embedding succeeded
# (--dependency=afterok, which holds across the embedding job's own requeues; a failed
# embedding cancels its training job: --kill-on-invalid-dep=yes). Tasks with cross-validation
# (`cv = true` in the job file, e.g. enhancer_annotation) train as a job array of 10 folds.
# Run it on a login node, from the repository root; it prints one line per pair:
#   <task> <model> <embed job id> <train job id, or - for a job file without [train]>
#
# Usage:
#   slurm/sweep.sh                      all BEND tasks in jobs/ x MODELS
#   TASKS="gene_finding histone_modification" MODELS="onehot resnetlm" slurm/sweep.sh
#   DRY_RUN=1 slurm/sweep.sh            print the sbatch commands only
#
# Environment (all optional):
#   TASKS          job files jobs/<task>.toml      (default: every jobs/*.toml except demo_*)
#   MODELS         models, as `bend models` lists  (default onehot)
#   JOBS_DIR       where the job files are         (default $BEND_ROOT/jobs)
#   CHECKPOINTS    checkpoint dir of model M: $CHECKPOINTS/M, for models that need one
#                                                  (default pretrained_models)
#   DATA_DIR       embeddings go to $DATA_DIR/<task>/<model>           (default data)
#   RESULTS_DIR    results go to $RESULTS_DIR/<task>/<model>           (default downstream_tasks)
#   DTYPE          stored dtype for every embedding (default: the job file's)
#   EMBED_SBATCH, TRAIN_SBATCH   extra sbatch options, e.g. "-N 4 --ntasks-per-node=2 --ntasks-per-socket=1 -c 16"
#   EMBED_ARGS, TRAIN_ARGS       extra bend embed / bend train options, e.g. "--epochs 20"
#   BEND           the bend executable             (default $BEND_ROOT/build/bend)
#   BEND_ROOT      repository root                 (default: the directory above this script)
# Everything else in the environment (THREADS, CUDA, BEND_MAX_REQUEUES, ...) reaches the jobs.
set -euo pipefail

BEND_ROOT=${BEND_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
export BEND_ROOT
JOBS_DIR=${JOBS_DIR:-$BEND_ROOT/jobs}
MODELS=${MODELS:-onehot}
CHECKPOINTS=${CHECKPOINTS:-pretrained_models}
DATA_DIR=${DATA_DIR:-data}
RESULTS_DIR=${RESULTS_DIR:-downstream_tasks}
BEND=${BEND:-$BEND_ROOT/build/bend}
export BEND
if [ -z "${TASKS:-}" ]; then
  TASKS=""
  for f in "$JOBS_DIR"/*.toml; do
    case $(basename "$f") in demo_*) ;; *) TASKS+="$(basename "$f" .toml) " ;; esac
  done
fi

die() { echo "sweep: error: $*" >&2; exit 1; }

needs_checkpoint() {  # model -> 0 when `bend models` says it needs --checkpoint
  local line
  line=$("$BEND" models | awk -v m="$1" '$1 == m')
  [ -n "$line" ] || die "unknown model '$1' (bend models lists: $("$BEND" models | awk '{print $1}' | tr '\n' ' '))"
  [ "$(echo "$line" | awk '{print $2}')" = checkpoint ]
}

submit() {  # prints the job id of `sbatch ARGS`, or the command under DRY_RUN
  if [ "${DRY_RUN:-0}" = 1 ]; then
    echo "TASK=${TASK:-} CONFIG=${CONFIG:-} MODEL=${MODEL:-} CHECKPOINT=${CHECKPOINT:-} DATA=${DATA:-}" \
      "OUT=$OUT FOLD=${FOLD:-} sbatch $*" >&2
    echo "DRYRUN"
    return
  fi
  sbatch --parsable "$@" | cut -d';' -f1
}

[ -x "$BEND" ] || die "$BEND is not executable (build first: tools/build.sh, or set BEND)"
for task in $TASKS; do
  config=$JOBS_DIR/$task.toml
  [ -f "$config" ] || die "no job file $config"
  for model in $MODELS; do
    ckpt=""
    if needs_checkpoint "$model"; then
      ckpt=$CHECKPOINTS/$model
      [ -d "$ckpt" ] || die "model $model needs a checkpoint directory: $ckpt missing (set CHECKPOINTS)"
    fi
    data=$DATA_DIR/$task/$model
    out=$RESULTS_DIR/$task/$model
    # shellcheck disable=SC2086  # EMBED_SBATCH / EMBED_ARGS are option lists
    embed_id=$(TASK=$task CONFIG=$config MODEL=$model CHECKPOINT=$ckpt OUT=$data \
      submit --job-name="embed-$task-$model" ${EMBED_SBATCH:-} \
      "$BEND_ROOT/slurm/embed.sbatch" ${EMBED_ARGS:-})
    if ! grep -q '^\[train\]' "$config"; then  # e.g. variant_effects: zero-shot, no head
      echo "$task $model $embed_id -"
      continue
    fi
    fold=()
    if grep -Eq '^cv *= *true' "$config"; then
      fold=(--array=1-10)
    fi
    # shellcheck disable=SC2086
    train_id=$(TASK=$task CONFIG=$config DATA=$data OUT=$out FOLD=${fold:+array} \
      submit --job-name="train-$task-$model" --dependency="afterok:$embed_id" --kill-on-invalid-dep=yes \
      "${fold[@]}" ${TRAIN_SBATCH:-} "$BEND_ROOT/slurm/train.sbatch" ${TRAIN_ARGS:-})
    echo "$task $model $embed_id $train_id"
  done
done
