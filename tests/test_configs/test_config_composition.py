"""Every runnable config resolves to the dict of its committed snapshot.

The paper-scale configs are composed from one base per setting
(``configs/_base_/settings/{t2n,t2p,n2t,p2t}.py``: datasets, tasks, class
map) and one per method (``configs/_base_/methods/<method>.py``: the model
with the method's head, runtime and schedule). ``resolved_configs.json``
holds, for every runnable config (no path component starting with ``_``,
outside ``configs/benchmark/``), the sha256 of the canonical JSON of
``Config.fromfile(path).to_dict()``; it was written before the configs were
composed, so these tests prove the move changed no resolved config. The
benchmark caches source models by a digest of the same resolved dict
(tools/benchmark.py), so equal dicts also keep its caches valid.

After an intended change to a config, regenerate the snapshot and commit it
with the change (its diff names every config whose resolved dict moved)::

    OMP_NUM_THREADS=1 .venv/bin/python \\
        tests/test_configs/test_config_composition.py --update

``--dump DIR`` writes each config's canonical JSON under ``DIR`` (for a
``diff -r`` of two states).
"""
import argparse
import ast
import functools
import hashlib
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

import pytest
from mmengine.config import Config

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
SNAPSHOT = osp.join(osp.dirname(osp.abspath(__file__)),
                    'resolved_configs.json')
REGENERATE = ('OMP_NUM_THREADS=1 .venv/bin/python '
              'tests/test_configs/test_config_composition.py --update')
#: Benchmark specs, not model configs (tools/benchmark.py reads them).
NOT_MODEL_CONFIGS = ('configs/benchmark/', )
SETTINGS = ('t2n', 't2p', 'n2t', 'p2t')


def runnable_configs(repo: str = REPO) -> List[str]:
    """The runnable model configs under ``<repo>/configs``, as sorted
    repo-relative paths: bases (``_base_/``) and private partials
    (``_name.py``) are left out, and so are the benchmark specs."""
    out = []
    for dirpath, dirnames, filenames in os.walk(osp.join(repo, 'configs')):
        dirnames[:] = [d for d in dirnames if not d.startswith('_')]
        for name in filenames:
            if not name.endswith('.py') or name.startswith('_'):
                continue
            rel = osp.relpath(osp.join(dirpath, name), repo).replace(
                os.sep, '/')
            if not rel.startswith(NOT_MODEL_CONFIGS):
                out.append(rel)
    return sorted(out)


