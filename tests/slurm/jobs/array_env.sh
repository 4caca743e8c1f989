#!/bin/bash
# Array task of test_cluster_smoke.sh: records what Slurm told it, then waits (up to 20 s) for its
# sibling at a barrier, which both pass only when they run at the same time.
out=$1
id=$SLURM_ARRAY_TASK_ID
env_line="id=$id count=${SLURM_ARRAY_TASK_COUNT-unset} min=${SLURM_ARRAY_TASK_MIN-unset}"
env_line+=" max=${SLURM_ARRAY_TASK_MAX-unset} step=${SLURM_ARRAY_TASK_STEP-unset}"
env_line+=" cuda=${CUDA_VISIBLE_DEVICES-unset}"
touch "$out/started-$id"
for ((i = 0; i < 200; ++i)); do
  n=$(find "$out" -name 'started-*' | wc -l)
  if ((n >= 2)); then
    echo "$env_line barrier=met" >"$out/task-$id.env"
    exit 0
  fi
  sleep 0.1
done
echo "$env_line barrier=timeout" >"$out/task-$id.env"
exit 3
