"""Prepare an extracted mmcv source tree for a unity build of its CPU ops.

``python tools/build/mmcv_unity.py MMCV_SOURCE_DIR``

Why: mmcv's setup.py compiles each of its 77 operator sources (57 front ends
with the pybind module in ``mmcv/ops/csrc/pytorch/*.cpp``, 20 CPU kernels in
``pytorch/cpu/*.cpp``) as its own translation unit, and each one parses
torch's headers again: about 12 s of CPU per file at -O0, of which the
file's own code is a small part. This script renames those files to
``*.cpp.inc`` and writes a few ``trttt_unity*.cpp`` files that include them,
so setup.py's glob finds 4 translation units instead of 77 (measured: the 57
front ends compile together in about 43 s of CPU instead of about 700 s).

The kernels are split where mmcv's files do not compile together: the
ROI-align family (``roi_align``, ``roi_align_rotated``,
``rotated_feature_align``, ``bezier_align``) defines the same helper
templates (``PreCalc``, ``bilinear_interpolate_gradient``, ``add``) in
several files, so those go to separate units; ``psamask.cpp`` defines
``min``/``max`` macros and comes last in its unit. The compiled code is the
same sources with the same flags; only the grouping into object files
changes.

Only for a CPU build of mmcv 2.1.0 (no CUDA, no other device backend):
setup.py's CUDA and vendor branches compile other file sets, and
tools/build/install_env.sh leaves the tree unchanged there.
"""
import glob
import os
import os.path as osp
import sys
from typing import Dict, List

#: Kernels that clash with a file of the main kernel unit: each inner list
#: is one further unit.
CLASHING_KERNELS = [['roi_align_rotated.cpp', 'rotated_feature_align.cpp'],
                    ['bezier_align.cpp']]
#: Kernels that must come last in their unit (they define macros).
LAST_KERNELS = ['psamask.cpp']


def plan(front_ends: List[str], kernels: List[str]) -> Dict[str, List[str]]:
    """``{unit file: [included sources]}``, paths relative to ``pytorch/``."""
    clashing = [k for group in CLASHING_KERNELS for k in group]
    missing = [k for k in clashing + LAST_KERNELS if k not in kernels]
    if missing:
        raise SystemExit(f'mmcv_unity: kernels {missing} not found in '
                         'pytorch/cpu/; this script knows mmcv 2.1.0\'s '
                         'sources (set TRTTT_MMCV_UNITY=0 to build without '
                         'it)')
    main = [k for k in kernels if k not in clashing and k not in LAST_KERNELS]
    units = {'trttt_unity.cpp': list(front_ends),
             'cpu/trttt_unity_cpu.cpp':
                 ['cpu/' + k for k in main + LAST_KERNELS]}
    for i, group in enumerate(CLASHING_KERNELS, 1):
        units[f'cpu/trttt_unity_cpu{i}.cpp'] = ['cpu/' + k for k in group]
    return units


def prepare(root: str) -> Dict[str, List[str]]:
    """Rewrite ``root``'s ``mmcv/ops/csrc/pytorch``; returns the units."""
    src = osp.join(root, 'mmcv', 'ops', 'csrc', 'pytorch')
    if not osp.isdir(osp.join(src, 'cpu')):
        raise SystemExit(f'mmcv_unity: {src}/cpu not found; expected an '
                         'extracted mmcv source distribution')
    if glob.glob(osp.join(src, '**', 'trttt_unity*.cpp'), recursive=True):
        raise SystemExit(f'mmcv_unity: {src} is already prepared')
    front = sorted(osp.basename(p) for p in glob.glob(osp.join(src, '*.cpp')))
    kernels = sorted(
        osp.basename(p) for p in glob.glob(osp.join(src, 'cpu', '*.cpp')))
    if not front:
        raise SystemExit(f'mmcv_unity: no *.cpp files in {src}')
    units = plan(front, kernels)
    for unit, members in units.items():
        unit_dir = osp.dirname(osp.join(src, unit))
        lines = ['// Written by trttt_mm tools/build/mmcv_unity.py: one '
                 'translation unit', '// for several mmcv sources.']
        for m in members:
            os.rename(osp.join(src, m), osp.join(src, m + '.inc'))
            rel = osp.relpath(osp.join(src, m + '.inc'), unit_dir)
            lines.append(f'#include "{rel}"')
        with open(osp.join(src, unit), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return units


if __name__ == '__main__':
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    units = prepare(sys.argv[1])
    n = sum(len(m) for m in units.values())
    print(f'[mmcv_unity] {n} operator sources in {len(units)} translation '
          'units')
