#!/usr/bin/env bash
# run_fuzzer.sh FUZZER CORPUS_DIR RUNS: one repeatable libFuzzer run (seed 1, RUNS executions)
# from a copy of the committed corpus (libFuzzer writes new inputs into its corpus directory; the
# source tree stays as committed). On a crash, the input is printed in hex in the log, since CI
# keeps no files: turn it back into a file with
#   xxd -r -p <<< "HEX" > crash   (or: echo HEX | tr -d ' \n' | xxd -r -p > crash)
# and replay it with FUZZER crash, or add it to the corpus as a regression.
set -uo pipefail
if (($# != 3)); then
  echo "usage: $0 FUZZER CORPUS_DIR RUNS" >&2
  exit 2
fi
fuzzer=$1 corpus=$2 runs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
cp -r "$corpus"/. "$work/corpus/"
"$fuzzer" -seed=1 -runs="$runs" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus"
status=$?
if ((status != 0)); then
  for f in "$work"/artifacts/*; do
    [[ -e $f ]] || continue
    echo "run_fuzzer: $(basename "$f"): $(stat -c %s "$f") bytes that $(basename "$fuzzer") failed on, in hex:"
    od -An -tx1 -v "$f"
  done
fi
exit "$status"
