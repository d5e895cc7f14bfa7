"""Convert a checkpoint of the authors' released TR-TTT code (S4T) into one
that a ``configs/trttt/released/`` config loads.

Usage::

    python tools/model_converters/s4t_to_trttt.py SRC DST \\
        --config configs/trttt/released/t2n.py [--overwrite]

``SRC`` is a checkpoint saved by the released code (``torch.save`` of a dict
whose ``model`` entry is the state dict of its DDP-wrapped ``S4T_MAE_v4``;
a bare state dict works too). It is read weights-only and never written.
``DST`` must not exist unless ``--overwrite`` (and may never be ``SRC``);
it is written atomically as an mmengine checkpoint
(``dict(state_dict=..., meta=...)``) that ``tools/test.py`` loads strictly.

What maps to what (released name → ours; ``<t>`` a released task name, e.g.
``segment_semantic`` → ``semseg``, ``depth_zbuffer`` → ``depth``,
``normals``/``normal`` → ``normal``, ``edge_occlusion``/``edge`` → ``edge``):

* ``backbone.*`` (torchvision ResNet names) → ``backbone.*`` (mmseg's
  ``ResNet``, style ``'pytorch'``, has the same names; ``fc.*`` is dropped);
* ``heads.<t>.linear_pred`` → ``decode_head.decoders.<t>.0`` (1×1 heads on
  the concatenated levels, ``num_convs=0``);
* ``ts_comp`` → ``aux_heads.<head>.projection.projection`` and
  ``aux_heads.<t>.linear_pred`` → ``...projection.tp_heads.<t>``;
* ``joint_dec.*`` → ``aux_heads.<head>.learner.*`` (joint token layout):
  ``patch_embed.proj`` → ``patch_embed``; ``decoder_pred`` (one linear to
  ``p² · Σ c_t``) is split into one head per task; ``pos_embed`` and
  ``decoder_pos_embed`` (fixed) are not copied but must equal the
  learner's (``pos_embed_layout='cols_first'``);
* the task blocks of ``ts_comp``, ``patch_embed`` and ``decoder_pred`` are
  reordered from the released task order (the order of the ``heads.*``
  keys, or ``--released-tasks``) into the model's;
* a ``loss_weighting`` of the model (uncertainty weighting of a Taskonomy
  source) keeps its initial values: the released code does not save its
  criterion's parameters.

Every released key must be used and every model key produced (or the
conversion fails, naming them), so a converted file is the whole model.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch

# run as a script from anywhere: the repository root holds trttt_mm
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

#: Released task names (S4T configs and dataset keys) → ours.
RELEASED_TASKS = {
    'semseg': 'semseg',
    'segment_semantic': 'semseg',
    'depth': 'depth',
    'depth_zbuffer': 'depth',
    'depth_euclidean': 'depth',
    'normals': 'normal',
    'normal': 'normal',
    'edge': 'edge',
    'edge_occlusion': 'edge',
    'edge_texture': 'edge',
}


class ConversionError(ValueError):
    """The released checkpoint does not fit the target model."""


def released_state_dict(checkpoint: dict) -> Dict[str, torch.Tensor]:
    """The model weights of a released checkpoint (``model`` entry, else
    ``state_dict``, else the dict itself), without ``module.`` prefixes."""
    state = checkpoint
    for key in ('model', 'state_dict'):
        if isinstance(checkpoint.get(key), dict):
            state = checkpoint[key]
            break
    out = OrderedDict()
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            continue
        out[k[len('module.'):] if k.startswith('module.') else k] = v
    if not out:
        raise ConversionError('the checkpoint holds no tensors under model, '
                              'state_dict or at its top level')
    return out


def released_task_order(state: Dict[str, torch.Tensor]) -> List[str]:
    """Released task names in the order their ``heads.<t>.`` keys appear
    (the released model builds its heads, its ``ts_comp`` blocks and its
    ``decoder_pred`` channels in that order)."""
    order = []
    for k in state:
        if k.startswith('heads.'):
            t = k.split('.')[1]
            if t not in order:
                order.append(t)
    if not order:
        raise ConversionError('no heads.<task>.* keys: is this a checkpoint '
                              'of the released S4T_MAE_v4 model?')
    return order


def _take(state: Dict[str, torch.Tensor], used: set, key: str
          ) -> torch.Tensor:
    if key not in state:
        raise ConversionError(f'the released checkpoint has no {key!r}')
    used.add(key)
    return state[key]


def _blocks(x: torch.Tensor, dim: int, size: int, order: Sequence[int]
            ) -> torch.Tensor:
    """Reorder the consecutive ``size``-wide blocks of ``x`` along ``dim``:
    block ``i`` of the result is block ``order[i]`` of ``x``."""
    return torch.cat([x.narrow(dim, j * size, size) for j in order], dim=dim)


def convert(state: Dict[str, torch.Tensor],
            model: torch.nn.Module,
            head: str = 'relation',
            released_tasks: Optional[Sequence[str]] = None
            ) -> Tuple['OrderedDict[str, torch.Tensor]', List[str]]:
    """Map a released state dict onto ``model`` (a built
    :class:`MultiTaskEncoderDecoder` with a joint-layout TR-TTT head).

    Args:
        state: Released weights without ``module.`` prefixes
            (:func:`released_state_dict`).
        model: The target model; its tasks, head and shapes drive the map.
        head: Name of the model's :class:`TaskRelationHead`.
        released_tasks: The released task order; default from the keys
            (:func:`released_task_order`).

    Returns:
        The converted state dict in the model's key order, and notes (one
        line each) on what was dropped or kept.

    Raises:
        ConversionError: naming the key, task or shape that does not fit.
    """
    notes = []
    rel_tasks = list(released_tasks or released_task_order(state))
    unknown = [t for t in rel_tasks if t not in RELEASED_TASKS]
    if unknown:
        raise ConversionError(
            f'released tasks {unknown} have no counterpart here; known: '
            f'{sorted(RELEASED_TASKS)}')
    ours_of = {t: RELEASED_TASKS[t] for t in rel_tasks}
    if len(set(ours_of.values())) != len(rel_tasks):
        raise ConversionError(f'released tasks {rel_tasks} map twice onto '
                              'one task')
    if head not in getattr(model, 'aux_heads', {}):
        raise ConversionError(f'the model has no auxiliary head {head!r}')
    rel_head = model.aux_heads[head]
    proj, learner = rel_head.projection, rel_head.learner
    if proj is None:
        raise ConversionError(f'aux_heads.{head} has no projection; the '
                              'released model always projects (ts_comp)')
    if learner.token_layout != 'joint':
        raise ConversionError(
            f"aux_heads.{head}.learner.token_layout is "
            f"{learner.token_layout!r}; the released TRL is 'joint' (use a "
            'configs/trttt/released/ config)')
    tasks = list(proj.tasks)
    if sorted(ours_of.values()) != sorted(tasks) or \
            sorted(model.tasks) != sorted(tasks):
        raise ConversionError(
            f'the released tasks {rel_tasks} (ours: '
            f'{[ours_of[t] for t in rel_tasks]}) are not the model\'s '
            f'{list(model.tasks)}')
    rel_of = {v: k for k, v in ours_of.items()}
    order = [rel_tasks.index(rel_of[t]) for t in tasks]
    n = len(tasks)
    used: set = set()
    out: Dict[str, torch.Tensor] = {}

    # backbone: same (torchvision) names
    for k, v in state.items():
        if k.startswith('backbone.'):
            used.add(k)
            if k.startswith('backbone.fc.'):
                continue
            out[k] = v
    # main heads
    for t in tasks:
        r = rel_of[t]
        if f'heads.{r}.intermediate.weight' in state:
            raise ConversionError(
                f"heads.{r} is a 'convhead_inter' head; only the released "
                "configs' 'mlp' heads (one 1x1 conv) are converted")
        for p in ('weight', 'bias'):
            out[f'decode_head.decoders.{t}.0.{p}'] = _take(
                state, used, f'heads.{r}.linear_pred.{p}')
    # task projection
    prefix = f'aux_heads.{head}.'
    w = _take(state, used, 'ts_comp.weight')
    if w.shape[0] % n:
        raise ConversionError(f'ts_comp.weight has {w.shape[0]} outputs, '
                              f'not a multiple of the {n} tasks')
    ch = w.shape[0] // n
    out[prefix + 'projection.projection.weight'] = _blocks(w, 0, ch, order)
    out[prefix + 'projection.projection.bias'] = _blocks(
        _take(state, used, 'ts_comp.bias'), 0, ch, order)
    for t in tasks:
        for p in ('weight', 'bias'):
            out[f'{prefix}projection.tp_heads.{t}.{p}'] = _take(
                state, used, f'aux_heads.{rel_of[t]}.linear_pred.{p}')
    # relation learner
    lp = prefix + 'learner.'
    w = _take(state, used, 'joint_dec.patch_embed.proj.weight')
    if w.shape[1] != n * ch:
        raise ConversionError(
            f'joint_dec.patch_embed.proj.weight reads {w.shape[1]} '
            f'channels, expected {n} tasks x {ch}')
    out[lp + 'patch_embed.weight'] = _blocks(w, 1, ch, order)
    out[lp + 'patch_embed.bias'] = _take(state, used,
                                         'joint_dec.patch_embed.proj.bias')
    patch = w.shape[-1]
    for name, buf in (('pos_embed', learner.pos_embed),
                      ('decoder_pos_embed', learner.decoder_pos_embed)):
        theirs = _take(state, used, f'joint_dec.{name}')
        if tuple(theirs.shape) != tuple(buf.shape) or not torch.allclose(
                theirs.float().cpu(), buf.float().cpu(), atol=1e-5):
            raise ConversionError(
                f'joint_dec.{name} differs from the learner\'s fixed '
                f'{name} (layout {learner.pos_embed_layout!r}, shape '
                f'{tuple(buf.shape)} vs {tuple(theirs.shape)}); the released '
                "model uses pos_embed_layout='cols_first' on a square grid")
    notes.append('joint_dec.pos_embed / decoder_pos_embed: fixed, equal to '
                 'the learner\'s; not copied')
    for k, v in state.items():
        if not k.startswith('joint_dec.') or k in used:
            continue
        rest = k[len('joint_dec.'):]
        if rest.split('.')[0] in ('blocks', 'norm', 'decoder_embed',
                                  'mask_token', 'decoder_blocks',
                                  'decoder_norm'):
            used.add(k)
            out[lp + rest] = v
    w = _take(state, used, 'joint_dec.decoder_pred.weight')
    b = _take(state, used, 'joint_dec.decoder_pred.bias')
    widths = [learner.out_channels[ours_of[r]] for r in rel_tasks]
    total = sum(widths)
    if w.shape[0] != patch * patch * total:
        raise ConversionError(
            f'joint_dec.decoder_pred has {w.shape[0]} outputs, expected '
            f'{patch}x{patch} x {total} channels '
            f'({dict(zip(rel_tasks, widths))})')
    w = w.reshape(patch * patch, total, -1)
    b = b.reshape(patch * patch, total)
    starts = {r: sum(widths[:i]) for i, r in enumerate(rel_tasks)}
    for t in tasks:
        s, c = starts[rel_of[t]], learner.out_channels[t]
        out[f'{lp}heads.{t}.weight'] = w[:, s:s + c].reshape(
            patch * patch * c, -1).clone()
        out[f'{lp}heads.{t}.bias'] = b[:, s:s + c].reshape(-1).clone()

    left = [k for k in state if k not in used]
    if left:
        raise ConversionError(
            f'{len(left)} released keys have no place in the model: '
            f'{left[:10]}')
    own = model.state_dict()
    for k, v in own.items():
        if k not in out and (k.startswith('loss_weighting.')
                             or k.startswith('ttt_loss_weighting.')):
            out[k] = v.detach().clone()
            notes.append(f'{k}: initial value kept (the released checkpoint '
                         'does not save its loss weighting)')
    missing = [k for k in own if k not in out]
    unexpected = [k for k in out if k not in own]
    shapes = [f'{k}: {tuple(out[k].shape)} vs model {tuple(own[k].shape)}'
              for k in own if k in out and tuple(out[k].shape) != tuple(
                  own[k].shape)]
    if missing or unexpected or shapes:
        raise ConversionError(
            'the converted weights do not fit the model:'
            + (f'\n  missing: {missing[:10]}' if missing else '')
            + (f'\n  unexpected: {unexpected[:10]}' if unexpected else '')
            + (f'\n  shapes: {shapes[:10]}' if shapes else ''))
    result = OrderedDict((k, out[k].to(own[k].dtype).contiguous())
                         for k in own)
    return result, notes


def build_model(config: str, cfg_options: Optional[dict] = None):
    """Build the model of an mm config (weights are not initialised)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import trttt_mm  # noqa: F401  (registers our types)
    from mmseg.registry import MODELS
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return MODELS.build(cfg.model)


