"""Generate the procedural synthetic multi-task benchmark.

Writes the source domain in the Taskonomy (omnidata) layout, the target
domain in the NYUD-v2 (ATRC) layout and, with ``--layouts ... pascal``, a
third domain in the PASCAL_MT layout::

    python tools/data/make_synthetic.py --out data/synth --seed 0

``--families`` picks the target domains written in the NYUD-v2 layout (shift
families, ``trttt_mm/datasets/synthetic/families.py``): ``appearance`` (the
default, ``NYUDv2/``), ``geometry``, ``content``, ``mixed`` (each in
``NYUDv2_<family>/``), or ``all``::

    python tools/data/make_synthetic.py --out data/synth_fam --families all

A second run with the same parameters is a no-op (cached); a directory that
holds anything else is only replaced with ``--force``.
"""
import argparse
import json
import os.path as osp
import sys

# run from a checkout without installing the package
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from trttt_mm.datasets.synthetic.benchmark import (  # noqa: E402
    DEFAULTS, LAYOUTS, generate_benchmark)
from trttt_mm.datasets.synthetic.families import FAMILY_NAMES  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default='data/synth', help='output directory')
    p.add_argument('--seed', type=int, default=DEFAULTS['seed'])
    p.add_argument('--num-train', type=int, default=DEFAULTS['num_train'],
                   help='source (Taskonomy) training images')
    p.add_argument('--num-val', type=int, default=DEFAULTS['num_val'],
                   help='source (Taskonomy) validation images')
    p.add_argument('--num-target-train', type=int,
                   default=DEFAULTS['num_target_train'],
                   help='target (NYUD-v2) training images')
    p.add_argument('--num-target-val', type=int,
                   default=DEFAULTS['num_target_val'],
                   help='target (NYUD-v2) validation images')
    p.add_argument('--num-pascal-train', type=int, default=None,
                   help='PASCAL_MT training images (default: as target)')
    p.add_argument('--num-pascal-val', type=int, default=None,
                   help='PASCAL_MT validation images (default: as target)')
    p.add_argument('--height', type=int, default=DEFAULTS['height'])
    p.add_argument('--width', type=int, default=DEFAULTS['width'])
    p.add_argument('--images-per-building', type=int,
                   default=DEFAULTS['images_per_building'],
                   help='Taskonomy images per synthetic building')
    p.add_argument('--layouts', nargs='+', default=['taskonomy', 'nyudv2'],
                   help=f'layouts to write, some of {LAYOUTS}')
    p.add_argument('--families', nargs='+', default=['appearance'],
                   help='target shift families written in the NYUD-v2 '
                   f'layout, some of {FAMILY_NAMES} or "all" (default: '
                   'appearance, the original target in NYUDv2/)')
    p.add_argument('--force', action='store_true',
                   help='replace an existing, different benchmark in --out')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        summary = generate_benchmark(
            args.out, seed=args.seed, num_train=args.num_train,
            num_val=args.num_val, num_target_train=args.num_target_train,
            num_target_val=args.num_target_val, height=args.height,
            width=args.width, layouts=args.layouts, force=args.force,
            num_pascal_train=args.num_pascal_train,
            num_pascal_val=args.num_pascal_val,
            images_per_building=args.images_per_building,
            progress=not args.quiet, families=args.families)
    except (FileExistsError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if summary['cached']:
        if args.quiet:
            print(f"cached: {summary['out_dir']} already holds this "
                  'benchmark (same parameters); nothing written')
    else:
        print(f"wrote {summary['num_images']} images to {summary['out_dir']} "
              f"in {summary['seconds']:.1f}s")
    for name, info in summary['layouts'].items():
        print(f"  {name:15s} {info['domain']:15s} {json.dumps(info['counts'])}"
              f"  {info['root']}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
