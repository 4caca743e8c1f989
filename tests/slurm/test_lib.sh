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

