"""Fingerprint of what every test-time hook does to a model, to show that a
refactoring of the hooks changed nothing.

    python tools/analysis/hook_fingerprint.py --out BEFORE.json
    ... change the code ...
    python tools/analysis/hook_fingerprint.py --out AFTER.json \\
        --compare BEFORE.json

A tiny multi-task model (ResNetV1c-18 at width 8, the four dense tasks,
every auxiliary head a registered hook reads) is trained for a few
iterations on seeded synthetic data, its heads' source statistics are filled,
and then, for each variant below (every registered test-time hook with its
defaults from ``configs/_base_/ttt/ttt_defaults.py``, steps capped, plus
non-default norm scopes, reset policies, loss presets and planted faults),
a copy of that model goes through ``before_test``, two batches of
``before_test_iter`` and ``after_test``, as under ``Runner.test``. Recorded
per batch: a SHA-256 of every tensor of the state dict (weights and buffers)
after the adaptation, of the main predictions with the prediction-time norm
modes, the modes of every module, the published step losses; per variant the
counted steps and skips and the state after ``after_test``.

``--compare`` names every difference and exits with 1 when there is one.
``--dump DIR`` also saves each variant's adapted state dicts (``.pth``), to
inspect a difference. The fingerprint depends on the torch build and the
thread count (one thread, set here): compare runs of one machine.
"""
import argparse
import copy
import hashlib
import json
import os
import os.path as osp
import sys
from types import SimpleNamespace

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)

#: Steps per batch of every variant (the defaults reach 50; two steps show
#: the carry-over between steps, the guard's per-step checks and the curve).
MAX_STEPS = 2
#: (height, width) of the images of each test batch: two images of
#: different sizes, so the preprocessor pads and the objectives mask.
BATCH_SIZES = ((40, 50), (36, 44))


def tiny_model_cfg() -> dict:
    """The demo's kind of model at toy size, with every method's head."""
    return dict(
        type='MultiTaskEncoderDecoder',
        data_preprocessor=dict(
            type='MultiTaskDataPreProcessor', mean=[123.7, 116.3, 103.5],
            std=[58.4, 57.1, 57.4], bgr_to_rgb=False, size_divisor=32),
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                      base_channels=8, out_indices=(0, 1, 2, 3)),
        decode_head=dict(type='MultiTaskHead', in_channels=[8, 16, 32, 64],
                         channels=16, head_channels=8, num_classes=3,
                         tasks=('semseg', 'depth', 'normal', 'edge')),
        aux_heads=dict(
            relation=dict(
                type='TaskRelationHead',
                projection=dict(type='TaskProjectionNeck',
                                latent_channels=8),
                learner=dict(type='TaskRelationLearner', input_size=16,
                             patch_size=4, embed_dim=16, depth=1,
                             decoder_depth=1, num_heads=2, mask_ratio=0.5)),
            rotation=dict(type='RotationHead', in_index=2),
            simclr=dict(type='ContrastiveProjectionHead', stats_chunk=4),
            flow=dict(type='FlowHead', hidden_channels=8),
            clust3=dict(type='ClusterHead', num_projectors=3),
            ncttt=dict(type='NoiseContrastHead', embed_channels=32),
            actmad=dict(type='ActMADStatsHead')))


def make_batch(sizes, seed: int, num_classes: int = 3) -> dict:
    """A data batch of uint8 images of the given sizes with ground truth."""
    import torch
    from trttt_mm.utils import random_multitask_batch
    return random_multitask_batch(
        len(sizes), 1, 1, num_classes,
        torch.Generator().manual_seed(seed), sizes=list(sizes))


def train_source_model(iters: int = 4):
    """The tiny model after ``iters`` seeded training steps, with the source
    statistics of its heads filled."""
    import torch
    from mmseg.registry import MODELS
    from trttt_mm.engine.hooks import collect_source_stats
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for i in range(iters):
        data = model.data_preprocessor(
            make_batch(((32, 32), ) * 4, seed=100 + i), True)
        losses = model.loss(data['inputs'], data['data_samples'])
        opt.zero_grad()
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    collect_source_stats(
        model, [make_batch(((32, 32), ) * 4, seed=200 + i) for i in range(2)])
    model.eval()
    return model


def _defaults() -> dict:
    from mmengine.config import Config
    return Config.fromfile(osp.join(
        ROOT, 'configs', '_base_', 'ttt', 'ttt_defaults.py')).ttt.to_dict()


