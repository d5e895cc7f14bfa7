"""Units of work: their cache keys, their folders and their resume point
(``done.json``).

A unit (a source training, an evaluation, a method run, a cost measurement)
is skipped on a later invocation when its folder's ``done.json`` holds the
digest of the same key: everything its result depends on (resolved configs,
budgets, data parameters, seed, overrides, the benchmark version). Keys hold
no absolute paths, so a work dir keeps its cache when it is moved."""
import hashlib
import json
import os
import os.path as osp
import threading
from typing import Dict, List, Optional

from trttt_mm.utils.jsonio import read_json

from .trees import merge

#: The repository root (where the tools run).
ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
#: Bump when the meaning of a run's result changes (invalidates done.json).
BENCHMARK_VERSION = 1


def digest(obj) -> str:
    """A short, stable hash of a JSON-able object."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_json(path: str, data) -> None:
    """Write ``data`` as JSON atomically (a temporary file, then a rename):
    a reader sees the old file or the new one, never half of one."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.{os.getpid()}.{threading.get_ident()}.tmp'
    try:
        with open(tmp, 'w') as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def unit_key(key: dict) -> dict:
    """The key with the benchmark version."""
    return dict(key, benchmark_version=BENCHMARK_VERSION)


def unit_digest(key: dict) -> str:
    """The digest ``done.json`` stores for ``key``."""
    return digest(unit_key(key))


def write_done(work: str, key: dict, result: dict) -> None:
    """Mark a unit finished: ``work/done.json`` with its key and result."""
    write_json(osp.join(work, 'done.json'),
               dict(key=unit_digest(key), result=result,
                    key_data=unit_key(key)))


def read_done(work: str, key: dict) -> Optional[dict]:
    """The result of a finished unit with this key, or None (not run, other
    key, failed, or a ``done.json`` that cannot be read or is not an
    object: all "not finished")."""
    done = read_json(osp.join(work, 'done.json'))
    if not isinstance(done, dict) or done.get('key') != unit_digest(key):
        return None
    result = done.get('result')
    if isinstance(result, dict) and result.get('status') == 'done':
        return result
    return None


def read_done_file(work: str) -> Optional[dict]:
    """``work/done.json`` when it is a finished unit's (an object with a
    key and a result record), else None."""
    done = read_json(osp.join(work, 'done.json'))
    if isinstance(done, dict) and isinstance(done.get('key'), str) and \
            isinstance(done.get('result'), dict) and \
            isinstance(done['result'].get('id'), str):
        return done
    return None


