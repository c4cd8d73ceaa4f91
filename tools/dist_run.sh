#!/usr/bin/env bash
# Runs a tool of this folder in NUM_PROCS_PER_NODE processes over torchrun, joined by mmengine's
# 'pytorch' launcher: gloo on CPU, nccl on GPU (hgnet_backbones.apis.runner chooses). Called by
# tools/dist_train.sh and tools/dist_test.sh. Several nodes: the same command on each, with NNODES,
# NODE_RANK, MASTER_ADDR (and PORT) set.
#   tools/dist_run.sh TOOL NUM_PROCS_PER_NODE [tool arguments...]
set -euo pipefail
TOOL=$1
NPROC=$2
shift 2
exec python -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$(dirname "$0")/$TOOL" --launcher pytorch "$@"
