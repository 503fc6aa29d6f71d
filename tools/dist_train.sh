#!/usr/bin/env bash
# Train on several GPUs (or CPU processes) of one or more machines with
# torchrun; every process runs tools/train.py --launcher pytorch.
#
#   bash tools/dist_train.sh CONFIG NPROC [tools/train.py options]
#
# NPROC is the number of processes on this machine (one per GPU). Several
# machines: run the same command on each, with
#   NNODES       number of machines (default 1)
#   NODE_RANK    this machine's index, 0..NNODES-1 (default 0)
#   MASTER_ADDR  address of the NODE_RANK=0 machine (default 127.0.0.1)
#   PORT         a free TCP port on that machine (default 29500)
# PYTHON picks the interpreter (default: python). Without CUDA the processes
# talk over gloo (docs/distributed.md).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: bash $0 CONFIG NPROC [tools/train.py options]" >&2
    exit 2
fi

CONFIG=$1
NPROC=$2
shift 2
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
    "$TOOLS_DIR/train.py" \
    "$CONFIG" \
    --launcher pytorch "$@"
