#!/usr/bin/env bash
# Evaluate a checkpoint with several GPUs (or CPU processes) of one or more
# machines with torchrun; every process runs tools/test.py --launcher
# pytorch on its share of the test set, and rank 0 computes the metrics.
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT NPROC [tools/test.py options]
#
# NPROC is the number of processes on this machine (one per GPU). Several
# machines: NNODES, NODE_RANK, MASTER_ADDR and PORT as for
# tools/dist_train.sh. PYTHON picks the interpreter (default: python).
set -euo pipefail

if [ "$#" -lt 3 ]; then
    echo "usage: bash $0 CONFIG CHECKPOINT NPROC [tools/test.py options]" >&2
    exit 2
fi

CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
TOOLS_DIR=$(cd "$(dirname "$0")" && pwd)

PYTHONPATH="$(dirname "$TOOLS_DIR")${PYTHONPATH:+:$PYTHONPATH}" \
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$TOOLS_DIR/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "$@"
