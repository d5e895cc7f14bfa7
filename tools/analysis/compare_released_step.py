"""Time one TR-TTT test-time step of ours against one of the authors' released
code, on the same weights and the same batch, in one process.

    OMP_NUM_THREADS=1 python tools/analysis/compare_released_step.py \\
        --released-repo PATH [--config configs/trttt/released/t2n.py] \\
        [--released-config RELATIVE_YML] [--batch-size 2 --height 224 \\
        --width 288] [--threads 1] [--repeats 5] [--steps 1] \\
        [--profile-top 0] [--device cpu] [--out RESULT.json]

``PATH`` is a local work tree of the released repository (wooseong97/S4T-mtl
at commit 99641e2), given by the user. Nothing of it is part of this project:
its modules are imported from ``PATH`` at run time. It needs two small
packages that trttt_mm does not (``einops``, ``easydict``); the tool names
them when they are missing.

What is compared:

* **theirs**: the released test-time model (``S4T_MAE_v4`` built by the
  released ``utils.common_config.get_model`` from the released test-time
  config, ``--released-config``, default the Taskonomy → NYUD-v2 one), its
  test-time criterion (``MTLoss_S4T_v2`` from ``get_criterion``, with the
  ``TTT_L1`` loss) and its optimizer (``get_optimizer``: SGD, lr 2e-5, wd
  1e-6); one step is what the released adaptation loop does per step:
  forward, criterion, ``zero_grad``, backward, ``step`` (its tensorboard
  logging is not run);
* **ours**: the same weights converted with
  ``tools/model_converters/s4t_to_trttt.py`` and loaded into the model of
  ``--config``, adapted by ``TRTTTHook`` with the config's ``cfg.ttt``
  defaults. ``ours_hook`` is the hook's own ``before_test_iter`` with
  ``--steps`` steps (its per-batch work included: preprocessing, the
  guard's copy and checks, the norm-layer modes); ``ours_step`` is one
  step of its objective alone (what ``tools/analysis/benchmark_ttt_step.py``
  times: loss, backward, update), the counterpart of the released step.

Before timing, the outputs are checked to agree: the main predictions (norm
layers in eval mode and in the test-time train mode) and, with the same
token mask given to both, the TRL predictions and the test-time losses (per
task and in total). A disagreement stops the tool (exit 1, nothing timed).

The released code is run as it is, with four adjustments made in memory and
listed in the result's ``notes``: its backbone is built without downloading
ImageNet weights (the weights are random, then both models share them);
its feature size (``TRAIN.SCALE``) is set to the batch's image size, as
it is when it runs at its own image size; ``numpy.float``, which numpy
>= 1.24 no longer has and its positional embedding uses, is aliased to
``float``; and what it prints goes to stderr (the result is on stdout).

The repeats alternate between the variants (the order rotates each round);
the result has the median of each, the ratios ours / theirs and every
sample, and the same for the process's CPU time (``cpu_s``, ``cpu_ratio``;
with one thread it is what the step costs in work, much less disturbed by
other jobs on a shared machine than the wall time). ``--profile-top K``
profiles one call of each variant (``torch.profiler``) and adds, for each
pair (ours_hook / theirs, ours_step / theirs, ours_hook / ours_step), the K
operators with the largest self CPU time of each and the K largest
differences.

The released repository is on ``sys.path`` only while its model is built;
its modules then leave ``sys.modules``.
"""
import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Sequence

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)

#: The released repository and commit the tool was written against.
RELEASED = 'wooseong97/S4T-mtl at commit 99641e2'
#: Files of the released repository the tool imports or reads.
RELEASED_FILES = (
    'models/TTT_MT.py',
    'models/TTT_model/Joint_MAE.py',
    'models/cnn/resnet_FPN.py',
    'models/heads.py',
    'losses/loss_schemes.py',
    'losses/loss_functions.py',
    'utils/config.py',
    'utils/common_config.py',
    'configs/mypath.py',
)
#: The released test-time config of the Taskonomy -> NYUD-v2 setting.
DEFAULT_RELEASED_CONFIG = 'configs/S4T/ttt/taskonomy_nyud_resnet50_S4T.yml'
#: Top-level package names of the released repository (imported from it).
RELEASED_PACKAGES = ('configs', 'data', 'evaluation', 'losses', 'models',
                     'utils')
