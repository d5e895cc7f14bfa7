#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT [NPROC] [test.py options]
# NPROC: number of processes (one per GPU); default: the GPUs nvidia-smi
# lists, or 1 without a GPU. Works on CPU too (gloo is chosen when CUDA is
# absent). PORT (default 29500) sets the rendezvous port.
set -e
usage() {
    echo "usage: tools/dist_test.sh CONFIG CHECKPOINT [NPROC] [test.py options]" >&2
    echo "$1" >&2
    exit 2
}
[ $# -ge 2 ] && [ -n "$1" ] && [ -n "$2" ] || usage "error: CONFIG and CHECKPOINT are required"
CONFIG=$1
CHECKPOINT=$2
shift 2
source "$(dirname "$0")/dist_nproc.sh"
nproc_from_args "$@" || exit 2
shift "$NPROC_ARGS"
PORT=${PORT:-29500}
cd "$(dirname "$0")/.."
PYTHONPATH="$(pwd):$PYTHONPATH" torchrun --nproc_per_node="$NPROC" --master_port="$PORT" \
    tools/test.py "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
