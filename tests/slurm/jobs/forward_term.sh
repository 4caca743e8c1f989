#!/bin/bash
# The signal recipe of scripts/slurm/sweep.sbatch: the work runs in the background, the batch
# shell traps TERM and forwards it, and waits twice (the first wait returns when the trap runs).
sleep 60 &
child=$!
trap 'echo "batch shell got TERM"; kill -TERM "$child"' TERM
echo "child $child"
wait "$child"
echo "first wait returned $?"
wait "$child"
echo "child exited $?"
