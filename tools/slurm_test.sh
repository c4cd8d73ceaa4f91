#!/usr/bin/env bash
# Testing on a Slurm cluster, one task per GPU (tools/slurm_run.sh; GPUS, GPUS_PER_NODE, CPUS_PER_TASK
# and SRUN_ARGS from the environment):
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py arguments...]
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py arguments...]" >&2; exit 2; }
exec "$(dirname "$0")/slurm_run.sh" test.py "$1" "$2" "$3" "$4" "${@:5}"
