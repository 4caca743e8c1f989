#!/usr/bin/env bash
# Submits a sharded gapbench sweep to Slurm: a job array of scripts/slurm/sweep.sbatch (one shard
# and one GPU per task) and a merge job that runs after every task has ended (afterany: with
# afterok one failed task would leave the merge pending forever), which merges the shards into
# OUT/merged and plots it. docs/cluster.md has the workflow.
#
#   scripts/slurm/submit.sh [options] OUT -- FLAGS...
#     --shards N         array tasks, one shard each (default 4)
#     --max-running M    at most M tasks at once (%M; default: no limit)
#     --command C        sweep (default) or propagate
#     --sbatch "ARGS"    more sbatch arguments for the array (e.g. "--partition=gpu --time=8:00:00")
#     --no-plot          merge only
#   FLAGS: the command's flags (the plan), e.g. --model attention --T 65536:1048576:x2 --seeds 8
#
# Prints the array and merge job ids. GAPBENCH names the binary (default: build/bin/gapbench of
# this checkout when built, else gapbench on PATH).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
fail() {
  echo "submit.sh: $*" >&2
  exit 2
}

shards=4 max_running="" command=sweep extra="" plot=1
while (($#)); do
  case $1 in
  --shards) shards=${2:?--shards needs a number}; shift 2 ;;
  --max-running) max_running=${2:?--max-running needs a number}; shift 2 ;;
  --command) command=${2:?--command needs sweep or propagate}; shift 2 ;;
  --sbatch) extra=${2?--sbatch needs arguments}; shift 2 ;;
  --no-plot) plot=0; shift ;;
  -h | --help) usage ;;
  --) fail "give OUT before --" ;;
  -*) fail "unknown option $1 (see --help)" ;;
  *) break ;;
  esac
done
if (($# < 2)) || [[ $2 != -- ]]; then
  fail "usage: submit.sh [options] OUT -- FLAGS... (see --help)"
fi
out=$1
shift 2
[[ $shards =~ ^[1-9][0-9]*$ ]] || fail "--shards: '$shards' is not a positive integer"
[[ -z $max_running || $max_running =~ ^[1-9][0-9]*$ ]] ||
  fail "--max-running: '$max_running' is not a positive integer"
[[ $command == sweep || $command == propagate ]] || fail "--command: '$command' is not sweep or propagate"
command -v sbatch >/dev/null || fail "sbatch not found: run this on a Slurm login node"

if [[ -z ${GAPBENCH:-} ]]; then
  if [[ -x $repo/build/bin/gapbench ]]; then GAPBENCH=$repo/build/bin/gapbench; else GAPBENCH=gapbench; fi
fi
export GAPBENCH
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)

array="0-$((shards - 1))${max_running:+%$max_running}"
# shellcheck disable=SC2086 # --sbatch's arguments are split on purpose
array_job=$(sbatch --parsable --export=ALL --array="$array" --output="$out/logs/%A_%a.out" \
  $extra "$here/sweep.sbatch" "$command" "$out" "$@")
array_job=${array_job%%;*}

merge="$(printf '%q' "$GAPBENCH") merge $(printf '%q' "$out") --out $(printf '%q' "$out/merged")"
if ((plot)) && [[ $command == sweep ]]; then
  merge+=" && /usr/bin/python3 $(printf '%q' "$repo/scripts/plot.py") $(printf '%q' "$out/merged")"
fi
merge_job=$(sbatch --parsable --export=ALL --job-name=gapbench-merge --ntasks=1 \
  --cpus-per-task=1 --dependency="afterany:$array_job" --output="$out/logs/merge-%j.out" \
  --wrap "$merge")
merge_job=${merge_job%%;*}

echo "array job $array_job: $shards shards of gapbench $command into $out (logs in $out/logs)"
echo "merge job $merge_job: after every task, into $out/merged"
echo "watch: squeue --me; tail $out/logs/${array_job}_*.out"
