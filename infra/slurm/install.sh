#!/usr/bin/env bash
# Install the Debian packages for a single-node Slurm (munge, slurmctld, slurmd, client tools).
# Idempotent: does nothing when every binary is already present. Exit 3: not root, or apt failed.
# apt never starts the daemons here (policy-rc.d returns 101, no systemd); start.sh does that.
set -euo pipefail

readonly PACKAGES=(slurmctld slurmd slurm-client munge)
readonly BINARIES=(/usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sinfo /usr/bin/sbatch /usr/bin/squeue
    /usr/bin/scontrol /usr/bin/scancel /usr/sbin/munged /usr/bin/munge /usr/bin/unmunge)

missing=()
for binary in "${BINARIES[@]}"; do
    [[ -x "$binary" ]] || missing+=("$binary")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "install.sh: missing ${missing[*]}; installing Slurm needs root (run as root or via sudo)" >&2
    exit 3
fi

echo "install.sh: installing ${PACKAGES[*]} (missing: ${missing[*]})" >&2
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=300 -q)
if ! apt-get "${apt_opts[@]}" install -y --no-install-recommends "${PACKAGES[@]}" >/tmp/cirasa-slurm-apt.log 2>&1; then
    # The package lists may be missing or stale on a fresh machine: refresh once and retry.
    if ! apt-get "${apt_opts[@]}" update >>/tmp/cirasa-slurm-apt.log 2>&1 ||
        ! apt-get "${apt_opts[@]}" install -y --no-install-recommends "${PACKAGES[@]}" \
            >>/tmp/cirasa-slurm-apt.log 2>&1; then
        echo "install.sh: apt-get install ${PACKAGES[*]} failed; last lines of /tmp/cirasa-slurm-apt.log:" >&2
        tail -n 15 /tmp/cirasa-slurm-apt.log >&2
        exit 3
    fi
fi

for binary in "${BINARIES[@]}"; do
    if [[ ! -x "$binary" ]]; then
        echo "install.sh: apt finished but $binary is still missing" >&2
        exit 3
    fi
done
echo "install.sh: installed $(dpkg-query -W -f='slurmctld ${Version}, ' slurmctld)$(dpkg-query -W -f='munge ${Version}' munge)" >&2
