#!/usr/bin/env bash
# A throw-away single-node SLURM cluster (munge + slurmctld + slurmd) for testing the grid's
# job-array script against the real scheduler.
#
#   scripts/slurm-local.sh install     install Debian's slurm-wlm and munge when missing
#                                      (root with apt-get only; otherwise one line saying why)
#   scripts/slurm-local.sh start DIR   write the configuration into DIR, start the daemons
#                                      there, wait for the node; then use SLURM_CONF=DIR/slurm.conf
#   scripts/slurm-local.sh stop DIR    cancel every job of that cluster and stop its daemons
#
# Nothing outside DIR is written by start/stop: the daemons get their own munge key, socket,
# state, spool, logs and ports, so a site's own SLURM or munge (if any) is left alone. No
# systemd is needed (containers have none): the daemons are started directly. The node is
# the machine's real CPU count and memory (slurmd -C); no GRES, no cgroups (proctrack/linuxproc,
# task/none), so it works in an unprivileged container too.
set -euo pipefail

need=(munged slurmctld slurmd sbatch)
PATH="$PATH:/usr/sbin:/sbin"

have_all() {
    local c
    for c in "${need[@]}"; do command -v "$c" >/dev/null 2>&1 || return 1; done
}

install() {
    if have_all; then return 0; fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "slurm-local: slurm-wlm/munge not installed and cannot install them here" \
             "(needs root and apt-get); the SLURM test is skipped" >&2
        return 0
    fi
    # Quiet and non-interactive: this runs as part of `make test`.
    local log
    log=$(mktemp)
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends slurm-wlm munge; } >"$log" 2>&1; then
        echo "slurm-local: installing slurm-wlm and munge failed ($(tail -n 1 "$log"));" \
             "the SLURM test is skipped" >&2
    fi
    rm -f "$log"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_config() {
    local dir=$1 host node
    host=$(hostname -s)
    # "NodeName=<host> CPUs=... RealMemory=...": the machine as slurmd itself sees it.
    node=$(slurmd -C | head -n 1 | sed "s/^NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/")
    mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
    cat >"$dir/slurm.conf" <<EOF
ClusterName=gaborbench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=3600
KillWait=5
JobRequeue=1
$node State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    local dir
    dir=$(realpath "$1")
    have_all || { echo "slurm-local: slurm-wlm/munge are not installed" >&2; exit 1; }
    write_config "$dir"
    export SLURM_CONF=$dir/slurm.conf
    # munged refuses keys and sockets in folders others can write to; DIR is ours alone.
    chmod 700 "$dir"
    head -c 1024 /dev/urandom >"$dir/munge/munge.key"
    chmod 600 "$dir/munge/munge.key"
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed"
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    local i
    for i in $(seq 1 60); do
        if [ "$(sinfo -h -o %t 2>/dev/null)" = idle ]; then
            echo "SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.5
    done
    echo "slurm-local: the node did not come up; logs in $dir" >&2
    tail -n 5 "$dir"/*.log >&2 || true
    exit 1
}

stop_pid() {
    local file=$1 pid i
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

stop() {
    local dir i
    dir=$(realpath "$1")
    export SLURM_CONF=$dir/slurm.conf
    if [ -f "$dir/slurmctld.pid" ]; then
        # Jobs first: killing slurmd would leave their slurmstepd and tasks running.
        scancel --full --quiet 2>/dev/null || true
        for i in $(seq 1 100); do
            [ -z "$(squeue -h -t R,CG -o %i 2>/dev/null)" ] && break
            sleep 0.2
        done
    fi
    stop_pid "$dir/slurmd.pid"
    stop_pid "$dir/slurmctld.pid"
    stop_pid "$dir/munged.pid"
}

case "${1:-}" in
    install) install ;;
    start) start "${2:?usage: $0 start DIR}" ;;
    stop) stop "${2:?usage: $0 stop DIR}" ;;
    *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
