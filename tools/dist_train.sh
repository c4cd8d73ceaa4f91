#!/usr/bin/env bash
# Multi-process training over torchrun (tools/dist_run.sh): gloo on CPU, nccl on GPU.
#   tools/dist_train.sh CONFIG NUM_PROCS_PER_NODE [tools/train.py arguments...]
# Several nodes: the same command on each, with NNODES, NODE_RANK, MASTER_ADDR (and PORT) set.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 CONFIG NUM_PROCS_PER_NODE [tools/train.py arguments...]" >&2; exit 2; }
exec "$(dirname "$0")/dist_run.sh" train.py "$2" "$1" "${@:3}"
