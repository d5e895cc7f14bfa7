"""Offline checks for pretrained weights named in ``init_cfg``.

mmengine's ``Pretrained`` initialisation downloads ``torchvision://NAME``
(and ``http(s)://`` URLs) into the torch hub cache unless the file is there
already. These machines have no network, and the failure then surfaces as
an obscure ``URLError`` deep inside the runner. :func:`check_pretrained_files`
is called by :meth:`MultiTaskEncoderDecoder.init_weights` before
initialising: it resolves every pretrained checkpoint the way mmengine will
and raises a :class:`FileNotFoundError` naming the exact path to put the
file at (or how to point ``init_cfg.checkpoint`` at a local file).
"""
import os.path as osp
from typing import List, Optional
from urllib.parse import urlparse

import torch.nn as nn

#: Schemes whose files mmengine fetches into the torch hub cache.
_TORCHVISION = ('torchvision://', 'modelzoo://')
_HTTP = ('http://', 'https://')


def hub_checkpoint_dir() -> str:
    """The folder mmengine (through ``torch.hub``) downloads checkpoints to:
    ``<torch.hub.get_dir()>/checkpoints`` (``$TORCH_HOME/hub/checkpoints``,
    by default ``~/.cache/torch/hub/checkpoints``)."""
    import torch.hub
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def torchvision_url(name: str) -> str:
    """The URL mmengine loads for ``torchvision://<name>`` (read from the
    installed mmengine/torchvision tables, no network)."""
    from mmengine.runner.checkpoint import get_torchvision_models
    urls = get_torchvision_models()
    if name not in urls:
        close = sorted(k for k in urls if k.split('.')[0] == name.split('.')
                       [0])[:8]
        raise KeyError(
            f'torchvision://{name}: mmengine knows no such torchvision '
            f'model{"; similar: " + ", ".join(close) if close else ""}')
    return urls[name]


def resolve_checkpoint(checkpoint: str) -> Optional[dict]:
    """Where a pretrained checkpoint string is read from.

    Returns:
        ``dict(path=..., url=...)`` for ``torchvision://``, ``modelzoo://``
        and ``http(s)://`` (``path`` in the hub cache), ``dict(path=...)``
        for a local file, or None for other schemes (``open-mmlab://``,
        ``s3://``...), which this module does not check.
    """
    if checkpoint.startswith(_TORCHVISION):
        name = checkpoint.split('://', 1)[1]
        url = torchvision_url(name)
    elif checkpoint.startswith(_HTTP):
        url = checkpoint
    elif '://' in checkpoint:
        return None
    else:
        return dict(path=osp.expanduser(checkpoint))
    filename = osp.basename(urlparse(url).path)
    return dict(path=osp.join(hub_checkpoint_dir(), filename), url=url)


def check_pretrained(checkpoint: str, where: str = 'init_cfg') -> None:
    """Raise a clear :class:`FileNotFoundError` when ``checkpoint`` cannot
    be read without network.

    Args:
        checkpoint: An ``init_cfg.checkpoint`` value.
        where: The config key holding it, for the message.
    """
    found = resolve_checkpoint(checkpoint)
    if found is None or osp.isfile(found['path']):
        return
    if 'url' not in found:
        raise FileNotFoundError(
            f'{where}.checkpoint: pretrained weights file {checkpoint!r} '
            'does not exist; give the path of a local file (a state dict, '
            'or an mmengine checkpoint with a state_dict) or set '
            f'{where}=None to start from random weights')
    raise FileNotFoundError(
        f'{where}.checkpoint={checkpoint!r}: the weights are not in the '
        f'torch hub cache and this machine cannot download them. Put the '
        f'file {osp.basename(found["path"])} (from {found["url"]}) at\n'
        f'    {found["path"]}\n'
        f'(the folder is $TORCH_HOME/hub/checkpoints, or torch.hub.get_dir()'
        f'/checkpoints), or point {where}.checkpoint at a local copy, e.g. '
        f'--cfg-options {where}.checkpoint=/path/to/'
        f'{osp.basename(found["path"])}; {where}=None starts from random '
        'weights')


def _init_cfgs(cfg) -> List[dict]:
    if cfg is None:
        return []
    if isinstance(cfg, (list, tuple)):
        return [c for c in cfg if isinstance(c, dict)]
    return [cfg] if isinstance(cfg, dict) else []


def check_pretrained_files(model: nn.Module) -> None:
    """Check every ``Pretrained`` ``init_cfg`` of ``model`` and its
    submodules with :func:`check_pretrained` (called before mmengine's
    ``init_weights``)."""
    for name, module in model.named_modules():
        for cfg in _init_cfgs(getattr(module, 'init_cfg', None)):
            if cfg.get('type') == 'Pretrained' and isinstance(
                    cfg.get('checkpoint'), str):
                where = f'model.{name}.init_cfg' if name else \
                    'model.init_cfg'
                check_pretrained(cfg['checkpoint'], where)


def install_hint() -> str:
    """One line for docs and errors: where torchvision ResNet-50 goes."""
    found = resolve_checkpoint('torchvision://resnet50')
    return (f'put {osp.basename(found["path"])} ({found["url"]}) at '
            f'{found["path"]}')


__all__ = [
    'check_pretrained', 'check_pretrained_files', 'hub_checkpoint_dir',
    'install_hint', 'resolve_checkpoint', 'torchvision_url'
]
