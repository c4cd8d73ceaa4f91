#!/usr/bin/env bash
# Multi-process training over torchrun: gloo on CPU, nccl on GPU (tools/train.py chooses).
#   tools/dist_train.sh CONFIG NUM_PROCS_PER_NODE [train.py args...]
# Several nodes: the same command on each, with NNODES, NODE_RANK, MASTER_ADDR (and PORT) set.
set -euo pipefail
CONFIG=$1
NPROC=$2
shift 2
exec python -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "$@"
