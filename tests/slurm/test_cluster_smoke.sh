#!/usr/bin/env bash
# Smoke test of the real single-node Slurm cluster (cluster.sh) that the sharded-sweep tests run
# on: an array of two tasks with --gres=gpu:1 runs both at once, each seeing its array variables
# and its own CUDA_VISIBLE_DEVICES; one task of a running array is cancelled and the other
# requeued (it runs again, appending to its log, with SLURM_RESTART_COUNT=1); a TERM sent to the
# batch shell alone (what --signal=B:TERM@120 does) reaches a background child through the
# script's trap. Exit 77 (ctest: skipped) with the reason when not root or the packages cannot be
# installed; GAPBENCH_SLURM_REQUIRED=1 makes that a failure (CI).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/slurm/test_lib.sh
source "$here/test_lib.sh"

slurm_test_start smoke
jobs=$here/jobs

# 1. Two array tasks (ids 4 and 5: MIN is not 0) with one fake GPU each, meeting at a barrier.
mkdir -p "$work/env"
job=$(sbatch --parsable --array=4-5 --gres=gpu:1 --cpus-per-task=1 --time=2 \
  -o "$work/env/%A_%a.out" "$jobs/array_env.sh" "$work/env") || fail "sbatch of the array"
slurm_wait_idle 40 || fail "array $job did not finish"
for t in 4 5; do
  state=$(task_state "${job}_$t")
  [[ $state == COMPLETED ]] ||
    fail "task ${job}_$t ended $state (exit $(task_field "${job}_$t" ExitCode)): $(cat "$work/env/${job}_$t.out")"
  line=$(cat "$work/env/task-$t.env") || fail "task $t wrote nothing"
  echo "task $t: $line"
  for want in "id=$t" "count=2" "min=4" "max=5" "step=1" "barrier=met"; do
    [[ " $line " == *" $want "* ]] || fail "task $t: expected $want in: $line"
  done
done
cuda4=$(grep -o 'cuda=[^ ]*' "$work/env/task-4.env")
cuda5=$(grep -o 'cuda=[^ ]*' "$work/env/task-5.env")
[[ $cuda4 != cuda=unset && $cuda5 != cuda=unset ]] || fail "CUDA_VISIBLE_DEVICES unset ($cuda4, $cuda5)"
[[ $cuda4 != "$cuda5" ]] || fail "concurrent tasks saw the same $cuda4"

# 2. Cancel one running task, requeue the other: it runs again, appending to its log.
mkdir -p "$work/rq"
job=$(sbatch --parsable --array=0-1 --requeue --open-mode=append --cpus-per-task=1 --time=2 \
  -o "$work/rq/%a.out" "$jobs/requeue.sh") || fail "sbatch of the requeue array"
running() { [[ $(task_state "${job}_0") == RUNNING && $(task_state "${job}_1") == RUNNING ]] &&
  grep -q started "$work/rq/0.out" 2>/dev/null && grep -q started "$work/rq/1.out" 2>/dev/null; }
wait_for 20 running || fail "array $job did not start both tasks"
scancel "${job}_1" || fail "scancel ${job}_1"
cancelled() { [[ $(task_state "${job}_1") == CANCELLED ]]; }
wait_for 10 cancelled ||
  fail "task 1 is $(task_state "${job}_1") after scancel"
[[ $(task_state "${job}_0") == RUNNING ]] || fail "scancel of task 1 touched task 0: $(task_state "${job}_0")"
scontrol requeue "${job}_0" || fail "scontrol requeue ${job}_0"
slurm_wait_idle 40 || fail "the requeued task did not finish"
[[ $(task_state "${job}_0") == COMPLETED ]] || fail "requeued task ended $(task_state "${job}_0")"
[[ $(grep -c started "$work/rq/0.out") == 2 ]] || fail "task 0 log: $(cat "$work/rq/0.out")"
grep -q "started restart=1" "$work/rq/0.out" || fail "no SLURM_RESTART_COUNT=1: $(cat "$work/rq/0.out")"
[[ $(grep -c started "$work/rq/1.out") == 1 ]] || fail "task 1 log: $(cat "$work/rq/1.out")"
echo "requeue: $(tr '\n' ' ' <"$work/rq/0.out")"

# 3. TERM to the batch shell alone (scancel -b, as --signal=B:TERM@T sends it) reaches the
#    background child through the trap; the double wait collects the child's status.
mkdir -p "$work/sig"
job=$(sbatch --parsable --cpus-per-task=1 --time=2 -o "$work/sig/out" "$jobs/forward_term.sh") ||
  fail "sbatch of the signal job"
wait_for 20 grep -q child "$work/sig/out" || fail "signal job did not start"
scancel --batch --signal=TERM "$job" || fail "scancel --batch --signal=TERM"
slurm_wait_idle 20 || fail "the signal job did not end"
for want in "batch shell got TERM" "first wait returned 143" "child exited 143"; do
  grep -q "$want" "$work/sig/out" || fail "TERM not forwarded ('$want'): $(cat "$work/sig/out")"
done
echo "signal: $(tr '\n' ' ' <"$work/sig/out")"

slurm_stop
echo "PASS in $((SECONDS - start)) s"
