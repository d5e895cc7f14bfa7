#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py options]
# Works on CPU too (gloo is chosen when CUDA is absent).
CONFIG=$1
GPUS=$2
PORT=${PORT:-29500}
cd "$(dirname "$0")/.."
PYTHONPATH="$(pwd):$PYTHONPATH" torchrun --nproc_per_node="$GPUS" --master_port="$PORT" \
    tools/train.py "$CONFIG" --launcher pytorch "${@:3}"
