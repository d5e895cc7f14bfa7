"""The benchmark config: loading, ``--quick`` and ``--set`` merging,
validation and defaults.

A benchmark config is a Python config file of plain dicts
(``configs/benchmark/synth.py`` documents every key)."""
import difflib
import json
import os.path as osp
from typing import Dict, Iterable, List, Optional

from .trees import merge, plain, set_dotted

#: Keys every benchmark config defines.
REQUIRED_KEYS = ('families', 'seeds', 'data', 'train', 'test', 'sources',
                 'methods')


class Entries:
    """A dict of user-named entries (source models, methods), each one
    following ``schema``."""

    def __init__(self, schema: dict):
        self.schema = schema


#: A free-form value (a method's hook overrides, an explicit grid): the hook
#: checks its own arguments.
ANY = object()
NONE = type(None)
NUMBER = (int, float)

SOURCE_SCHEMA = dict(config=str, from_source=(str, NONE),
                     finetune=dict(config=str, iters=int))
METHOD_SCHEMA = dict(hook=str, source=str, overrides=ANY,
                     lr_key=(str, NONE), steps_key=(str, NONE), grid=ANY,
                     lr_factors=list, decomposition=bool, variant=ANY,
                     parts=ANY, grad_overrides=dict)
SLURM_SCHEMA = dict(partition=(str, NONE), gpus_per_node=int,
                    cpus_per_task=int, mem_gb=NUMBER, timeout_min=int,
                    array_parallelism=int, account=(str, NONE),
                    qos=(str, NONE), constraint=(str, NONE),
                    additional_parameters=ANY, setup=list)
#: Every key a benchmark config may hold (``configs/benchmark/synth.py``
#: documents them): a type (or a tuple of types) per value, a dict per
#: section, :class:`Entries` for user-named entries. ``quick`` holds any of
#: the others.
SCHEMA = dict(
    work_dir=str,
    data=dict(root=str, seed=int, height=int, width=int, num_train=int,
              num_val=int, num_target_train=int, num_target_val=int,
              images_per_building=int, val_root=str, val_seed=int,
              val_num_target_val=(int, NONE)),
    families=list, seeds=list,
    train=dict(iters=int, batch_size=int),
    test=dict(batch_size=int),
    sources=Entries(SOURCE_SCHEMA),
    methods=Entries(METHOD_SCHEMA),
    source_only=(str, NONE),
    eval_source_val=bool,
    reference=(str, NONE),
    recovery_method=(str, list, NONE),
    best_step=dict(min_fraction=NUMBER),
    cost=dict(enabled=bool, repeats=int),
    hparam_selection=dict(lr_factors=list, steps=list, seeds=(str, list)),
    executor=dict(type=str, slurm=SLURM_SCHEMA),
    decomposition=(bool, NONE),
)
SCHEMA['quick'] = {k: v for k, v in SCHEMA.items() if k != 'quick'}


def _kind(types) -> str:
    types = types if isinstance(types, tuple) else (types, )
    return ' or '.join('None' if t is NONE else t.__name__ for t in types)


def _type_ok(value, types) -> bool:
    types = types if isinstance(types, tuple) else (types, )
    if isinstance(value, bool) and bool not in types:
        return False  # True is an int to Python, not to a config
    if isinstance(value, (list, tuple)) and list in types:
        return True
    return isinstance(value, types)


def _unknown(name: str, known: Iterable[str], where: str) -> str:
    """``unknown key `a.b`; did you mean `a.c`?`` (or the known keys)."""
    known = sorted(known)
    prefix = f'{where}.' if where else ''
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = (f'did you mean `{prefix}{near[0]}`?' if near else
            f'known keys of `{where or "the config"}`: {", ".join(known)}')
    return f'unknown key `{prefix}{name}`; {hint}'


def schema_errors(node, schema, where: str = '') -> List[str]:
    """Every unknown key and every value of the wrong kind in ``node``
    (checked against ``schema``), as messages naming the dotted key."""
    if schema is ANY:
        return []
    if isinstance(schema, Entries):
        if not isinstance(node, dict):
            return [f'`{where}` must be a dict, got {node!r}']
        errs = []
        for name, entry in node.items():
            errs += schema_errors(entry, schema.schema, f'{where}.{name}')
        return errs
    if isinstance(schema, dict):
        if not isinstance(node, dict):
            return [f'`{where}` must be a dict, got {node!r}']
        errs = []
        for k, v in node.items():
            if k not in schema:
                errs.append(_unknown(k, schema, where))
            else:
                errs += schema_errors(v, schema[k],
                                      f'{where}.{k}' if where else k)
        return errs
    if not _type_ok(node, schema):
        return [f'`{where}` must be {_kind(schema)}, got {node!r} '
                f'({type(node).__name__})']
    return []


def check_dotted_key(key: str) -> Optional[str]:
    """Why ``key`` (a ``--set`` key) names no setting, or None."""
    node, where = SCHEMA, ''
    for part in key.split('.'):
        if node is ANY:
            return None
        if isinstance(node, Entries):
            node = node.schema  # any entry name
        elif isinstance(node, dict):
            if part not in node:
                return _unknown(part, node, where)
            node = node[part]
        else:
            return (f'`{where}` is a value, not a section: it has no key '
                    f'`{part}`')
        where = f'{where}.{part}' if where else part
    return None


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
        SystemExit: the file is missing; a key of the file or of
            ``options`` is not in :data:`SCHEMA` (naming it and the nearest
            known key); a required key is absent; a value is of the wrong
            kind (naming it).
    """
    from mmengine.config import Config
    if not osp.isfile(path):
        raise SystemExit(f'benchmark config not found: {path}')
    cfg = plain(Config.fromfile(path))
    cfg = {k: v for k, v in cfg.items() if not k.startswith('_')}
    errs = schema_errors(cfg, SCHEMA)
    if errs:
        raise SystemExit(f'{path}: ' + f'\n{path}: '.join(errs))
    for k in options or {}:
        why = check_dotted_key(k)
        if why:
            raise SystemExit(f'--set {k}: {why}')
    if quick:
        if not isinstance(cfg.get('quick'), dict):
            raise SystemExit(f'{path}: --quick needs a `quick` dict in the '
                             'config')
        cfg = merge(cfg, cfg['quick'])
    for k, v in (options or {}).items():
        set_dotted(cfg, k, v)
    errs = schema_errors(cfg, SCHEMA)
    if errs:  # a --set value of the wrong kind
        raise SystemExit(f'{path} with --set: ' + '; '.join(errs))
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
    cfg.setdefault('executor', {})
    cfg['executor'].setdefault('type', 'local')
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
