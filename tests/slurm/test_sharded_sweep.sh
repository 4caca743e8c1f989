#!/usr/bin/env bash
# Sharded sweeps on a real single-node Slurm (cluster.sh), through the user's own scripts:
#   1. scripts/slurm/submit.sh submits a 4-task array of scripts/slurm/sweep.sbatch (one fake GPU
#      per task) and the merge job after it (afterany); the merged rows equal an unsharded sweep's
#      key by key, every value column equal as text (bitwise: one thread per task), and shards
#      that ran at the same time recorded different CUDA_VISIBLE_DEVICES;
#   2. the same for propagate (3 shards);
#   3. one task of a 2-task array is cancelled mid-run (scancel JOB_1): the merge job reports the
#      shard missing (exit 1) with the command that reruns it; rerun as said (a resume), the merge
#      equals the unsharded sweep, nothing lost or duplicated.
# Usage: test_sharded_sweep.sh GAPBENCH. Exit 77 (skipped) as test_cluster_smoke.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=tests/slurm/test_lib.sh
source "$here/test_lib.sh"
export GAPBENCH=${1:?usage: test_sharded_sweep.sh GAPBENCH}
check=$here/check_shards.py

slurm_test_start shards
cd "$work" || fail "cd $work"
# The test node has 2 CPUs and 2 fake GPUs: one CPU per task, so two tasks run at once.
sbatch_args="--cpus-per-task=1 --time=5"
sweep=(--model markov --T "256,1536" --seeds 4 --solver exact --k 4 --backend cpu)
propagate=(--T "16,32" --gamma 1 --L 2 --variant "plain,skip" --seeds 3 --backend cpu)

# The unsharded references, on one thread as the tasks run.
"$GAPBENCH" sweep "${sweep[@]}" --threads 1 --out ref-sweep >ref-sweep.log 2>&1 ||
  fail "the unsharded sweep failed: $(cat ref-sweep.log)"
"$GAPBENCH" propagate "${propagate[@]}" --threads 1 --out ref-propagate >ref-propagate.log 2>&1 ||
  fail "the unsharded propagate failed: $(cat ref-propagate.log)"

# Submits through submit.sh; prints the merge job's id.
submit() {
  local log=$1
  shift
  "$repo/scripts/slurm/submit.sh" --sbatch "$sbatch_args" "$@" >"$log" 2>&1 ||
    fail "submit.sh $*: $(cat "$log")"
  cat "$log" >&2
  sed -n 's/^merge job \([0-9]*\):.*/\1/p' "$log"
}
merge_state() { task_state "$1"; }

# 1. A 4-shard sweep, merged and plotted by the merge job.
t0=$SECONDS
merge=$(submit submit-sweep.log --shards 4 sharded-sweep -- "${sweep[@]}")
slurm_wait_idle 120 || fail "the sweep array and its merge did not finish"
[[ $(merge_state "$merge") == COMPLETED ]] ||
  fail "merge job ended $(merge_state "$merge"): $(cat sharded-sweep/logs/merge-*.out)"
[[ -f sharded-sweep/merged/gap_vs_T.png ]] || fail "no figure: $(cat sharded-sweep/logs/merge-*.out)"
echo "sweep: sbatch to merged figure in $((SECONDS - t0)) s"
/usr/bin/python3 "$check" same ref-sweep sharded-sweep/merged || fail "merged sweep differs"
/usr/bin/python3 "$check" devices sharded-sweep || fail "device check"
for i in 0 1 2 3; do
  grep -q "^shard $i of 4 (Slurm array task" sharded-sweep/logs/*_"$i".out ||
    fail "task $i's log does not say its shard first: $(cat sharded-sweep/logs/*_"$i".out)"
done

# 2. A 3-shard propagate.
merge=$(submit submit-propagate.log --command propagate --shards 3 sharded-propagate -- "${propagate[@]}")
slurm_wait_idle 120 || fail "the propagate array and its merge did not finish"
[[ $(merge_state "$merge") == COMPLETED ]] ||
  fail "propagate merge ended $(merge_state "$merge"): $(cat sharded-propagate/logs/merge-*.out)"
/usr/bin/python3 "$check" same ref-propagate sharded-propagate/merged || fail "merged propagate differs"

# 3. Task 1 of 2 cancelled mid-run: every task stops after its first row (the test hook); task 1
#    is cancelled there, task 0 let go.
merge=$(GAPBENCH_TEST_PAUSE_AT=row-written:1 submit submit-kill.log --shards 2 --no-plot killed -- "${sweep[@]}")
array=$(sed -n 's/^array job \([0-9]*\):.*/\1/p' submit-kill.log)
paused() { grep -q "paused at row-written" killed/logs/"${array}"_0.out 2>/dev/null &&
  grep -q "paused at row-written" killed/logs/"${array}"_1.out 2>/dev/null; }
wait_for 60 paused || fail "the tasks did not pause: $(cat killed/logs/*.out)"
scancel "${array}_1" || fail "scancel ${array}_1"
cancelled() { [[ $(task_state "${array}_1") == CANCELLED ]]; }
wait_for 20 cancelled ||
  fail "task 1 is $(task_state "${array}_1") after scancel"
# Task 1's processes are gone; let task 0's gapbench go on.
pkill -CONT -x gapbench || fail "no gapbench process to continue"
slurm_wait_idle 120 || fail "the killed array and its merge did not finish"
[[ $(task_state "${array}_0") == COMPLETED ]] || fail "task 0 ended $(task_state "${array}_0")"
merge_log=$(cat killed/logs/merge-"$merge".out)
[[ $(task_field "$merge" ExitCode) == 1:0 ]] || fail "the merge should exit 1: $merge_log"
grep -q "shard-0001-of-0002" <<<"$merge_log" || fail "the merge does not name shard 1: $merge_log"
rerun=$(grep -o "gapbench sweep .*--resume [^ ]*shard-0001-of-0002[^ ]*.*" <<<"$merge_log" | head -1)
[[ -n $rerun ]] || fail "the merge gives no command that reruns shard 1: $merge_log"
echo "rerun as the merge says: $rerun"
# The cancelled task kept the rows it wrote (it paused after its first): the rerun continues them.
kept=$(($(wc -l <killed/shard-0001-of-0002/rows.csv) - 1))
((kept >= 1 && kept < 4)) || fail "the cancelled shard kept $kept of its 4 rows, not 1 to 3"
rm -rf killed/merged
eval "\"\$GAPBENCH\" ${rerun#gapbench } --threads 1" >rerun.log 2>&1 ||
  fail "the rerun failed: $(cat rerun.log)"
"$GAPBENCH" merge killed --out killed/merged >merge-again.log 2>&1 ||
  fail "the merge after the rerun failed: $(cat merge-again.log)"
/usr/bin/python3 "$check" same ref-sweep killed/merged || fail "merge after the rerun differs"
resumes=$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["resumes"]))' \
  killed/shard-0001-of-0002/meta.json)
[[ $resumes == 1 ]] || fail "the rerun shard records $resumes resumes, not 1"

slurm_stop
echo "PASS in $((SECONDS - start)) s"