def canonical(obj, where: str = 'cfg'):
    """``obj`` as JSON data that keeps what a runner tells apart: a tuple
    becomes ``{'__tuple__': [...]}`` (JSON alone would make it a list), and
    ``1``, ``1.0`` and ``True`` stay distinct JSON values.

    Raises:
        TypeError: a key that is not a string or a value that is not plain
            config data, naming where it is.
    """
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f'{where}: key {k!r} is a {type(k).__name__}'
                                ', expected a string')
            out[k] = canonical(v, f'{where}.{k}')
        return out
    if isinstance(obj, tuple):
        return {'__tuple__': [canonical(v, f'{where}[{i}]')
                              for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [canonical(v, f'{where}[{i}]') for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f'{where}: {obj!r} is a {type(obj).__name__}, expected '
                    'plain config data (dict, list, tuple, str, number, '
                    'bool, None)')


def canonical_json(path: str) -> str:
    """The canonical JSON text of the config file's resolved dict."""
    cfg = Config.fromfile(path, import_custom_modules=False)
    return json.dumps(canonical(cfg.to_dict(), osp.basename(path)),
                      sort_keys=True, separators=(',', ':'))


def resolved_sha256(path: str) -> str:
    """sha256 (hex) of :func:`canonical_json` of ``path``."""
    return hashlib.sha256(canonical_json(path).encode()).hexdigest()


def read_snapshot(path: str = SNAPSHOT) -> Dict[str, str]:
    """``{config path: sha256}`` of the committed snapshot."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no snapshot of the resolved '
                                f'configs; write it with {REGENERATE}')
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data.get('configs'), dict):
        raise ValueError(f'{path}: expected a JSON object with a `configs` '
                         f'mapping (config path -> sha256); regenerate with '
                         f'{REGENERATE}')
    return data['configs']


def write_snapshot(path: str = SNAPSHOT, repo: str = REPO) -> Dict[str, str]:
    """Write the snapshot of every runnable config; returns its mapping."""
    configs = {rel: resolved_sha256(osp.join(repo, rel))
               for rel in runnable_configs(repo)}
    with open(path, 'w') as f:
        json.dump(dict(regenerate=REGENERATE, configs=configs), f, indent=1,
                  sort_keys=True)
        f.write('\n')
    return configs


@functools.lru_cache(maxsize=None)
def _load(rel: str) -> Config:
    return Config.fromfile(osp.join(REPO, rel), import_custom_modules=False)


def test_snapshot_lists_every_runnable_config():
    snap, found = set(read_snapshot()), set(runnable_configs())
    assert snap == found, (
        f'configs without a snapshot: {sorted(found - snap)}; snapshot '
        f'entries without a config: {sorted(snap - found)}. Regenerate with '
        f'{REGENERATE} if the change is intended.')


@pytest.mark.parametrize(
    'rel', sorted(read_snapshot()) if osp.isfile(SNAPSHOT) else [])
def test_resolved_config_matches_snapshot(rel):
    path = osp.join(REPO, rel)
    assert osp.isfile(path), f'{rel} is in the snapshot but does not exist'
    assert resolved_sha256(path) == read_snapshot()[rel], (
        f'{rel} resolves to another dict than its snapshot. If the change is '
        f'intended, regenerate with {REGENERATE}; to see what moved, '
        '--dump DIR before and after and diff -r.')


@pytest.mark.parametrize('rel', runnable_configs())
def test_decode_head_and_data_agree_on_tasks(rel):
    """Each config sets the decode head's tasks from its setting: the model
    and every loader read the same tasks."""
    cfg = _load(rel)
    if cfg.model.get('type') != 'MultiTaskEncoderDecoder':
        pytest.skip(f'{rel}: not a multi-task model')
    tasks = tuple(cfg.model.decode_head.tasks)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert tuple(cfg[loader].dataset.tasks) == tasks, (rel, loader)


def _paper_leaves() -> List[str]:
    out = []
    for rel in runnable_configs():
        folder, name = osp.split(rel)
        stem = name[:-3].replace('_flow', '')
        if stem in SETTINGS and folder != 'configs/trttt/released':
            out.append(rel)
    return out


@pytest.mark.parametrize('rel', _paper_leaves())
def test_paper_config_is_a_method_on_its_setting(rel):
    """A paper-scale config is its method's base, its setting's base and the
    decode head's tasks and classes, nothing else."""
    with open(osp.join(REPO, rel)) as f:
        tree = ast.parse(f.read())
    names = [t.id for node in tree.body if isinstance(node, ast.Assign)
             for t in node.targets]
    assert names == ['_base_', 'model'], (rel, names)
    bases = ast.literal_eval(tree.body[0].value)
    setting = osp.basename(rel)[:-3].replace('_flow', '')
    assert len(bases) == 2 and '/_base_/methods/' in bases[0], (rel, bases)
    assert bases[1].endswith(f'/_base_/settings/{setting}.py'), (rel, bases)
    cfg = _load(rel)
    assert cfg.model.decode_head.tasks == cfg.tasks
    assert cfg.model.decode_head.num_classes == cfg.num_classes


def test_canonical_form_keeps_types_and_ignores_key_order():
    assert canonical({'a': (1, 2)}) == {'a': {'__tuple__': [1, 2]}}
    assert canonical({'a': [1, 2]}) == {'a': [1, 2]}
    dumps = functools.partial(json.dumps, sort_keys=True)
    assert dumps(canonical([1])) != dumps(canonical([1.0]))
    assert dumps(canonical([1])) != dumps(canonical([True]))
    assert dumps(canonical({'b': 1, 'a': 2})) == \
        dumps(canonical({'a': 2, 'b': 1}))
    with pytest.raises(TypeError, match=r'cfg\.x: .*set'):
        canonical({'x': {1}})
    with pytest.raises(TypeError, match='key 1 is a int'):
        canonical({1: 'a'})


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_digest_equal_for_a_composed_and_a_flat_config(tmp_path):
    """mmengine's merge of bases and ``_base_.x`` reads give the digest of
    the same dict written out flat; any changed value changes it."""
    _write(tmp_path / '_base_' / 'data.py',
           "src = dict(type='D', split='train')\n"
           "loader = dict(batch_size=8, dataset=dict())\n")
    _write(tmp_path / '_base_' / 'model.py',
           "model = dict(head=dict(tasks=('a', 'b'), n=7), aux=dict())\n")
    composed = _write(
        tmp_path / 'composed.py',
        "_base_ = ['./_base_/model.py', './_base_/data.py']\n"
        "tasks = ('a', )\n"
        "model = dict(head=dict(tasks=tasks), aux=dict(rot=dict(k=2)))\n"
        "loader = dict(dataset=dict(_base_.src, tasks=tasks))\n")
    flat = "\n".join([
        "tasks = ('a', )",
        "src = dict(type='D', split='train')",
        "loader = dict(batch_size=8, dataset=dict(type='D', split='train', "
        "tasks=('a', )))",
        "model = dict(aux=dict(rot=dict(k=2)), head=dict(n=7, "
        "tasks=('a', )))", ''])
    assert resolved_sha256(composed) == resolved_sha256(
        _write(tmp_path / 'flat.py', flat))
    for changed in (flat.replace("k=2", "k=2.0"),
                    flat.replace("tasks=('a', )))", "tasks=['a']))"),
                    flat + "extra = None\n"):
        assert resolved_sha256(composed) != resolved_sha256(
            _write(tmp_path / 'changed.py', changed)), changed


def test_runnable_configs_leave_out_bases_and_partials(tmp_path):
    for rel in ('configs/_base_/settings/t2n.py', 'configs/m/_common.py',
                'configs/benchmark/synth.py', 'configs/m/t2n.py',
                'configs/m/notes.md'):
        _write(tmp_path / rel, '')
    assert runnable_configs(str(tmp_path)) == ['configs/m/t2n.py']


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description='Regenerate the snapshot of the resolved configs, or '
        'dump their canonical JSON.')
    parser.add_argument('--update', action='store_true',
                        help=f'rewrite {osp.relpath(SNAPSHOT, REPO)}')
    parser.add_argument('--dump', metavar='DIR',
                        help='write DIR/<config path>.json for every config')
    args = parser.parse_args(argv)
    if not (args.update or args.dump):
        parser.error('nothing to do: pass --update and/or --dump DIR')
    if args.dump:
        for rel in runnable_configs():
            out = osp.join(args.dump, rel + '.json')
            os.makedirs(osp.dirname(out), exist_ok=True)
            text = json.dumps(json.loads(canonical_json(osp.join(REPO, rel))),
                              sort_keys=True, indent=1)
            with open(out, 'w') as f:
                f.write(text + '\n')
    if args.update:
        configs = write_snapshot()
        print(f'{osp.relpath(SNAPSHOT, REPO)}: {len(configs)} configs')
    return 0


if __name__ == '__main__':
    sys.exit(main())