#: Modules the released code imports that trttt_mm does not depend on
#: (import name -> pip package).
EXTRA_PACKAGES = {'einops': 'einops', 'easydict': 'easydict',
                  'yaml': 'PyYAML', 'cv2': 'opencv-python-headless'}
VARIANTS = ('ours_hook', 'ours_step', 'theirs')
#: Agreement tolerances (relative to the largest magnitude of the output).
RTOL = 1e-4


class ToolError(ValueError):
    """An input or an outcome that stops the comparison (exit 1)."""


# ----------------------------------------------------------------- arguments
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--released-repo', required=True,
                        help='local work tree of ' + RELEASED)
    parser.add_argument('--released-config', default=DEFAULT_RELEASED_CONFIG,
                        help='the released test-time config, relative to '
                        'the released repository (default: %(default)s)')
    parser.add_argument('--config',
                        default='configs/trttt/released/t2n.py',
                        help='our config whose model takes the converted '
                        'weights (default: %(default)s)')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--height', type=int, default=224)
    parser.add_argument('--width', type=int, default=288)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (set OMP_NUM_THREADS to the same)')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--steps', type=int, default=1,
                        help='steps per call of each variant (ours_hook: '
                        'per batch); times are per step')
    parser.add_argument('--profile-top', type=int, default=0,
                        help='list the K operators with the most self CPU '
                        'time of one call of each side (0: no profile)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=None,
                        help='also write the result JSON to this file')
    return parser.parse_args(argv)


def missing_packages(names: Optional[Dict[str, str]] = None) -> List[str]:
    """pip names of the packages the released code imports that are not
    installed."""
    names = EXTRA_PACKAGES if names is None else names
    return [pip for mod, pip in names.items()
            if importlib.util.find_spec(mod) is None]


def check_args(args) -> None:
    """Refuse bad arguments before anything is built.

    Raises:
        ToolError: naming the argument, the value and what was expected.
    """
    repo = args.released_repo
    if not osp.exists(repo):
        raise ToolError(f'--released-repo: no such folder {repo!r} (expected '
                        f'a local work tree of {RELEASED})')
    if not osp.isdir(repo):
        raise ToolError(f'--released-repo: {repo!r} is not a folder '
                        f'(expected a local work tree of {RELEASED})')
    absent = [f for f in RELEASED_FILES
              if not osp.isfile(osp.join(repo, f))]
    if absent:
        raise ToolError(f'--released-repo: {repo!r} lacks {absent}; expected '
                        f'a work tree of {RELEASED}')
    yml = osp.join(repo, args.released_config)
    if not osp.isfile(yml):
        raise ToolError(f'--released-config: no file {args.released_config!r}'
                        f' in the released repository {repo!r}')
    if not osp.isfile(args.config) and osp.isfile(osp.join(ROOT,
                                                          args.config)):
        args.config = osp.join(ROOT, args.config)  # from the repository
    if not osp.isfile(args.config):
        raise ToolError(f'--config: no such file {args.config!r}')
    for name, value, low in (('batch-size', args.batch_size, 1),
                             ('threads', args.threads, 1),
                             ('repeats', args.repeats, 1),
                             ('steps', args.steps, 1),
                             ('profile-top', args.profile_top, 0)):
        if value < low:
            raise ToolError(f'--{name} must be >= {low}, got {value}')
    for name, value in (('height', args.height), ('width', args.width)):
        if value < 32 or value % 32:
            raise ToolError(
                f'--{name} must be a positive multiple of 32, got {value}: '
                'our preprocessor pads to a multiple of 32 and both models '
                'must see the same tensor')
    if not (args.device == 'cpu' or args.device.startswith('cuda')):
        raise ToolError(f"--device must be 'cpu' or 'cuda[:i]', got "
                        f'{args.device!r}')
    if args.out and not osp.isdir(osp.dirname(osp.abspath(args.out))):
        raise ToolError(f'--out: the folder of {args.out!r} does not exist')
    missing = missing_packages()
    if missing:
        raise ToolError(
            f'the released code imports {missing}, which are not installed '
            f'(they are not dependencies of trttt_mm): pip install '
            f'{" ".join(missing)}')


