#!/usr/bin/env bash
# Creates .venv/ in the repository following docs/DESIGN's measured recipe.
# Idempotent: when .venv is complete (stamp matches) it returns in seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
TORCH_VER="2.14.1"
TV_VER="0.29.1"
MMCV_VER="2.1.0"
STAMP="$VENV/.trttt_mm_env"
WANT="torch=$TORCH_VER tv=$TV_VER mmcv=$MMCV_VER deps=$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" | sha1sum | cut -c1-12)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && "$VENV/bin/python" -c "import mmcv.ops, mmseg, trttt_mm" 2>/dev/null; then
  echo "[install] .venv is complete ($WANT)"
  exit 0
fi

t0=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
VPIP=("$VENV/bin/python" -m pip)
"${VPIP[@]}" install -q --upgrade pip 'setuptools>=77,<82' wheel ninja
"${VPIP[@]}" install -q "torch==$TORCH_VER" "torchvision==$TV_VER"

if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VER'" 2>/dev/null; then
  # mmcv's compiled ops must match the torch build: cache the wheel keyed by torch version.
  CACHE="${TRTTT_WHEEL_CACHE:-$HOME/.cache/trttt_mm/wheels}/torch-$TORCH_VER-$(uname -m)-O${TRTTT_MMCV_OPT:-0}"
  mkdir -p "$CACHE"
  WHEEL=$(ls "$CACHE"/mmcv-$MMCV_VER-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$WHEEL" ]; then
    echo "[install] building mmcv $MMCV_VER with ops at -O${TRTTT_MMCV_OPT:-0} (TRTTT_MMCV_OPT; a few minutes on 2 cores)"
    # The source distribution, unpacked; on a CPU-only build its operator
    # sources are folded into a few translation units (tools/build/mmcv_unity.py).
    SRC="$(mktemp -d)"
    trap 'rm -rf "$SRC"' EXIT
    "${VPIP[@]}" download -q --no-deps --no-build-isolation --no-binary mmcv -d "$SRC" "mmcv==$MMCV_VER"
    tar -xzf "$SRC"/mmcv-$MMCV_VER.tar.gz -C "$SRC"
    if [ "${FORCE_CUDA:-0}" != "1" ] && [ "${TRTTT_MMCV_UNITY:-1}" = "1" ] && \
       "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.cuda.is_available())"; then
      "$VENV/bin/python" "$ROOT/tools/build/mmcv_unity.py" "$SRC/mmcv-$MMCV_VER"
    fi
    CXX="$ROOT/tools/build/cxx20" MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" \
      "${VPIP[@]}" wheel --no-build-isolation --no-cache-dir --no-deps -w "$CACHE" "$SRC/mmcv-$MMCV_VER"
    WHEEL=$(ls "$CACHE"/mmcv-$MMCV_VER-*.whl | head -n1)
  fi
  "${VPIP[@]}" install -q --no-deps "$WHEEL"
  "${VPIP[@]}" install -q addict 'packaging' Pillow pyyaml yapf 'opencv-python-headless'
fi

"${VPIP[@]}" install -q -e "$ROOT[tests]"
"$VENV/bin/python" -c "import mmcv.ops, mmseg, trttt_mm; from mmcv.ops import nms"
echo "$WANT" > "$STAMP"
echo "[install] done in $(( $(date +%s) - t0 ))s"
