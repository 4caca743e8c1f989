# shellcheck shell=bash
# What the Slurm tests share: the cluster (cluster.sh) and their skip, fail and wait helpers.
# Source it from a test script; `here` is the test's directory.
# shellcheck source=tests/slurm/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"

skip() {
  echo "SKIP: $*"
  if [[ ${GAPBENCH_SLURM_REQUIRED:-0} == 1 ]]; then
    echo "FAIL: GAPBENCH_SLURM_REQUIRED=1 forbids skipping"
    exit 1
  fi
  exit 77
}
fail() {
  echo "FAIL: $*"
  squeue 2>/dev/null
  slurm_dump_logs
  exit 1
}
# Waits up to $1 seconds for the command $2... to succeed.
wait_for() {
  local timeout=$1 i
  shift
  for ((i = 0; i < timeout * 10; ++i)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}
# The state of array task $1 (JOBID_TASK), e.g. RUNNING, COMPLETED, CANCELLED, PENDING.
task_state() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
task_field() { scontrol -o show job "$1" 2>/dev/null | grep -o " $2=[^ ]*" | cut -d= -f2; }


# The start every Slurm test makes: skips (77) without root or the packages, then starts a
# cluster in a new temporary directory `work` (named after $1), stopped and removed on exit,
# also after INT or TERM; `start` is the time it began.
slurm_test_start() {
  [[ $(id -u) -eq 0 ]] || skip "the Slurm tests run munged and slurmd, which needs root"
  slurm_install_packages || skip "the Slurm packages (${SLURM_PACKAGES[*]}) are missing and could not be installed"
  start=$SECONDS # read by the caller (PASS in N s)
  export start
  work=$(mktemp -d "/tmp/gapbench-slurm-$1.XXXXXX")
  chmod 755 "$work"
  trap 'slurm_stop; rm -rf "$work"' EXIT
  trap 'exit 130' INT TERM # so the EXIT trap stops the cluster
  slurm_start "$work/cluster" || fail "the cluster did not start"
}