# ------------------------------------------------------------ released code
def released_commit(repo: str) -> str:
    """The commit of the released work tree, or a note why it is unknown."""
    try:
        out = subprocess.run(['git', '-C', repo, 'rev-parse', 'HEAD'],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return f'unknown ({e})'
    if out.returncode != 0 or not out.stdout.strip():
        return 'unknown (not a git work tree)'
    return out.stdout.strip()


def import_released(repo: str, notes: List[str]) -> SimpleNamespace:
    """The released modules, imported from ``repo``.

    Raises:
        ToolError: a package of the same name is already imported from
            elsewhere, or a module does not come from ``repo``.
    """
    import numpy as np
    real = osp.realpath(repo)
    for name in RELEASED_PACKAGES:
        mod = sys.modules.get(name)
        path = getattr(mod, '__file__', None) or ''
        if mod is not None and not osp.realpath(path).startswith(real):
            raise ToolError(
                f'a module named {name!r} is already imported from '
                f'{path or mod!r}; run the tool in a process of its own')
    if real not in [osp.realpath(p) for p in sys.path]:
        sys.path.insert(0, real)
    if 'float' not in np.__dict__:
        np.float = float
        notes.append('numpy.float (gone since numpy 1.24, used by the '
                     'released sin-cos embedding) aliased to float')
    mods = SimpleNamespace()
    for attr, name in (('config', 'utils.config'),
                       ('common', 'utils.common_config'),
                       ('resnet', 'models.cnn.resnet_FPN'),
                       ('joint', 'models.TTT_model.Joint_MAE')):
        with contextlib.redirect_stdout(sys.stderr):
            mod = importlib.import_module(name)
        if not osp.realpath(mod.__file__).startswith(real):
            raise ToolError(f'{name} was imported from {mod.__file__}, not '
                            f'from the released repository {repo!r}')
        setattr(mods, attr, mod)
    return mods


@contextlib.contextmanager
def released_imports(repo: str):
    """The released repository on ``sys.path`` while its code is imported
    and built; afterwards its path and its modules leave (the built
    objects keep what they use), so that nothing else in the process
    imports a package of the same name from it."""
    real = osp.realpath(repo)
    before = list(sys.path)
    loaded = set(sys.modules)
    try:
        yield
    finally:
        sys.path[:] = before
        released = []
        for name, mod in list(sys.modules.items()):
            if name in loaded:
                continue
            # a module's file, or a namespace package's folders
            paths = [getattr(mod, '__file__', None) or '']
            try:
                paths += [str(p) for p in getattr(mod, '__path__', ())]
            except TypeError:  # not a package's path list
                pass
            if any(p and osp.realpath(p).startswith(real + os.sep)
                   for p in paths):
                released.append(name)
        for name in released:
            del sys.modules[name]


@contextlib.contextmanager
def _no_download(resnet_module, arch: str):
    """Build the released backbone without its ImageNet download."""
    orig = getattr(resnet_module, arch)

    def build(pretrained=False, **kwargs):
        return orig(pretrained=False, **kwargs)

    setattr(resnet_module, arch, build)
    try:
        yield
    finally:
        setattr(resnet_module, arch, orig)


def build_released(mods, yml: str, height: int, width: int, device: str,
                   seed: int, notes: List[str]) -> SimpleNamespace:
    """The released test-time model, criterion and optimizer, with random
    weights (seeded; batch-norm statistics and affine parameters moved away
    from their initial values so that a wrong map of them shows)."""
    import torch
    with contextlib.redirect_stdout(sys.stderr):
        p = mods.config.create_config(yml, {'run_mode': 'infer'})
        notes.append(f'released TRAIN.SCALE {tuple(p.TRAIN.SCALE)} set to '
                     f'the batch size {(height, width)} (it sizes the '
                     'concatenated features)')
        p.TRAIN.SCALE = p.TEST.SCALE = (height, width)
        if not str(p.backbone).startswith('resnet'):
            raise ToolError(f'the released config {yml!r} has backbone '
                            f'{p.backbone!r}; the converter maps ResNets')
        torch.manual_seed(seed)
        with _no_download(mods.resnet, p.backbone):
            model = mods.common.get_model(p)
        notes.append('released backbone built without the ImageNet '
                     'download (random weights, shared by both models)')
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    n = m.num_features
                    m.weight.copy_(0.5 + torch.rand(n, generator=g))
                    m.bias.copy_(0.4 * torch.rand(n, generator=g) - 0.2)
                    m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
                    m.running_var.copy_(0.5 + 1.5 * torch.rand(n,
                                                               generator=g))
        model = model.to(device)
        criterion = mods.common.get_criterion(p).to(device)
        _, optimizer = mods.common.get_optimizer(p, model)
    return SimpleNamespace(p=p, model=model, criterion=criterion,
                           optimizer=optimizer,
                           tasks=list(p.TASKS.NAMES))


def released_targets(gts: Dict[str, 'torch.Tensor'],
                     released_tasks: Sequence[str],
                     task_of: Dict[str, str]) -> Dict[str, 'torch.Tensor']:
    """The ground truth of the batch as the released criterion reads it:
    keyed by the released task names, every invalid pixel 255 (ours: depth
    0, all-zero normals, semseg and edge 255)."""
    import torch
    out = {}
    for r in released_tasks:
        t = task_of[r]
        if t not in gts:
            raise ToolError(f'the batch has no ground truth for {t!r} '
                            f'(released task {r!r})')
        gt = gts[t].float()
        if t == 'depth':
            gt = torch.where(gt == 0, torch.full_like(gt, 255.0), gt)
        elif t == 'normal':
            invalid = (gt == 0).all(dim=1, keepdim=True).expand_as(gt)
            gt = torch.where(invalid, torch.full_like(gt, 255.0), gt)
        out[r] = gt
    return out


class _NoiseTorch:
    """``torch`` for the released masking: ``rand`` returns the given noise
    (so both models mask the same tokens), everything else is torch's."""

    def __init__(self, torch_module, noise):
        self._torch = torch_module
        self._noise = noise

    def rand(self, *size, device=None, **kwargs):
        shape = tuple(size[0]) if len(size) == 1 and isinstance(
            size[0], (tuple, list)) else tuple(size)
        if shape != tuple(self._noise.shape):
            raise ToolError(
                f'the released masking asked for noise of shape {shape}, '
                f'the mask has {tuple(self._noise.shape)}')
        return self._noise.to(device)

    def __getattr__(self, name):
        return getattr(self._torch, name)


@contextlib.contextmanager
def released_masking(joint_module, noise):
    """Give the released masking ``noise`` instead of ``torch.rand``."""
    orig = joint_module.torch
    joint_module.torch = _NoiseTorch(orig, noise)
    try:
        yield
    finally:
        joint_module.torch = orig


def noise_for(mask):
    """Masking noise keeping exactly the visible tokens of ``mask`` ((B, L)
    bool, True = masked): the released masking keeps the lowest noise."""
    import torch
    g = torch.Generator().manual_seed(0)
    return mask.float() + 0.5 * torch.rand(mask.shape, generator=g).to(
        mask.device)


# -------------------------------------------------------------- comparison
def _max_diff(a, b) -> Dict[str, float]:
    a, b = a.detach().float(), b.detach().float()
    if a.shape != b.shape:
        raise ToolError(f'output shapes differ: ours {tuple(a.shape)}, '
                        f'released {tuple(b.shape)}')
    return dict(max_abs_diff=float((a - b).abs().max()),
                max_abs=float(b.abs().max()))


def _agree(name: str, d: Dict[str, float], rtol: float = RTOL) -> None:
    if not d['max_abs_diff'] <= rtol * max(1.0, d['max_abs']):
        raise ToolError(
            f'{name}: ours and the released code disagree (max abs diff '
            f'{d["max_abs_diff"]:.3g} at magnitude {d["max_abs"]:.3g}); the '
            'timings would compare different computations')


def check_agreement(ours, hook, theirs, mods, images, data_samples,
                    targets, task_of, seed: int) -> dict:
    """Main predictions, TRL predictions and test-time losses of both on
    the batch (same token mask). Raises ToolError where they differ."""
    import torch
    report = dict(main_eval={}, main_ttt_mode={}, trl={}, losses={})
    theirs.model.eval()
    ours.eval()
    with torch.no_grad(), contextlib.redirect_stdout(sys.stderr):
        mine = ours.forward_branches(images, ('main', ))['main']
        rel = theirs.model(images)[0]
    for r in theirs.tasks:
        d = _max_diff(mine[task_of[r]], rel[r])
        _agree(f'main prediction {r!r} (eval mode)', d)
        report['main_eval'][r] = d

    head = hook.head_name
    learner = ours.aux_heads[head].learner
    mask = learner.make_mask(images.shape[0], device=images.device,
                             generator=torch.Generator().manual_seed(seed))
    if not bool((mask == mask[:, :1]).all()):
        raise ToolError('our mask differs between tasks; the released code '
                        "masks every task alike (mask_strategy='same')")
    captured = {}

    def forward(x, branches, mask=None, generator=None):
        # the hook's forward, with the mask given to the released code too
        out = ours(x, None, mode='branches', branches=branches,
                   mask=fixed_mask, generator=generator)
        captured.update(out)
        return out

    fixed_mask = mask
    theirs.model.train()
    hook._set_mode(ours, hook.norm_mode)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        losses = hook.ttt_loss(forward, images, data_samples, gen)
        with released_masking(mods.joint, noise_for(mask[:, 0])), \
                contextlib.redirect_stdout(sys.stderr):
            pre, trl, aux = theirs.model(images)
            terms = theirs.criterion(pre, trl, aux, targets,
                                     tasks=theirs.tasks)
    weights = theirs.p.loss_kwargs.loss_weights
    for r in theirs.tasks:
        t = task_of[r]
        d = _max_diff(captured['main'][t], pre[r])
        _agree(f'main prediction {r!r} (test-time mode)', d)
        report['main_ttt_mode'][r] = d
        d = _max_diff(captured[head]['trl'][t], trl[r])
        _agree(f'TRL prediction {r!r}', d)
        report['trl'][r] = d
        # both weigh the task's L1 by w_t squared
        a = float(losses[f'loss_{t}'])
        b = float(terms[f'S4T_{r}_ttt']) * float(weights[r])
        _agree(f'test-time loss of {r!r}', dict(
            max_abs_diff=abs(a - b), max_abs=abs(b)), rtol=RTOL)
        report['losses'][r] = dict(ours=a, released=b)
    total = float(sum(losses.values()) * hook.loss_scale)
    theirs_total = float(terms['total'])
    _agree('total test-time loss', dict(max_abs_diff=abs(total - theirs_total),
                                        max_abs=abs(theirs_total)))
    report['losses']['total'] = dict(ours=total, released=theirs_total)
    return report


def alternate(fns: Dict[str, Callable[[], object]], repeats: int,
              device: str, sync: Optional[Callable[[str], None]] = None
              ) -> Dict[str, Dict[str, List[float]]]:
    """Seconds of each call of each function, ``repeats`` rounds after one
    warm-up round; within a round the order rotates by one each time.
    ``sync(device)`` waits for the device (default
    :func:`trttt_mm.utils.sync`).

    Returns:
        ``dict(wall={name: [s, ...]}, cpu={name: [s, ...]})``: wall-clock
        seconds, and the process's CPU seconds (``time.process_time``; on a
        shared machine the CPU time of a one-thread run is far less
        disturbed by other jobs than the wall time).
    """
    if sync is None:
        from trttt_mm.utils import sync
    names = list(fns)
    for name in names:
        fns[name]()
    sync(device)
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            c = time.process_time()
            t = time.perf_counter()
            fns[name]()
            sync(device)
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    return dict(wall=wall, cpu=cpu)


def op_table(fn: Callable[[], object], device: str) -> Dict[str, list]:
    """``{operator: [self CPU ms, calls]}`` of one call of ``fn``."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU]
    if str(device).startswith('cuda'):
        acts.append(ProfilerActivity.CUDA)
    with profile(activities=acts) as prof:
        fn()
    return {e.key: [e.self_cpu_time_total / 1000.0, e.count]
            for e in prof.key_averages()}


def profile_diff(a: Dict[str, list], b: Dict[str, list], top: int,
                 names: Sequence[str] = ('ours', 'theirs')) -> dict:
    """The ``top`` operators of each of two op tables by self time and the
    ``top`` largest differences ``a - b`` (ms, calls)."""
    na, nb = names

    def head(table):
        rows = sorted(table.items(), key=lambda kv: -kv[1][0])[:top]
        return [dict(op=k, self_ms=round(v[0], 2), calls=v[1])
                for k, v in rows]

    diffs = []
    for k in set(a) | set(b):
        x, y = a.get(k, [0.0, 0]), b.get(k, [0.0, 0])
        diffs.append({'op': k, f'{na}_ms': round(x[0], 2),
                      f'{nb}_ms': round(y[0], 2),
                      'diff_ms': round(x[0] - y[0], 2),
                      f'{na}_calls': x[1], f'{nb}_calls': y[1]})
    diffs.sort(key=lambda d: -abs(d['diff_ms']))
    return {f'{na}_total_self_ms': round(sum(v[0] for v in a.values()), 1),
            f'{nb}_total_self_ms': round(sum(v[0] for v in b.values()), 1),
            f'{na}_top': head(a), f'{nb}_top': head(b),
            'largest_differences': diffs[:top]}


def _load_tool(folder: str, name: str):
    """``tools/<folder>/<name>.py`` as a module (tools are not a package)."""
    key = f'trttt_tool_{folder}_{name}'
    if key not in sys.modules:
        path = osp.join(ROOT, 'tools', folder, name + '.py')
        spec = importlib.util.spec_from_file_location(key, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules[key] = mod
    return sys.modules[key]


def compare(args) -> dict:
    """Run the comparison described in the module docstring.

    Raises:
        ToolError: bad arguments, missing packages, or outputs that do not
            agree.
    """
    check_args(args)
    import torch
    from mmengine.config import Config
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import init_default_scope

    import trttt_mm  # noqa: F401
    from trttt_mm.tasks import stack_gts
    from trttt_mm.utils import random_multitask_batch
    bench = _load_tool('analysis', 'benchmark_ttt_step')
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise ToolError(f'--device {args.device}: CUDA is not available')
    torch.set_num_threads(args.threads)
    init_default_scope('mmseg')
    notes = ['the released step is its adaptation loop body (forward, '
             'criterion, zero_grad, backward, step) without its '
             'tensorboard logging']
    repo = args.released_repo
    with released_imports(repo):
        mods = import_released(repo, notes)
        theirs = build_released(mods, osp.join(repo, args.released_config),
                                args.height, args.width, args.device,
                                args.seed, notes)

    conv = _load_tool('model_converters', 's4t_to_trttt')
    task_of = {r: conv.RELEASED_TASKS[r] for r in theirs.tasks}
    cfg = Config.fromfile(args.config)
    ours = conv.build_model(args.config)
    state = conv.released_state_dict(
        {k: v.detach().cpu() for k, v in theirs.model.state_dict().items()})
    converted, conv_notes = conv.convert(state, ours)
    ours.load_state_dict(converted, strict=True)
    ours = ours.to(args.device)
    notes += [f'converter: {n}' for n in conv_notes]

    ncls = ours.decode_head.num_classes or 1
    n, h, w = args.batch_size, args.height, args.width
    batch = random_multitask_batch(n, h, w, ncls,
                                   torch.Generator().manual_seed(args.seed))
    name = f'compare_released_step_{os.getpid()}'
    runner = SimpleNamespace(
        model=ours, message_hub=MessageHub.get_instance(name),
        logger=MMLogger.get_instance(name, log_level='WARNING'))
    hook = bench.build_hook(cfg, 'TRTTTHook', dict(steps=args.steps))
    hook.before_test(runner)
    data = ours.data_preprocessor(batch, False)
    images = data['inputs']
    if tuple(images.shape[-2:]) != (h, w):
        raise ToolError(f'our preprocessor made {tuple(images.shape[-2:])} '
                        f'of {(h, w)}; the released model would see another '
                        'tensor')
    targets = released_targets(stack_gts(data['data_samples'], ours.tasks),
                               theirs.tasks, task_of)
    agreement = check_agreement(ours, hook, theirs, mods, images,
                                data['data_samples'], targets, task_of,
                                args.seed)

    _, core = bench.make_steps(ours, hook, batch,
                               torch.Generator().manual_seed(args.seed))

    def ours_hook():
        hook.before_test_iter(runner, 0, batch)

    def ours_step():
        hook._set_mode(ours, hook.norm_mode)
        for _ in range(args.steps):
            core()

    def theirs_step():
        theirs.model.train()
        for _ in range(args.steps):
            out = theirs.model(images)
            terms = theirs.criterion(*out, targets, tasks=theirs.tasks)
            theirs.optimizer.zero_grad()
            terms['total'].backward()
            theirs.optimizer.step()

    fns = dict(ours_hook=ours_hook, ours_step=ours_step, theirs=theirs_step)
    with contextlib.redirect_stdout(sys.stderr):
        samples = alternate(fns, args.repeats, args.device)
        profile = None
        if args.profile_top:
            tables = {k: op_table(fn, args.device) for k, fn in fns.items()}
            profile = dict(
                ours_hook_vs_theirs=profile_diff(
                    tables['ours_hook'], tables['theirs'], args.profile_top,
                    ('ours_hook', 'theirs')),
                ours_step_vs_theirs=profile_diff(
                    tables['ours_step'], tables['theirs'], args.profile_top,
                    ('ours_step', 'theirs')),
                ours_hook_vs_ours_step=profile_diff(
                    tables['ours_hook'], tables['ours_step'],
                    args.profile_top, ('ours_hook', 'ours_step')))
    med = {k: statistics.median(v) / args.steps
           for k, v in samples['wall'].items()}
    cpu = {k: statistics.median(v) / args.steps
           for k, v in samples['cpu'].items()}
    result = dict(
        released=RELEASED,
        released_repo=repo,
        released_commit=released_commit(repo),
        released_config=args.released_config,
        config=args.config,
        device=args.device,
        threads=torch.get_num_threads(),
        omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
        batch=[n, 3, h, w],
        repeats=args.repeats,
        steps=args.steps,
        ours_hook_s=round(med['ours_hook'], 4),
        ours_step_s=round(med['ours_step'], 4),
        theirs_step_s=round(med['theirs'], 4),
        ratio=round(med['ours_hook'] / med['theirs'], 3),
        ratio_step=round(med['ours_step'] / med['theirs'], 3),
        cpu_s={k: round(v, 4) for k, v in cpu.items()},
        cpu_ratio=round(cpu['ours_hook'] / cpu['theirs'], 3),
        cpu_ratio_step=round(cpu['ours_step'] / cpu['theirs'], 3),
        samples_s={kind: {k: [round(x, 4) for x in v]
                          for k, v in per.items()}
                   for kind, per in samples.items()},
        agreement=agreement,
        notes=notes)
    if profile is not None:
        result['profile'] = profile
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = compare(args)
    except ToolError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
