#!/usr/bin/env bash
# Is the local single-node Slurm healthy? Exit 0 and print "slurm: up (...)", else exit 1 "slurm: down (why)".
# Healthy: munged, slurmctld and slurmd alive (PID file + process name), `scontrol ping` UP and the node
# idle, mixed, allocated or completing (not down, drained or unresponding).
set -euo pipefail

readonly RUN_DIR=/var/spool/slurm/run

# Print the PID recorded in $2 if that process is alive and its name is $1 (guards against PID reuse).
pid_of() {
    local name=$1 pidfile=$2 pid comm
    [[ -r "$pidfile" ]] || return 1
    pid=$(<"$pidfile")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ "$comm" == "$name" ]] || return 1
    echo "$pid"
}

down() {
    echo "slurm: down ($1)"
    exit 1
}

for binary in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sinfo /usr/bin/scontrol /usr/sbin/munged; do
    [[ -x "$binary" ]] || down "$binary is not installed; run infra/slurm/install.sh"
done
pid_of munged /run/munge/munged.pid >/dev/null || down "munged is not running"
pid_of slurmctld "$RUN_DIR/slurmctld.pid" >/dev/null || down "slurmctld is not running"
pid_of slurmd "$RUN_DIR/slurmd.pid" >/dev/null || down "slurmd is not running"

ping=$(timeout 5 scontrol ping 2>&1) || true
[[ "$ping" == *" is UP"* ]] || down "scontrol ping: ${ping:-no answer}"

host=$(hostname -s)
node=$(timeout 5 sinfo -h -N -n "$host" -o '%T %c %m' 2>&1 | head -n 1) || true
state=${node%% *}
case "$state" in
    idle | mixed | allocated | completing) ;;
    *) down "node $host is ${node:-unknown}" ;;
esac
read -r _ cpus memory <<<"$node"
partitions=$(timeout 5 sinfo -h -o '%P' 2>/dev/null | paste -sd, -)
jobs=$(timeout 5 squeue -h -o '%i' 2>/dev/null | wc -l)
echo "slurm: up (node $host $state, $cpus CPUs, ${memory} MB, partitions $partitions, $jobs jobs)"
