"""The benchmark config: loading, ``--quick`` and ``--set`` merging,
validation and defaults.

A benchmark config is a Python config file of plain dicts
(``configs/benchmark/synth.py`` documents every key)."""
import json
import os.path as osp
from typing import Dict, Iterable, Optional

from .trees import merge, plain, set_dotted

#: Keys every benchmark config defines.
REQUIRED_KEYS = ('families', 'seeds', 'data', 'train', 'test', 'sources',
                 'methods')


def parse_set_options(items: Iterable[str]) -> Dict[str, object]:
    """``['train.iters=3', 'data.root=/x']`` -> ``{'train.iters': 3,
    'data.root': '/x'}`` (values parsed as JSON when they can be).

    Raises:
        SystemExit: an item without ``=``.
    """
    options = {}
    for item in items:
        if '=' not in item:
            raise SystemExit(f'--set {item!r}: expected KEY=VALUE')
        k, v = item.split('=', 1)
        try:
            options[k] = json.loads(v)
        except ValueError:
            options[k] = v
    return options


def load_benchmark_config(path: str, quick: bool = False,
                          options: Optional[dict] = None) -> dict:
    """Read a benchmark config (a Python config file of plain dicts).

    Args:
        path: the config file.
        quick: merge the config's ``quick`` dict over it.
        options: dotted keys -> values (``--set``), applied last.

    Returns:
        The settings as plain data, with defaults filled in.

    Raises:
        SystemExit: the file is missing or a required key is absent or of
            the wrong kind (naming it).
    """
    from mmengine.config import Config
    if not osp.isfile(path):
        raise SystemExit(f'benchmark config not found: {path}')
    cfg = plain(Config.fromfile(path))
    cfg = {k: v for k, v in cfg.items() if not k.startswith('_')}
    if quick:
        if not isinstance(cfg.get('quick'), dict):
            raise SystemExit(f'{path}: --quick needs a `quick` dict in the '
                             'config')
        cfg = merge(cfg, cfg['quick'])
    for k, v in (options or {}).items():
        set_dotted(cfg, k, v)
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise SystemExit(f'{path}: missing key(s) {missing}; a benchmark '
                         f'config defines {list(REQUIRED_KEYS)}')
    for k in ('sources', 'methods', 'data', 'train', 'test'):
        if not isinstance(cfg[k], dict):
            raise SystemExit(f'{path}: `{k}` must be a dict, got '
                             f'{type(cfg[k]).__name__}')
    for k in ('families', 'seeds'):
        if not isinstance(cfg[k], list) or not cfg[k]:
            raise SystemExit(f'{path}: `{k}` must be a non-empty list, got '
                             f'{cfg[k]!r}')
    for label, spec in cfg['methods'].items():
        if not isinstance(spec, dict) or 'hook' not in spec or \
                'source' not in spec:
            raise SystemExit(f'{path}: methods.{label} must be a dict with '
                             f'`hook` and `source`, got {spec!r}')
        if spec['source'] not in cfg['sources']:
            raise SystemExit(f'{path}: methods.{label}.source '
                             f'{spec["source"]!r} is not a key of sources '
                             f'({list(cfg["sources"])})')
    for name, spec in cfg['sources'].items():
        if not isinstance(spec, dict) or 'config' not in spec:
            raise SystemExit(f'{path}: sources.{name} must be a dict with a '
                             f'`config`, got {spec!r}')
        parent = spec.get('from_source')
        if parent is not None and (parent not in cfg['sources'] or
                                   cfg['sources'][parent].get('from_source')):
            raise SystemExit(f'{path}: sources.{name}.from_source {parent!r} '
                             'must name a trained source (a key of sources '
                             'without from_source)')
    if cfg.get('source_only') is not None and \
            cfg['source_only'] not in cfg['sources']:
        raise SystemExit(f'{path}: source_only {cfg["source_only"]!r} is not '
                         'a key of sources')
    cfg.setdefault('work_dir', 'work_dirs/benchmark')
    cfg.setdefault('best_step', {})
    cfg['best_step'].setdefault('min_fraction', 0.25)
    cfg.setdefault('cost', {})
    cfg['cost'].setdefault('enabled', True)
    cfg['cost'].setdefault('repeats', 10)
    cfg.setdefault('hparam_selection', {})
    cfg['hparam_selection'].setdefault('lr_factors', [0.1, 1.0, 10.0])
    cfg['hparam_selection'].setdefault('steps', [1, 'default'])
    # per-method learning-rate grids and the decomposition variants
    # (trttt_mm.benchmark.selection / .decomposition)
    from .decomposition import expand
    from .selection import lr_factors
    lr_factors(cfg['hparam_selection']['lr_factors'],
               f'{path}: hparam_selection.lr_factors')
    for label, spec in cfg['methods'].items():
        if 'lr_factors' in spec:
            lr_factors(spec['lr_factors'],
                       f'{path}: methods.{label}.lr_factors')
    cfg['methods'] = expand(cfg['methods'], cfg.get('decomposition'), path)
    return cfg
