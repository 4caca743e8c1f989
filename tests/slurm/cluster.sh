# shellcheck shell=bash
# A real single-node Slurm cluster for tests: Debian's slurmctld, slurmd and munge (Slurm 22.05),
# started as root from a temporary directory, without systemd. Source this file, then:
#
#   slurm_install_packages || exit 77   # apt-get installs what is missing; 1 (reason on stderr)
#                                       # when not root or apt cannot install them
#   slurm_start "$dir"                  # munged, slurmctld -D, slurmd -D -N localhost; returns
#                                       # when the node is idle; exports SLURM_CONF
#   trap slurm_stop EXIT                # waits for squeue to empty, then stops slurmd,
#                                       # slurmctld and munged, each by PID with a timeout
#   slurm_wait_idle [SECONDS]           # until no job is queued or running
#
# The cluster: one node `localhost` with the CPUs `slurmd -C` reports (a different count drains
# the node), Gres=gpu:2 on two fake device nodes (character devices 1,3, the same as /dev/null) so
# `--gres=gpu:1` sets CUDA_VISIBLE_DEVICES; proctrack/linuxproc and task/none (no cgroups);
# select/cons_tres with CR_Core, so each task takes a core and two tasks run at once on two cores;
# no scheduling delays; cred_expire=5, since a requeued job waits cred_expire before it starts
# again (120 s by default). The ports are chosen free under a lock, so parallel tests coexist.
#
# Everything lives under DIR: etc/ (slurm.conf, gres.conf), munge/ (key, socket, log; owned by
# the munge user), log/, state/, spool/, run/, dev/. Daemon logs are printed by slurm_dump_logs.

SLURM_PACKAGES=(slurmctld slurmd slurm-client munge)
# Seconds slurm_start waits for the node to become idle, and slurm_stop for jobs and daemons.
SLURM_START_TIMEOUT=${SLURM_START_TIMEOUT:-30}
SLURM_STOP_TIMEOUT=${SLURM_STOP_TIMEOUT:-30}

_slurm_dir=""
_slurm_munged_pid=""
_slurm_ctld_pid=""
_slurm_d_pid=""

_slurm_log() { echo "slurm: $*" >&2; }

