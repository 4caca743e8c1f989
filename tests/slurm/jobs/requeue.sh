#!/bin/bash
# Array task of test_cluster_smoke.sh: on its first run waits to be cancelled or requeued; run
# again after a requeue (SLURM_RESTART_COUNT=1), it ends at once.
echo "started restart=${SLURM_RESTART_COUNT:-0}"
if [[ ${SLURM_RESTART_COUNT:-0} == 0 ]]; then
  sleep 60
fi
echo "done"