class UnitKeys:
    """The keys, ids and folders of a benchmark's units.

    Args:
        cfg: the benchmark settings.
        work_dir: the results folder (absolute).
    """

    def __init__(self, cfg: dict, work_dir: str):
        self.cfg = cfg
        self.work_dir = work_dir
        self._config_cache: Dict[str, dict] = {}
        self._cfg_lock = threading.Lock()

    # ----------------------------------------------------------- configs
    def config(self, path: str) -> dict:
        """The config file (relative to the repository) with its bases
        merged, as plain data (cached)."""
        from mmengine.config import Config

        from .trees import plain
        with self._cfg_lock:
            if path not in self._config_cache:
                self._config_cache[path] = plain(
                    Config.fromfile(osp.join(ROOT, path)))
            return self._config_cache[path]

    def source_configs(self, name: str) -> List[str]:
        """Every config file a source model needs."""
        spec = self.cfg['sources'][name]
        out = [spec['config']]
        if spec.get('from_source'):
            out += self.source_configs(spec['from_source'])
        if spec.get('finetune'):
            out.append(spec['finetune']['config'])
        return out

    def method_defaults(self, label: str) -> dict:
        """The method's hook arguments: its source config's ``ttt`` entry
        with the spec's overrides."""
        spec = self.cfg['methods'][label]
        cfg = self.config(self.cfg['sources'][spec['source']]['config'])
        hook = dict((cfg.get('ttt') or {}).get(spec['hook']) or {})
        return merge(hook, spec.get('overrides') or {})

    # -------------------------------------------------------------- data
    def data_params(self, which: str = 'test') -> dict:
        """The generator parameters of the test (or validation) data."""
        d = self.cfg['data']
        from trttt_mm.datasets.synthetic.benchmark import FORMAT_VERSION
        from trttt_mm.datasets.synthetic.families import FAMILIES_VERSION
        keys = ('seed', 'height', 'width', 'num_train', 'num_val',
                'num_target_train', 'num_target_val', 'images_per_building')
        out = {k: d[k] for k in keys if k in d}
        if which == 'val':
            out['seed'] = d.get('val_seed', 1000)
            out['num_target_val'] = self.num_images('val')
        out.update(format_version=FORMAT_VERSION,
                   families_version=FAMILIES_VERSION)
        return out

    def num_images(self, which: str = 'test') -> int:
        """Images of a family's stream (test or validation target)."""
        d = self.cfg['data']
        if which == 'val' and d.get('val_num_target_val') is not None:
            return int(d['val_num_target_val'])
        return int(d['num_target_val'])

    def data_root(self, which: str = 'test') -> str:
        """``<root>/<hash of the data parameters>``: every setting of the
        data gets its own folder (cached by the generator), none replaces
        another."""
        d = self.cfg['data']
        root = d['root'] if which == 'test' else d.get(
            'val_root', d['root'] + '_val')
        root = root if osp.isabs(root) else osp.join(ROOT, root)
        return osp.join(root, digest(self.data_params(which))[:8])

    def family_root(self, family: str, which: str = 'test') -> str:
        """The folder of a family's target data."""
        from trttt_mm.datasets.synthetic.families import FAMILIES
        return osp.join(self.data_root(which), FAMILIES[family].dirname)

    # ------------------------------------------------------------- units
    def source_key(self, name: str, seed: int) -> dict:
        """What a source model depends on."""
        spec = self.cfg['sources'][name]
        key = dict(source=name, config=spec['config'],
                   resolved=digest(self.config(spec['config'])),
                   train=self.cfg['train'], data=self.data_params(),
                   seed=int(seed))
        if spec.get('from_source'):
            key['parent'] = self.source_key(spec['from_source'], seed)
            key.pop('train')
        if spec.get('finetune'):
            ft = spec['finetune']
            key['finetune'] = dict(ft, resolved=digest(self.config(
                ft['config'])))
        return key

    @staticmethod
    def source_id(name: str, seed: int) -> str:
        return f'source/{name}/seed{seed}'

    def source_dir(self, name: str, seed: int) -> str:
        key = digest(self.source_key(name, seed))[:8]
        return osp.join(self.work_dir, 'sources', f'{name}_seed{seed}_{key}')

    def eval_key(self, name: str, seed: int, family: Optional[str]) -> dict:
        """What an evaluation of a source model (not adapted) depends on
        (``family=None``: the source validation split)."""
        return dict(source=self.source_key(name, seed),
                    family=family or 'source_val', test=self.cfg['test'])

    @staticmethod
    def eval_id(name: str, seed: int, family: Optional[str]) -> str:
        return f'eval/{family or "source_val"}/{name}/seed{seed}'

    def eval_dir(self, name: str, seed: int, family: Optional[str]) -> str:
        return osp.join(self.work_dir, 'eval', family or 'source_val',
                        f'{name}_seed{seed}')

    def method_overrides(self, label: str,
                         overrides: Optional[dict] = None) -> dict:
        """The spec's overrides with a run's own (a grid setting)."""
        spec = self.cfg['methods'][label]
        return merge(spec.get('overrides') or {}, overrides or {})

    def method_key(self, label: str, seed: int, family: str,
                   overrides: Optional[dict] = None,
                   which: str = 'test') -> dict:
        """What a method run depends on."""
        spec = self.cfg['methods'][label]
        src_name = spec['source']
        config = self.cfg['sources'][src_name]['config']
        return dict(source=self.source_key(src_name, seed), method=label,
                    hook=spec['hook'],
                    overrides=self.method_overrides(label, overrides),
                    family=family, which=which,
                    data=self.data_params(which), test=self.cfg['test'],
                    resolved=digest(self.config(config)))

    @staticmethod
    def method_id(label: str, seed: int, family: str, kind: str = 'test',
                  tag: str = '') -> str:
        return f'{kind}/{family}/{label}/seed{seed}' + (f'/{tag}' if tag
                                                        else '')

    def method_dir(self, label: str, seed: int, family: str,
                   kind: str = 'test', tag: str = '') -> str:
        return osp.join(self.work_dir, kind, family, label, f'seed{seed}',
                        tag)

    def cost_key(self, label: str, device: str) -> dict:
        """What a step-cost measurement depends on."""
        spec = self.cfg['methods'][label]
        config = self.cfg['sources'][spec['source']]['config']
        d = self.cfg['data']
        return dict(method=label, hook=spec['hook'], config=config,
                    resolved=digest(self.config(config)),
                    batch=int(self.cfg['test']['batch_size']),
                    size=[d['height'], d['width']],
                    repeats=self.cfg['cost']['repeats'], device=device)

    def cost_dir(self, label: str) -> str:
        return osp.join(self.work_dir, 'cost', label)