def variants() -> list:
    """``(label, hook config, fault)``: every registered hook with its
    defaults, then the non-default choices that take other code paths."""
    from trttt_mm.engine.hooks import ttt_hook_names
    defaults = _defaults()
    out = []
    for name in ttt_hook_names():
        cfg = dict(type=name, **defaults.get(name, {}))
        if 'steps' in cfg:
            cfg['steps'] = min(int(cfg['steps']), MAX_STEPS)
        out.append((name, cfg, None))
    base = {label: cfg for label, cfg, _ in out}

    def var(label, name, fault=None, **kw):
        cfg = dict(base[name])
        cfg.update(kw)
        out.append((label, cfg, fault))

    var('TRTTTHook/released', 'TRTTTHook', loss='released')
    var('TRTTTHook/paper', 'TRTTTHook', loss='paper')
    var('TRTTTHook/norm_eval', 'TRTTTHook', norm_mode='eval')
    var('TRTTTHook/predict_train', 'TRTTTHook', predict_norm_mode='train')
    var('TRTTTHook/params_norm_clip', 'TRTTTHook', params='norm',
        grad_clip=0.5, optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
    var('TRTTTHook/episodic', 'TRTTTHook', reset='episodic')
    var('TRTTTHook/single_batch', 'TRTTTHook', reset='single_batch')
    var('TRTTTHook/weighting', 'TRTTTHook',
        loss_weighting=dict(type='UncertaintyWeighting'))
    var('TRTTTHook/nan_at_step2', 'TRTTTHook', fault='nan_loss',
        optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
    var('TRTTTHook/overflow_update2', 'TRTTTHook', fault='overflow',
        optimizer=dict(type='Adam', lr=0.01))
    var('TRTTTHook/nan_buffer', 'TRTTTHook', fault='nan_buffer')
    var('TENTHook/episodic', 'TENTHook', reset='episodic', steps=2)
    var('TENTHook/nan_at_step2', 'TENTHook', fault='nan_loss', steps=2)
    var('TIPIHook/no_random_init', 'TIPIHook', random_init=False)
    var('TTTHook/all', 'TTTHook', params='all')
    var('TTTHook/shared_eval', 'TTTHook', params='shared', norm_mode='eval',
        predict_norm_mode='train')
    var('TTTPlusPlusHook/episodic', 'TTTPlusPlusHook', reset='episodic')
    var('TTTFlowHook/scope_model', 'TTTFlowHook', norm_scope='model')
    var('TTTFlowHook/scope_encoder', 'TTTFlowHook', norm_scope='encoder',
        predict_norm_mode='train')
    var('TTTFlowHook/params_all', 'TTTFlowHook', adapt_up_to=None,
        params='all')
    var('ClusT3Hook/scope_adapted', 'ClusT3Hook', norm_scope='adapted')
    var('NCTTTHook/disc_eval', 'NCTTTHook', discriminator_mode='eval')
    var('NCTTTHook/up_to_4', 'NCTTTHook', adapt_up_to=4, norm_scope='model')
    var('ActMADHook/two_steps', 'ActMADHook', steps=2,
        optimizer=dict(type='SGD', lr=1e-2, momentum=0.9))
    var('NormStatsHook/batch', 'NormStatsHook', mode='batch')
    var('NormStatsHook/mix', 'NormStatsHook', mode='mix')
    var('NormStatsHook/ema3', 'NormStatsHook', passes=3)
    return out


def _digest(t) -> str:
    import torch
    t = t.detach().cpu().contiguous().reshape(-1)
    h = hashlib.sha256(f'{t.dtype}{tuple(t.shape)}'.encode())
    if t.numel():
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:24]


def _state_digests(model) -> dict:
    return {k: _digest(v) for k, v in model.state_dict().items()}


def _planted(hook, fault: str):
    """Plant ``fault`` in a built hook (instance attributes only)."""
    import torch
    if fault == 'nan_loss':  # the loss turns NaN on the second step
        orig = hook.ttt_loss

        def ttt_loss(*args, **kwargs):
            losses = orig(*args, **kwargs)
            hook._calls = getattr(hook, '_calls', 0) + 1
            if hook._calls == 2:
                key = sorted(losses)[0]
                losses[key] = losses[key] * float('nan')
            return losses

        hook.ttt_loss = ttt_loss
    elif fault == 'overflow':  # the second update leaves an inf weight
        orig_build = hook._build_optimizer

        def build(model):
            opt = orig_build(model)
            step = opt.step

            def overflowing(*args, **kwargs):
                out = step(*args, **kwargs)
                hook._updates = getattr(hook, '_updates', 0) + 1
                if hook._updates == 2:
                    with torch.no_grad():
                        hook._params[0].view(-1)[0] = float('inf')
                return out

            opt.step = overflowing
            return opt

        hook._build_optimizer = build
    elif fault != 'nan_buffer' and fault is not None:
        raise ValueError(f'unknown fault {fault!r}')


def run_variant(source, cfg: dict, fault=None, dump=None) -> dict:
    """Fingerprint of one hook configuration on a copy of ``source``."""
    import torch
    from mmengine.logging import MessageHub, MMLogger
    from mmseg.registry import HOOKS
    from trttt_mm.engine.hooks.ttt_hook import BATCH_LOSSES_KEY
    model = copy.deepcopy(source)
    hub = MessageHub.get_instance('hook_fingerprint')
    logger = MMLogger.get_instance('hook_fingerprint')
    runner = SimpleNamespace(model=model, message_hub=hub, logger=logger)
    torch.manual_seed(0)
    hook = HOOKS.build(copy.deepcopy(cfg))
    _planted(hook, fault)
    if fault == 'nan_buffer':
        bn = [m for m in model.modules()
              if isinstance(m, torch.nn.BatchNorm2d)][0]
        bn.running_mean[0] = float('nan')
    hook.before_test(runner)
    batches = [make_batch(BATCH_SIZES, seed=300 + b) for b in range(2)]
    record = []
    for b, batch in enumerate(batches):
        hub.update_info(BATCH_LOSSES_KEY, None, resumed=False)
        hook.before_test_iter(runner, b, batch)
        with torch.no_grad():
            data = model.data_preprocessor(batch, False)
            pred = model.forward_branches(data['inputs'], ('main', ))['main']
        modes = ''.join('1' if m.training else '0' for m in model.modules())
        losses = hub.get_info(BATCH_LOSSES_KEY)
        record.append(dict(
            state=_state_digests(model),
            pred={k: _digest(v) for k, v in pred.items()},
            modes=hashlib.sha256(modes.encode()).hexdigest()[:24],
            losses=[float(x).hex() for x in (losses or [])]))
        if dump is not None:
            torch.save({k: v.detach().clone()
                        for k, v in model.state_dict().items()},
                       f'{dump}_batch{b}.pth')
    metrics = {}
    hook.after_test_epoch(runner, metrics)
    hook.after_test(runner)
    return dict(batches=record, metrics=metrics,
                after_test=_state_digests(model))


def compare(new: dict, old: dict) -> list:
    """Human-readable differences between two fingerprints."""
    diffs = []
    for label in sorted(set(old['variants']) | set(new['variants'])):
        a, b = old['variants'].get(label), new['variants'].get(label)
        if a is None or b is None:
            diffs.append(f'{label}: only in the '
                         f'{"new" if a is None else "old"} fingerprint')
            continue
        if a.get('config') != b.get('config'):
            diffs.append(f'{label}: the hook configs differ: '
                         f'{a.get("config")} -> {b.get("config")}')
        if a['metrics'] != b['metrics']:
            diffs.append(f'{label}: metrics {a["metrics"]} -> '
                         f'{b["metrics"]}')
        for i, (x, y) in enumerate(zip(a['batches'], b['batches'])):
            for part in ('pred', 'state'):
                keys = sorted(k for k in set(x[part]) | set(y[part])
                              if x[part].get(k) != y[part].get(k))
                if keys:
                    diffs.append(f'{label}: batch {i} {part} differs in '
                                 f'{len(keys)} tensors, e.g. {keys[:4]}')
            for part in ('modes', 'losses'):
                if x[part] != y[part]:
                    diffs.append(f'{label}: batch {i} {part} differ')
        keys = sorted(k for k in set(a['after_test']) | set(b['after_test'])
                      if a['after_test'].get(k) != b['after_test'].get(k))
        if keys:
            diffs.append(f'{label}: state after the test differs in '
                         f'{len(keys)} tensors, e.g. {keys[:4]}')
    return diffs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', help='fingerprint JSON (required unless '
                        '--list)')
    parser.add_argument('--compare', default=None,
                        help='an earlier fingerprint JSON')
    parser.add_argument('--only', nargs='+', default=None,
                        help='variant labels (default: all)')
    parser.add_argument('--dump', default=None,
                        help='folder for the adapted state dicts')
    parser.add_argument('--list', action='store_true',
                        help='list the variants and exit')
    args = parser.parse_args(argv)

    import torch
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    import trttt_mm  # noqa: F401  (registers the components)
    init_default_scope('mmseg')
    # the current logger: warnings only (no init_weights report)
    MMLogger.get_instance('hook_fingerprint', log_level='WARNING')
    torch.set_num_threads(1)
    todo = variants()
    if args.list:
        for label, cfg, fault in todo:
            print(label, json.dumps(cfg, sort_keys=True), fault or '')
        return 0
    if not args.out:
        parser.error('--out is required')
    if args.only:
        unknown = sorted(set(args.only) - {v[0] for v in todo})
        if unknown:
            parser.error(f'--only: unknown variants {unknown}; see --list')
        todo = [v for v in todo if v[0] in args.only]
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
    source = train_source_model()
    result = dict(torch=torch.__version__, threads=torch.get_num_threads(),
                  source=_state_digests(source), variants={})
    for label, cfg, fault in todo:
        dump = None if args.dump is None else osp.join(
            args.dump, label.replace('/', '__'))
        result['variants'][label] = run_variant(source, cfg, fault, dump)
        result['variants'][label]['config'] = json.loads(
            json.dumps(dict(cfg, fault=fault)))
        print(f'{label}: done', flush=True)
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=1, sort_keys=True)
    print(f'fingerprint of {len(todo)} variants written to {args.out}')
    if args.compare:
        with open(args.compare) as f:
            old = json.load(f)
        if args.only:
            old['variants'] = {k: v for k, v in old['variants'].items()
                               if k in args.only}
        diffs = compare(result, old)
        if old.get('source') != result['source']:
            diffs.insert(0, 'the trained source model differs (training '
                         'or the forward changed)')
        for d in diffs:
            print('DIFF', d)
        print('identical' if not diffs else f'{len(diffs)} differences')
        return 1 if diffs else 0
    return 0


if __name__ == '__main__':
    sys.exit(main())
