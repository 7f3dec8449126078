#!/usr/bin/env bash
# Start a real single-node Slurm on this machine without systemd: munged -> slurmctld -> slurmd.
# Idempotent. Fast path (< 0.3 s) when the config is current and status.sh reports healthy.
# Prints one status line on stdout; progress and errors go to stderr.
#
# Environment:
#   CIRASA_SLURM_CPUS  CPUs the node advertises (default: max(real CPUs, 4); config_overrides lets the
#                      node claim more than it has, so two 1-core Dask workers plus batch jobs fit on 2 cores).
# Exit status: 0 up; 1 failed to start (message + log tail on stderr); 3 install failed or not root.
set -euo pipefail

readonly HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly CONF=/etc/slurm/slurm.conf
readonly RUN_DIR=/var/spool/slurm/run
readonly LOCK=/run/lock/cirasa-slurm.lock
readonly START_TIMEOUT_S=45
readonly RESUME_AFTER_S=15

die() {
    echo "start.sh: $1" >&2
    if [[ -n "${2:-}" && -r "$2" ]]; then
        echo "--- last lines of $2:" >&2
        tail -n 15 "$2" >&2
    fi
    exit 1
}

pid_of() {
    local name=$1 pidfile=$2 pid comm
    [[ -r "$pidfile" ]] || return 1
    pid=$(<"$pidfile")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ "$comm" == "$name" ]] || return 1
    echo "$pid"
}

# Write the slurm.conf for this machine to stdout.
render_config() {
    local host probe real_cpus real_memory cpus topology memory
    host=$(hostname -s)
    probe=$(/usr/sbin/slurmd -C | head -n 1)
    real_cpus=$(sed -n 's/.*\bCPUs=\([0-9]*\).*/\1/p' <<<"$probe")
    real_memory=$(sed -n 's/.*\bRealMemory=\([0-9]*\).*/\1/p' <<<"$probe")
    [[ -n "$real_cpus" && -n "$real_memory" ]] || die "cannot read CPUs/RealMemory from 'slurmd -C': $probe"
    cpus=${CIRASA_SLURM_CPUS:-$((real_cpus > 4 ? real_cpus : 4))}
    [[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "CIRASA_SLURM_CPUS must be a positive integer, got '$cpus'"
    if [[ "$cpus" -eq "$real_cpus" ]]; then
        topology=$(grep -o 'CPUs=[0-9]* Boards=[0-9]* SocketsPerBoard=[0-9]* CoresPerSocket=[0-9]* ThreadsPerCore=[0-9]*' \
            <<<"$probe") || topology="CPUs=$cpus"
    else
        topology="CPUs=$cpus"
    fi
    # Advertise slightly less memory than slurmd measures, or the node drains with "Low RealMemory".
    memory=$((real_memory - (real_memory / 50 > 256 ? real_memory / 50 : 256)))
    sed -e "s/@HOST@/$host/g" -e "s/@NODE_TOPOLOGY@/$topology/" -e "s/@REAL_MEMORY@/$memory/" \
        "$HERE/slurm.conf.template"
}

# Fast path: installed, config current, everything healthy.
if [[ -x /usr/sbin/slurmd && -r "$CONF" ]] && cmp -s "$CONF" <(render_config) &&
    status_line=$("$HERE/status.sh"); then
    echo "$status_line"
    exit 0
fi

[[ $(id -u) -eq 0 ]] || { echo "start.sh: starting Slurm needs root" >&2; exit 3; }
"$HERE/install.sh"

exec 9>"$LOCK"
flock -w 300 9 || die "another start.sh/stop.sh holds $LOCK for more than 300 s"

# --- munge ------------------------------------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    runuser -u munge -- /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key
chmod 0600 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge

# --- slurm directories and config --------------------------------------------------------------------
install -d -o root -g root -m 0755 /etc/slurm /var/spool/slurm /var/spool/slurm/d
install -d -o slurm -g slurm -m 0755 /var/spool/slurm/ctld "$RUN_DIR" /var/log/slurm
new_conf=$(mktemp)
trap 'rm -f "$new_conf"' EXIT
render_config >"$new_conf"
if ! cmp -s "$CONF" "$new_conf"; then
    if pid_of slurmctld "$RUN_DIR/slurmctld.pid" >/dev/null || pid_of slurmd "$RUN_DIR/slurmd.pid" >/dev/null; then
        # Node definitions change only with a restart of both daemons (scontrol reconfigure is not enough).
        echo "start.sh: $CONF changed; restarting Slurm (running jobs are cancelled)" >&2
        CIRASA_SLURM_LOCK_HELD=1 "$HERE/stop.sh" >&2
    fi
    install -o root -g root -m 0644 "$new_conf" "$CONF"
fi

# Daemons get /dev/null for stdio (a caller capturing our output must not wait on them) and must not
# inherit the lock descriptor.
if ! pid_of munged /run/munge/munged.pid >/dev/null; then
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid </dev/null >/dev/null 2>&1 9>&- ||
        die "munged failed to start" /var/log/munge/munged.log
fi
munge -n 2>/dev/null | unmunge >/dev/null 2>&1 || die "munge -n | unmunge failed" /var/log/munge/munged.log

# --- slurmctld ----------------------------------------------------------------------------------------
if ! pid_of slurmctld "$RUN_DIR/slurmctld.pid" >/dev/null; then
    /usr/sbin/slurmctld -i -c </dev/null >/dev/null 2>&1 9>&- || die "slurmctld failed to start" /var/log/slurm/slurmctld.log
fi
deadline=$((SECONDS + START_TIMEOUT_S))
until [[ "$(timeout 5 scontrol ping 2>/dev/null)" == *" is UP"* ]]; do
    ((SECONDS < deadline)) || die "slurmctld not UP after ${START_TIMEOUT_S} s" /var/log/slurm/slurmctld.log
    sleep 0.1
done

# --- slurmd -------------------------------------------------------------------------------------------
if ! pid_of slurmd "$RUN_DIR/slurmd.pid" >/dev/null; then
    /usr/sbin/slurmd -c </dev/null >/dev/null 2>&1 9>&- || die "slurmd failed to start" /var/log/slurm/slurmd.log
fi
host=$(hostname -s)
resume_at=$((SECONDS + RESUME_AFTER_S))
resumed=0
while :; do
    state=$(timeout 5 sinfo -h -N -n "$host" -o '%T' 2>/dev/null | head -n 1) || true
    case "$state" in
        idle | mixed | allocated | completing) break ;;
    esac
    ((SECONDS < deadline)) || die "node $host is '${state:-unknown}' after ${START_TIMEOUT_S} s" /var/log/slurm/slurmd.log
    if ((resumed == 0 && SECONDS >= resume_at)); then
        echo "start.sh: node $host is '$state'; resuming it" >&2
        scontrol update nodename="$host" state=resume 2>&1 | sed 's/^/start.sh: /' >&2 || true
        resumed=1
    fi
    sleep 0.1
done

"$HERE/status.sh" || die "Slurm started but status.sh reports it unhealthy" /var/log/slurm/slurmctld.log