def _same_file(a: str, b: str) -> bool:
    if osp.realpath(a) == osp.realpath(b):
        return True
    try:
        return osp.exists(b) and osp.samefile(a, b)
    except OSError:
        return False


def convert_file(src: str, dst: str, config: str,
                 cfg_options: Optional[dict] = None, head: str = 'relation',
                 released_tasks: Optional[Sequence[str]] = None,
                 overwrite: bool = False) -> List[str]:
    """Read ``src``, convert it for ``config``'s model, write ``dst``.

    Returns:
        The conversion notes.

    Raises:
        FileNotFoundError: ``src`` or the folder of ``dst`` is missing.
        FileExistsError: ``dst`` exists and ``overwrite`` is False.
        ValueError: ``dst`` is ``src``.
        ConversionError: the weights do not fit the model.
    """
    from trttt_mm.utils.checkpoint import read_checkpoint
    if not osp.isfile(src):
        raise FileNotFoundError(f'SRC: no checkpoint file at {src!r}')
    if _same_file(src, dst):
        raise ValueError(f'DST {dst!r} is the input checkpoint; the '
                         'converter never overwrites its input')
    if osp.lexists(dst) and not overwrite:
        raise FileExistsError(f'DST {dst!r} exists; pass --overwrite to '
                              'replace it')
    folder = osp.dirname(osp.abspath(dst))
    if not osp.isdir(folder):
        raise FileNotFoundError(f'DST: the folder {folder!r} does not exist')
    if osp.isdir(dst):
        raise ValueError(f'DST {dst!r} is a folder, not a file path')
    model = build_model(config, cfg_options)
    state = released_state_dict(read_checkpoint(src))
    converted, notes = convert(state, model, head, released_tasks)
    meta = dict(
        converter='tools/model_converters/s4t_to_trttt.py',
        converted_from=osp.basename(src),
        config=osp.basename(config),
        released_tasks=list(released_tasks or released_task_order(state)),
        notes=list(notes))
    fd, tmp = tempfile.mkstemp(prefix='.s4t_to_trttt_', suffix='.pth',
                               dir=folder)
    os.close(fd)
    try:
        torch.save(dict(state_dict=converted, meta=meta), tmp)
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return notes


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        description='Convert a released S4T (TR-TTT) checkpoint for a '
        'configs/trttt/released/ config.')
    parser.add_argument('src', help='released checkpoint (read only)')
    parser.add_argument('dst', help='converted checkpoint to write')
    parser.add_argument('--config', required=True,
                        help='the config whose model the weights are for')
    parser.add_argument('--head', default='relation',
                        help='name of the TR-TTT auxiliary head')
    parser.add_argument(
        '--released-tasks', default=None,
        help='comma-separated released task order (default: the order of '
        'the heads.<task> keys)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing DST')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (key=value)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from trttt_mm.utils.checkpoint import CheckpointMismatchError
    args = parse_args(argv)
    tasks = args.released_tasks.split(',') if args.released_tasks else None
    try:
        notes = convert_file(args.src, args.dst, args.config,
                             args.cfg_options, args.head, tasks,
                             args.overwrite)
    except (FileNotFoundError, FileExistsError, ValueError,
            CheckpointMismatchError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for line in notes:
        print(f'note: {line}')
    print(f'wrote {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
