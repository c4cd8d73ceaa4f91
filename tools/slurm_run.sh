#!/usr/bin/env bash
# Runs a tool of this folder on a Slurm cluster: srun starts one task per GPU, on as many nodes as
# GPUS / GPUS_PER_NODE, joined by mmengine's 'slurm' launcher (nccl). Called by tools/slurm_train.sh
# and tools/slurm_test.sh.
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="--time=1-0 ..."] \
#       tools/slurm_run.sh TOOL PARTITION JOB_NAME [tool arguments...]
set -euo pipefail
TOOL=$1
PARTITION=$2
JOB_NAME=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
read -r -a EXTRA <<< "${SRUN_ARGS:-}"
exec srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 \
    "${EXTRA[@]}" python -u "$(cd "$(dirname "$0")" && pwd)/$TOOL" --launcher slurm "$@"
