#!/usr/bin/env bash
# Stop the local Slurm: cancel all jobs and wait until none is pending/running/completing, then stop
# slurmd, slurmctld and munged by PID file (name-checked): SIGTERM, SIGKILL after 10 s. Safe when
# nothing runs. Exit 0 when everything is stopped, 1 if a daemon survived SIGKILL.
set -euo pipefail

readonly RUN_DIR=/var/spool/slurm/run
readonly LOCK=/run/lock/cirasa-slurm.lock
readonly JOBS_TIMEOUT_S=30
readonly TERM_GRACE_S=10

pid_of() {
    local name=$1 pidfile=$2 pid comm
    [[ -r "$pidfile" ]] || return 1
    pid=$(<"$pidfile")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ "$comm" == "$name" ]] || return 1
    echo "$pid"
}

# True while process $1 exists, is not a zombie and is still named $2. Daemons delete their PID file
# before they finish exiting, so waiting on the PID file alone would return too early.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ "$(cat "/proc/$1/comm" 2>/dev/null)" == "$2" ]] || return 1
    stat=${stat##*) }
    [[ "${stat%% *}" != Z ]]
}

# SIGTERM the daemon named $1 whose PID is in $2; SIGKILL it if still alive after TERM_GRACE_S.
stop_daemon() {
    local name=$1 pidfile=$2 pid i
    pid=$(pid_of "$name" "$pidfile") || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < TERM_GRACE_S * 10; i++)); do
        alive "$pid" "$name" || return 0
        sleep 0.1
    done
    echo "stop.sh: $name ($pid) ignored SIGTERM for ${TERM_GRACE_S} s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$pid" "$name" || return 0
        sleep 0.1
    done
    echo "stop.sh: $name ($pid) survived SIGKILL" >&2
    return 1
}

if [[ -z "${CIRASA_SLURM_LOCK_HELD:-}" ]]; then
    exec 9>"$LOCK"
    flock -w 300 9 || { echo "stop.sh: another start.sh/stop.sh holds $LOCK" >&2; exit 1; }
fi

if pid_of slurmctld "$RUN_DIR/slurmctld.pid" >/dev/null &&
    [[ "$(timeout 5 scontrol ping 2>/dev/null)" == *" is UP"* ]]; then
    mapfile -t jobs < <(timeout 10 squeue -h -o '%i' 2>/dev/null || true)
    if [[ ${#jobs[@]} -gt 0 ]]; then
        scancel "${jobs[@]}" 2>/dev/null || true
    fi
    deadline=$((SECONDS + JOBS_TIMEOUT_S))
    while [[ -n "$(timeout 5 squeue -h -t PD,R,CG,CF,S -o '%i' 2>/dev/null || true)" ]]; do
        if ((SECONDS >= deadline)); then
            echo "stop.sh: jobs still active after ${JOBS_TIMEOUT_S} s; stopping daemons anyway" >&2
            break
        fi
        sleep 0.2
    done
fi

status=0
stop_daemon slurmd "$RUN_DIR/slurmd.pid" || status=1
stop_daemon slurmctld "$RUN_DIR/slurmctld.pid" || status=1
stop_daemon munged /run/munge/munged.pid || status=1
if ((status == 0)); then
    echo "slurm: stopped"
fi
exit "$status"
