"""Example images of the synthetic benchmark's shift families.

    python tools/analysis/family_grid.py [--out-dir docs/figures]
        [--families all] [--samples 3] [--height 96 --width 128] [--seed 0]

Writes ``family_<name>.png`` per family: for each of ``--samples`` views of
the family's target (the ``val`` split, as the benchmark streams it), one row
with the RGB image and the four task maps (semantic classes, depth, normals,
occlusion edges), next to the source domain's view of the same index for
comparison (first row of each pair). Rendered directly with the generator
(``render_view``), so nothing is written but the PNGs.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import numpy as np  # noqa: E402

from trttt_mm.datasets.synthetic.benchmark import render_view  # noqa: E402
from trttt_mm.datasets.synthetic.families import (  # noqa: E402
    FAMILIES, normalise_families)
from trttt_mm.datasets.synthetic.sampling import CLASSES  # noqa: E402

#: One colour per generator class (tab20), for the semantic map.
_CLASS_COLOURS = None


def class_colours() -> np.ndarray:
    global _CLASS_COLOURS
    if _CLASS_COLOURS is None:
        import matplotlib
        cmap = matplotlib.colormaps['tab20']
        _CLASS_COLOURS = np.array(
            [cmap(i % 20)[:3] for i in range(len(CLASSES))])
    return _CLASS_COLOURS


def task_maps(rgb: np.ndarray, geom, depth_max: float) -> list:
    """The five panels of a row: RGB, classes, depth, normals, edges."""
    seg = class_colours()[geom.cls]
    depth = np.where(geom.depth_valid, geom.depth, np.nan) / depth_max
    normal = (geom.normal + 1.0) / 2.0
    edge = geom.edge.astype(float)
    return [rgb, seg, depth, np.clip(normal, 0, 1), edge]


def draw(family: str, samples: int, height: int, width: int, seed: int,
         path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fam = FAMILIES[family]
    rows = []
    for i in range(samples):
        for domain, label in (('source', 'source'), (fam.domain, family)):
            rgb, geom, _ = render_view(seed, domain, 'val', i, height, width)
            rows.append((f'{label} #{i}', rgb, geom))
    depth_max = max(float(g.depth[g.depth_valid].max()) for _, _, g in rows
                    if g.depth_valid.any())
    titles = ['RGB', 'semantic classes', f'depth (0-{depth_max:.1f} m)',
              'normals', 'occlusion edges']
    fig, axes = plt.subplots(len(rows), 5, figsize=(10, 1.55 * len(rows)),
                             dpi=64, squeeze=False)
    for r, (label, rgb, geom) in enumerate(rows):
        for c, img in enumerate(task_maps(rgb, geom, depth_max)):
            ax = axes[r][c]
            if img.ndim == 2:
                ax.imshow(img, cmap='gray' if c == 4 else 'viridis',
                          vmin=0, vmax=1, interpolation='nearest')
            else:
                ax.imshow(img, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle(f'shift family "{family}": {fam.description}', fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out-dir', default='docs/figures')
    p.add_argument('--families', nargs='+', default=['all'])
    p.add_argument('--samples', type=int, default=3)
    p.add_argument('--height', type=int, default=96)
    p.add_argument('--width', type=int, default=128)
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    try:
        families = normalise_families(args.families)
    except ValueError as e:
        raise SystemExit(f'--families: {e}') from None
    if args.samples < 1:
        raise SystemExit(f'--samples must be >= 1, got {args.samples}')
    if args.height < 8 or args.width < 8:
        raise SystemExit(f'image size too small: {args.height}x{args.width}')
    os.makedirs(args.out_dir, exist_ok=True)
    for f in families:
        path = osp.join(args.out_dir, f'family_{f}.png')
        draw(f, args.samples, args.height, args.width, args.seed, path)
        print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