# Installs the Slurm packages that are missing. Returns 1 with the reason on stderr when not root
# or apt-get fails (the caller skips, or fails under GAPBENCH_SLURM_REQUIRED=1).
slurm_install_packages() {
  local missing=() p
  for p in "${SLURM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    _slurm_log "not root, cannot install ${missing[*]} (run scripts/setup.sh as root)"
    return 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    _slurm_log "no apt-get to install ${missing[*]}"
    return 1
  fi
  _slurm_log "installing ${missing[*]}"
  local log
  log=$(mktemp)
  # The packages' maintainer scripts try to start the daemons; policy-rc.d 101 forbids that.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  fi
  local rc=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}"; } >"$log" 2>&1 || rc=$?
  ((made_policy)) && rm -f "$policy"
  if ((rc != 0)); then
    _slurm_log "apt-get install ${missing[*]} failed (exit $rc): $(tail -n 3 "$log" | tr '\n' ' ')"
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# True when something listens on 127.0.0.1:$1.
_slurm_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Two distinct free ports in 20000..59999, printed on one line.
_slurm_free_ports() {
  local ports=() p
  while ((${#ports[@]} < 2)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    [[ " ${ports[*]} " == *" $p "* ]] && continue
    _slurm_port_busy "$p" || ports+=("$p")
  done
  echo "${ports[@]}"
}

# Waits up to $2 seconds for PID $1 to exit; then SIGKILL. Returns 0 when it exited in time.
_slurm_stop_pid() {
  local pid=$1 timeout=$2 name=$3 i
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < timeout * 10; ++i)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  _slurm_log "$name (pid $pid) did not stop within ${timeout}s; killing it"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 1
}

# Prints the tail of each daemon's log (for a failing test).
slurm_dump_logs() {
  local f
  [[ -n $_slurm_dir ]] || return 0
  for f in "$_slurm_dir"/munge/munged.log "$_slurm_dir"/log/*.log; do
    [[ -f $f ]] || continue
    echo "---- $f (last 20 lines)" >&2
    tail -n 20 "$f" >&2
  done
}

# The node's state as sinfo reports it (idle, mixed, allocated, drained, ...).
slurm_node_state() { sinfo -h -N -n localhost -o %T 2>/dev/null | head -n 1; }

_slurm_write_conf() {
  local dir=$1 ctld_port=$2 d_port=$3 hw
  # The hardware line from slurmd -C without NodeName/UpTime/RealMemory: CPUs, Boards, sockets,
  # cores and threads exactly as slurmd will find them; more than it finds makes the node INVALID
  # ("Low socket*core*thread count, Low CPUs"). RealMemory is left at its default (1 MB).
  hw=$(slurmd -C | head -n 1 | tr ' ' '\n' |
    grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')
  cat >"$dir/etc/slurm.conf" <<EOF
ClusterName=gapbench
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1
GresTypes=gpu
MpiDefault=none
SwitchType=switch/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
KillWait=2
MinJobAge=300
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 $hw Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$dir/etc/gres.conf" <<EOF
NodeName=localhost Name=gpu File=$dir/dev/nvidia[0-1]
EOF
}

# Starts a single-node cluster under DIR (created if missing; emptied of an earlier cluster's
# state). Exports SLURM_CONF. Returns when the node is idle; 1 (logs on stderr) otherwise, with
# whatever it started stopped again.
slurm_start() {
  local dir=$1 i
  if [[ -n $_slurm_dir ]]; then
    _slurm_log "a cluster is already running in $_slurm_dir"
    return 1
  fi
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd) || return 1
  _slurm_dir=$dir
  rm -rf "${dir:?}"/{etc,munge,log,state,spool,run,dev}
  mkdir -p "$dir"/{etc,munge,log,state,spool,run,dev}
  # munged runs as munge: it must reach its directory (mktemp -d makes 0700 ones); it refuses a
  # socket directory without execute permission for all ("Socket is inaccessible").
  chmod 755 "$dir"
  local d=$dir
  while [[ $d != / ]]; do
    # Every ancestor must be traversable by munge; report the one that is not.
    if ! setpriv --reuid munge --regid munge --init-groups test -x "$d"; then
      _slurm_log "the munge user cannot enter $d; use a directory under /tmp"
      _slurm_dir=""
      return 1
    fi
    d=$(dirname "$d")
  done
  install -o munge -g munge -m 0400 /dev/null "$dir/munge/munge.key"
  dd if=/dev/urandom bs=1 count=1024 status=none >"$dir/munge/munge.key"
  chown -R munge:munge "$dir/munge"
  chmod 0755 "$dir/munge"
  chmod 0400 "$dir/munge/munge.key"
  # The fake GPUs: character devices 1,3 (null), or plain files where mknod is not allowed.
  for i in 0 1; do
    mknod "$dir/dev/nvidia$i" c 1 3 2>/dev/null || : >"$dir/dev/nvidia$i"
  done

  # The ports stay reserved under the lock until the daemons listen on them.
  local lock=/tmp/gapbench-slurm-ports.lock ports
  exec {_slurm_lock_fd}>"$lock"
  flock -w 60 "$_slurm_lock_fd" || { _slurm_log "could not take $lock"; }
  read -r -a ports <<<"$(_slurm_free_ports)"
  _slurm_write_conf "$dir" "${ports[0]}" "${ports[1]}"
  export SLURM_CONF=$dir/etc/slurm.conf

  setpriv --reuid munge --regid munge --init-groups /usr/sbin/munged -F \
    --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" >"$dir/log/munged.out" 2>&1 &
  _slurm_munged_pid=$!
  for ((i = 0; i < 50; ++i)); do
    [[ -S $dir/munge/munge.socket ]] && break
    kill -0 "$_slurm_munged_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ! -S $dir/munge/munge.socket ]]; then
    _slurm_log "munged did not start: $(tr '\n' ' ' <"$dir/log/munged.out" 2>/dev/null)"
    _slurm_fail_start
    return 1
  fi

  slurmctld -D >"$dir/log/slurmctld.out" 2>&1 &
  _slurm_ctld_pid=$!
  slurmd -D -N localhost >"$dir/log/slurmd.out" 2>&1 &
  _slurm_d_pid=$!

  local state=""
  for ((i = 0; i < SLURM_START_TIMEOUT * 5; ++i)); do
    state=$(slurm_node_state)
    [[ $state == idle ]] && break
    # A configuration the node refuses (e.g. more CPUs than it has) does not heal by waiting.
    [[ $state == inval || $state == drain* ]] && break
    if ! kill -0 "$_slurm_ctld_pid" 2>/dev/null || ! kill -0 "$_slurm_d_pid" 2>/dev/null; then
      break
    fi
    sleep 0.2
  done
  flock -u "$_slurm_lock_fd"
  exec {_slurm_lock_fd}>&-
  if [[ $state != idle ]]; then
    _slurm_log "node not idle after ${SLURM_START_TIMEOUT}s (state: ${state:-none}):" \
      "$(scontrol show node localhost 2>/dev/null | grep -o 'Reason=.*')"
    slurm_dump_logs
    _slurm_fail_start
    return 1
  fi
  _slurm_log "cluster up in $dir (ports ${ports[*]}, $(sinfo -h -N -o '%c CPUs, %G'))"
}

_slurm_fail_start() {
  _slurm_stop_pid "$_slurm_d_pid" 10 slurmd
  _slurm_stop_pid "$_slurm_ctld_pid" 10 slurmctld
  _slurm_stop_pid "$_slurm_munged_pid" 10 munged
  _slurm_d_pid="" _slurm_ctld_pid="" _slurm_munged_pid="" _slurm_dir=""
  if [[ -n ${_slurm_lock_fd:-} ]]; then
    exec {_slurm_lock_fd}>&- 2>/dev/null
    unset _slurm_lock_fd
  fi
}

# Waits up to $1 seconds (default SLURM_STOP_TIMEOUT) until squeue lists no job. Returns 1 on
# timeout.
slurm_wait_idle() {
  local timeout=${1:-$SLURM_STOP_TIMEOUT} i
  for ((i = 0; i < timeout * 5; ++i)); do
    [[ -z $(squeue -h -o %i 2>/dev/null) ]] && return 0
    sleep 0.2
  done
  return 1
}

# Stops the cluster: waits for the queue to empty (then cancels what is left), stops slurmd,
# slurmctld and munged by PID, each with a timeout. Safe to call twice and from a trap.
slurm_stop() {
  [[ -n $_slurm_dir ]] || return 0
  if [[ -n $_slurm_ctld_pid ]] && kill -0 "$_slurm_ctld_pid" 2>/dev/null; then
    if ! slurm_wait_idle "$SLURM_STOP_TIMEOUT"; then
      _slurm_log "jobs still queued after ${SLURM_STOP_TIMEOUT}s; cancelling them"
      local ids=()
      mapfile -t ids < <(squeue -h -o %i 2>/dev/null)
      ((${#ids[@]})) && scancel --quiet "${ids[@]}" 2>/dev/null
      slurm_wait_idle 15 || _slurm_log "jobs still listed after scancel"
    fi
  fi
  _slurm_stop_pid "$_slurm_d_pid" 15 slurmd
  _slurm_stop_pid "$_slurm_ctld_pid" 15 slurmctld
  _slurm_stop_pid "$_slurm_munged_pid" 10 munged
  _slurm_d_pid="" _slurm_ctld_pid="" _slurm_munged_pid="" _slurm_dir=""
  unset SLURM_CONF
}
