"""Nested plain-dict helpers of the benchmark: merging, dotted keys, and
values written back as mmengine ``--cfg-options``."""
import copy
from typing import Dict


def merge(base: dict, override: dict) -> dict:
    """Recursive merge of plain dicts (``override`` wins); neither input is
    changed."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def plain(obj):
    """A ConfigDict tree as plain dicts and lists."""
    if hasattr(obj, 'to_dict'):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def get_dotted(d: dict, key: str):
    """``d['a']['b']`` for ``key='a.b'``; None when a part is missing."""
    node = d
    for p in key.split('.'):
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    return node


def set_dotted(d: dict, key: str, value) -> None:
    """``d['a']['b'] = value`` for ``key='a.b'`` (missing dicts created)."""
    node = d
    parts = key.split('.')
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def flatten(d: dict, prefix: str = '') -> Dict[str, object]:
    """``{'optimizer': {'lr': 1}}`` -> ``{'optimizer.lr': 1}``."""
    out = {}
    for k, v in d.items():
        key = f'{prefix}{k}'
        if isinstance(v, dict):
            out.update(flatten(v, key + '.'))
        else:
            out[key] = v
    return out


def nested(flat: Dict[str, object]) -> dict:
    """``{'optimizer.lr': 0.1}`` -> ``{'optimizer': {'lr': 0.1}}``."""
    out: dict = {}
    for k, v in flat.items():
        set_dotted(out, k, v)
    return out


def cfg_value(v) -> str:
    """A value as mmengine's ``--cfg-options`` parses it back."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        inner = ','.join(cfg_value(x) for x in v)
        return f'[{inner}]' if isinstance(v, list) else f'({inner},)'
    return str(v)
