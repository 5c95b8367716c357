#!/usr/bin/env bash
# A real one-node Slurm on this host, for testing bend's Slurm scripts (tests/slurm) and trying
# them by hand. Not for production clusters: everything runs as root, without cgroups.
#
# Usage (as root, after tools/install_deps.sh installed slurm-wlm and munge):
#   tools/slurm/local_slurm.sh start    write the config, start munged, slurmctld and slurmd, wait
#                                       until the node is idle (no-op when already up)
#   tools/slurm/local_slurm.sh stop     stop the daemons this script started
#   tools/slurm/local_slurm.sh status   daemons and node state; exit 0 only when the node is usable
#
# Environment:
#   BEND_SLURM_DIR   state, spool, logs and pid files (default /var/lib/bend-slurm)
#   BEND_SLURM_CPUS  CPUs the node declares (default: nproc; with BEND_SLURM_TASK_PLUGIN=task/none
#                    at least 4, so 2-3 rank jobs fit on a 1-2 core CI runner; Slurm is told to
#                    trust the config, not the hardware, but binding needs the real count)
#   BEND_SLURM_TASK_PLUGIN  task/affinity (default: every task is bound to its cores,
#                    TaskPluginParam=Cores, as on most clusters) or task/none (no binding)
#   BEND_SLURM_FORCE=1  overwrite an /etc/slurm/slurm.conf that this script did not write
#
# The config lives in /etc/slurm/slurm.conf (where sbatch, srun, sinfo look without SLURM_CONF);
# it carries a marker line so a foreign config is never overwritten silently. Settings that make
# it work in a container without systemd or cgroups: ProctrackType=proctrack/linuxproc,
# TaskPlugin=task/affinity (sched_setaffinity, no cgroups), no accounting; MpiDefault=pmix for
# Open MPI. Job ends are logged to
# $BEND_SLURM_DIR/log/jobcomp.log (jobcomp/filetxt), which tests read for final states.
# Requeued jobs wait cred_expire (+1) seconds before they start again: 10 here, 120 by default.
# Notes and the reasons behind each setting: docs/cluster.md.
set -euo pipefail

DIR=${BEND_SLURM_DIR:-/var/lib/bend-slurm}
CONF=/etc/slurm/slurm.conf
MARKER="# written by bend tools/slurm/local_slurm.sh"
HOST=$(hostname -s)

log() { echo "local_slurm: $*" >&2; }
die() { log "error: $*"; exit 1; }

cpus() {  # with CPU binding the node must declare the CPUs it has; without, at least 4
  local n=${BEND_SLURM_CPUS:-$(nproc)}
  if [ -z "${BEND_SLURM_CPUS:-}" ] && [ "$(task_plugin)" = task/none ] && [ "$n" -lt 4 ]; then n=4; fi
  echo "$n"
}

task_plugin() { echo "${BEND_SLURM_TASK_PLUGIN:-task/affinity}"; }

write_conf() {  # prints the config on stdout
  cat <<EOF
$MARKER
# One node (this host), everything as root, no cgroups, no accounting. See docs/cluster.md.
ClusterName=bendlocal
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=cred_expire=10
StateSaveLocation=$DIR/state/ctld
SlurmdSpoolDir=$DIR/state/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=$(task_plugin)
TaskPluginParam=Cores
MpiDefault=pmix
SwitchType=switch/none
LaunchType=launch/slurm
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=5
JobRequeue=1
ReturnToService=2
MinJobAge=60
SlurmctldTimeout=10
SlurmdTimeout=30
MessageTimeout=10
InactiveLimit=0
KillWait=10
Waittime=0
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(cpus) State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
}

pid_alive() {  # pid file -> 0 when its process runs
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

node_state() { sinfo -h -n "$HOST" -o %t 2>/dev/null | head -n1; }

start_munge() {
  if munge_ok; then return; fi
  if [ ! -s /etc/munge/munge.key ]; then
    log "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged
  cp /run/munge/munged.pid "$DIR/run/munged.pid"  # ours: `stop` ends it
  for _ in $(seq 50); do munge_ok && return; sleep 0.1; done
  die "munged does not answer (see /var/log/munge/munged.log)"
}

install_conf() {  # writes $CONF; prints "changed" when it differs from the one in place
  local new
  new=$(write_conf)
  if [ -e "$CONF" ] && ! grep -qxF "$MARKER" "$CONF" && [ "${BEND_SLURM_FORCE:-0}" != 1 ]; then
    die "$CONF was not written by this script; set BEND_SLURM_FORCE=1 to replace it"
  fi
  if [ -e "$CONF" ] && [ "$(cat "$CONF")" = "$new" ]; then return; fi
  mkdir -p "$(dirname "$CONF")"
  printf '%s\n' "$new" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
  echo changed
}

wait_idle() {
  local s
  for _ in $(seq 150); do
    s=$(node_state)
    case "$s" in
      idle|mix|alloc) return 0 ;;
      down*|drain*|fail*) scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
  done
  die "node $HOST not idle after 30 s (state '${s:-none}'); logs in $DIR/log"
}

cmd_start() {
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  command -v slurmctld >/dev/null || die "slurmctld missing: run tools/install_deps.sh"
  mkdir -p "$DIR"/{state/ctld,state/d,run,log}
  local changed
  changed=$(install_conf)
  start_munge
  if [ -n "$changed" ] && { pid_alive "$DIR/run/slurmctld.pid" || pid_alive "$DIR/run/slurmd.pid"; }; then
    log "configuration changed: restarting the daemons"
    stop_slurm
  fi
  if ! pid_alive "$DIR/run/slurmctld.pid"; then
    log "starting slurmctld"
    slurmctld || die "slurmctld did not start; see $DIR/log/slurmctld.log"
  fi
  for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.1; done
  if ! pid_alive "$DIR/run/slurmd.pid"; then
    log "starting slurmd"
    slurmd || die "slurmd did not start; see $DIR/log/slurmd.log"
  fi
  wait_idle
  log "up: node $HOST ($(node_state)), $(cpus) CPUs, logs in $DIR/log"
}

stop_pidfile() {  # pid file, name: SIGTERM and wait up to 20 s
  local f=$1 pid
  pid_alive "$f" || { rm -f "$f"; return 0; }
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || { rm -f "$f"; return 0; }; sleep 0.1; done
  die "$2 (pid $pid) did not stop"
}

stop_slurm() {
  stop_pidfile "$DIR/run/slurmd.pid" slurmd
  stop_pidfile "$DIR/run/slurmctld.pid" slurmctld
}

cmd_stop() {
  stop_slurm
  if [ -s "$DIR/run/munged.pid" ]; then
    stop_pidfile "$DIR/run/munged.pid" munged
  fi
  log "stopped"
}

cmd_status() {
  local ok=0 d
  for d in slurmctld slurmd munged; do
    if pid_alive "$DIR/run/$d.pid"; then echo "$d: running (pid $(cat "$DIR/run/$d.pid"))"
    elif [ "$d" = munged ] && munge_ok; then echo "munged: running (not started by this script)"
    else echo "$d: stopped"; ok=1; fi
  done
  local s
  s=$(node_state || true)
  echo "node $HOST: ${s:-unknown}"
  case "$s" in idle|mix|alloc) ;; *) ok=1 ;; esac
  return $ok
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
