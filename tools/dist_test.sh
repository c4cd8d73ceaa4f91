#!/usr/bin/env bash
# Multi-process testing over torchrun (tools/dist_run.sh): gloo on CPU, nccl on GPU. The test set is
# split across the processes; the metrics (and --out predictions) cover all of it.
#   tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS_PER_NODE [tools/test.py arguments...]
# Several nodes: the same command on each, with NNODES, NODE_RANK, MASTER_ADDR (and PORT) set.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 CONFIG CHECKPOINT NUM_PROCS_PER_NODE [tools/test.py arguments...]" >&2; exit 2; }
exec "$(dirname "$0")/dist_run.sh" test.py "$3" "$1" "$2" "${@:4}"
