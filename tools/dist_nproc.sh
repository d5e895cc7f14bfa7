# Sourced by tools/dist_train.sh and tools/dist_test.sh: the process count.
#
# nproc_from_args ARGS...: when the first argument is a count, NPROC is it
# and NPROC_ARGS=1 (shift it away); when it is absent or an option (-...),
# NPROC is the number of GPUs nvidia-smi lists (1 without one) and
# NPROC_ARGS=0. Anything else is an error (return 2) naming the value.
nproc_from_args() {
    NPROC_ARGS=0
    if [ $# -ge 1 ] && [ "${1#-}" = "$1" ]; then
        if ! [[ "$1" =~ ^[0-9]+$ ]] || [ "$1" -lt 1 ]; then
            echo "error: the process count must be a positive integer (one process per GPU, or CPU processes without one), got '$1'" >&2
            return 2
        fi
        NPROC=$1
        NPROC_ARGS=1
        return 0
    fi
    NPROC=0
    if command -v nvidia-smi >/dev/null 2>&1; then
        NPROC=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
    fi
    if [ "$NPROC" -lt 1 ]; then
        NPROC=1
        echo "no process count given and no GPU found: starting 1 process (give the count after the arguments, e.g. 2)" >&2
    else
        echo "no process count given: starting $NPROC processes, one per GPU nvidia-smi lists" >&2
    fi
}
