#!/usr/bin/env bash
# Training on a Slurm cluster, one task per GPU (tools/slurm_run.sh; GPUS, GPUS_PER_NODE, CPUS_PER_TASK
# and SRUN_ARGS from the environment):
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py arguments...]
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py arguments...]" >&2; exit 2; }
exec "$(dirname "$0")/slurm_run.sh" train.py "$1" "$2" "$3" --work-dir "$4" "${@:5}"
