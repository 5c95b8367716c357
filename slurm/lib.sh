# Shared by slurm/*.sbatch (sourced, not run): runs one bend step under srun so that Slurm's
# warning signal stops bend cleanly and the job requeues itself.
#
# The contract with bend (docs/cluster.md): SIGUSR1, SIGTERM or SIGINT ask every rank to stop;
# shards in flight are finished or discarded, the manifest stays consistent, and bend exits 75
# ("stopped before finishing; run the same command again to resume"). Rerunning the same command
# resumes, so a requeued job simply runs its script again.
#
# How the signal travels: the scripts ask for `--signal=B:USR1@<seconds>`, so Slurm signals only
# this batch shell. srun runs in the background and the shell waits for it, so the trap below runs
# at once; it forwards USR1 to srun, which forwards it to every rank of the step on every node.
# When the step ends with 75 the job requeues itself (`scontrol requeue`), at most
# BEND_MAX_REQUEUES times (default 20). SIGTERM (scancel, the time limit itself, preemption)
# reaches every step from Slurm directly, so it is not forwarded; the job is then ending and this
# script does not requeue it.
# Submitted with `--signal=USR1@N` (no `B:`), Slurm signals the ranks directly; bend's exit 75 is
# then handled the same way.
# shellcheck shell=bash

bend_log() { echo "bend-slurm: $(date +%FT%T) $*" >&2; }

BEND_WARNED=${BEND_WARNED:-0}  # the warning signal (USR1) reached this shell
BEND_TERMINATED=0              # SIGTERM reached this shell: the job is being cancelled, timed out or preempted
BEND_STEP_PID=""

_bend_on_usr1() {
  BEND_WARNED=1
  bend_log "warning signal (USR1): asking bend to stop cleanly"
  [ -n "$BEND_STEP_PID" ] && kill -USR1 "$BEND_STEP_PID" 2>/dev/null
  return 0
}

# Not forwarded: Slurm sends SIGTERM to every step itself, and bend exits at once on a second one.
_bend_on_term() {
  BEND_TERMINATED=1
  bend_log "SIGTERM: the job is being cancelled, timed out or preempted"
  return 0
}

trap _bend_on_usr1 USR1
trap _bend_on_term TERM

# Requeues this job so that it runs the same script again and bend resumes; exits the script.
bend_requeue() {
  local restarts=${SLURM_RESTART_COUNT:-0} max=${BEND_MAX_REQUEUES:-20}
  if [ "$restarts" -ge "$max" ]; then
    bend_log "not requeueing: already restarted $restarts times (BEND_MAX_REQUEUES=$max); resubmit to resume"
    exit 75
  fi
  bend_log "requeueing job $SLURM_JOB_ID (restart $((restarts + 1)) of at most $max); it resumes where it stopped"
  if ! scontrol requeue "$SLURM_JOB_ID"; then
    bend_log "scontrol requeue failed; resubmit the same job to resume"
    exit 75
  fi
  exit 0
}

# The bend executable when BEND is not set: $BEND_ROOT/build/bend in a source tree, or
# <prefix>/bin/bend when these scripts are installed in <prefix>/share/bend/slurm
# (`cmake --install`), or bend on PATH.
bend_default_exe() {
  if [ -x "$BEND_ROOT/build/bend" ]; then
    echo "$BEND_ROOT/build/bend"
  elif [ -x "$BEND_ROOT/../../bin/bend" ]; then
    echo "$(cd "$BEND_ROOT/../../bin" && pwd)/bend"
  else
    command -v bend || echo "$BEND_ROOT/build/bend"
  fi
}

# bend_sweep_pair embed|train: in an array task of slurm/sweep.sh (SWEEP_PAIRS set), sets TASK,
# CONFIG, MODEL, CHECKPOINT and OUT (embed) or DATA and OUT (train) of pair $SLURM_ARRAY_TASK_ID;
# does nothing outside a sweep. SWEEP_PAIRS lists "task,model,c|-" (c: needs $SWEEP_CHECKPOINTS/model).
# shellcheck disable=SC2034  # TASK, CONFIG, ... are read by the script that sourced this file
bend_sweep_pair() {
  [ -n "${SWEEP_PAIRS:-}" ] || return 0
  local -a pairs
  local i=${SLURM_ARRAY_TASK_ID:-} ckpt
  read -r -a pairs <<<"$SWEEP_PAIRS"
  if [ -z "$i" ] || [ "$i" -ge "${#pairs[@]}" ]; then
    bend_log "SWEEP_PAIRS has ${#pairs[@]} pairs but this is array task '${i}'; submit with slurm/sweep.sh"
    exit 1
  fi
  IFS=, read -r TASK MODEL ckpt <<<"${pairs[$i]}"
  CONFIG=$SWEEP_JOBS_DIR/$TASK.toml
  CHECKPOINT=""
  [ "$ckpt" = c ] && CHECKPOINT=$SWEEP_CHECKPOINTS/$MODEL
  if [ "$1" = embed ]; then
    OUT=$SWEEP_DATA_DIR/$TASK/$MODEL
  else
    DATA=$SWEEP_DATA_DIR/$TASK/$MODEL
    OUT=$SWEEP_RESULTS_DIR/$TASK/$MODEL
  fi
  bend_log "sweep pair $i: task $TASK, model $MODEL${CHECKPOINT:+, checkpoint $CHECKPOINT}"
}

# bend_step ARGS...: runs `srun --mpi=$SRUN_MPI --cpus-per-task=$SLURM_CPUS_PER_TASK ARGS` (the
# caller passes the bend command) and handles its end: 0 returns 0; a clean stop (75), or death
# by a signal after the warning, requeues the job unless it is being terminated; anything else
# exits the script with srun's status, so the job fails with bend's error in its log.
# The CPUs per task are passed on explicitly: since Slurm 22.05 srun no longer takes them from
# the job (SLURM_CPUS_PER_TASK), and with CPU binding (task/affinity, task/cgroup) every rank
# would be bound to a single CPU while running --threads of them.
bend_step() {
  if [ "$BEND_WARNED" = 1 ]; then  # the warning came before the step started
    bend_requeue
  fi
  local -a opts=(--mpi="${SRUN_MPI:-pmix}")
  [ -n "${SLURM_CPUS_PER_TASK:-}" ] && opts+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
  bend_log "srun ${opts[*]} $*"
  srun "${opts[@]}" "$@" &
  BEND_STEP_PID=$!
  local rc
  while :; do  # `wait` returns early when a trapped signal arrives; wait again for the real status
    wait "$BEND_STEP_PID"
    rc=$?
    kill -0 "$BEND_STEP_PID" 2>/dev/null || break
  done
  BEND_STEP_PID=""
  if [ "$rc" -eq 0 ]; then
    return 0
  fi
  if [ "$BEND_TERMINATED" = 1 ]; then
    bend_log "step ended with $rc while the job is terminated; not requeueing"
    exit "$rc"
  fi
  if [ "$rc" -eq 75 ] || { [ "$BEND_WARNED" = 1 ] && [ "$rc" -gt 128 ]; }; then
    bend_log "bend stopped before finishing (status $rc)"
    bend_requeue
  fi
  bend_log "step failed with status $rc"
  exit "$rc"
}
