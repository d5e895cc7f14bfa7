"""Plain mmseg segmentors adapted by the head-free hooks (issue 21).

* ``PlainSegmentorAdapter``: the main branch is mmseg's ``encode_decode``;
  unsupported models are named with what they lack.
* mmseg's ``IoUMetric`` as the evaluator: the monitor's totals and
  ``DeltaTTTMetric`` give exactly what ``IoUMetric`` computes; Δ_TTT's
  default key is its ``mIoU``.
* End to end on ``configs/mmseg_tta/fcn_r18_synth.py``: a few training
  iterations, ActMAD's statistics beside the weights, then
  ``tools/test.py --tta-hook NAME`` for NormStats, TENT, TIPI and ActMAD;
  the README section's config lines, executed.
* LayerNorm: what each method does on MiT-B0 (MixVisionTransformer, tiny
  dims) with SegformerHead, and on a model without batch norm.
"""
import copy
import json
import math
import os.path as osp
import re
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.structures import PixelData

import trttt_mm  # noqa: F401
from mmseg.evaluation import IoUMetric
from mmseg.models.decode_heads import FCNHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from tool_helpers import load_tool
from trttt_mm.datasets.synthetic import generate_benchmark
from trttt_mm.engine.hooks import (ActMADHook, NormStatsHook, TENTHook,
                                   TIPIHook, collect_source_stats)
from trttt_mm.evaluation import delta_ttt
from trttt_mm.evaluation.metrics import BASE_PREDICTIONS_KEY, DeltaTTTMetric
from trttt_mm.evaluation.metrics.iou_metric_totals import IoUMetricTotals
from trttt_mm.models.segmentors.plain_adapter import (PLAIN_AUX_HEADS_KEY,
                                                      PlainSegmentorAdapter,
                                                      as_branch_model)

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
FCN = osp.join(ROOT, 'configs', 'mmseg_tta', 'fcn_r18_synth.py')
SEGFORMER = osp.join(ROOT, 'configs', 'mmseg_tta', 'segformer_mitb0_synth.py')
HOOKS = ('NormStatsHook', 'TENTHook', 'TIPIHook', 'ActMADHook')
BN = nn.modules.batchnorm._BatchNorm


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build(cfg):
    init_default_scope('mmseg')
    return MODELS.build(copy.deepcopy(cfg))


def fcn_cfg(**head):
    cfg = Config.fromfile(FCN).model
    cfg.backbone.update(depth=18, stem_channels=8, base_channels=8)
    cfg.decode_head.update(in_channels=64, channels=8, **head)
    return cfg


def metas(x):
    size = tuple(x.shape[2:])
    return [dict(img_shape=size, pad_shape=size, ori_shape=size)] * len(x)


# ------------------------------------------------------------- the adapter
def test_main_branch_is_encode_decode():
    """EncoderDecoder: the adapter's main branch is encode_decode's output,
    bit for bit, computed through the caller in mmseg's tensor mode."""
    seg = build(fcn_cfg()).eval()
    adapter = as_branch_model(seg)
    assert isinstance(adapter, PlainSegmentorAdapter)
    x = torch.randn(2, 3, 48, 64)
    calls = []

    def caller(*args, **kwargs):
        calls.append(kwargs.get('mode'))
        return seg(*args, **kwargs)

    out = adapter.forward_branches_with(caller, x, ('main', ))
    assert calls == ['tensor']
    logits = out['main']['semseg']
    assert logits.shape == (2, 7, 48, 64)
    assert torch.equal(logits, seg.encode_decode(x, metas(x)))
    # the interface of the hooks, the segmentor's state
    assert adapter.tasks == ('semseg', )
    assert adapter.available_branches() == ('main', )
    assert adapter.state_dict().keys() == seg.state_dict().keys()
    assert [id(p) for p in adapter.parameters()] == [
        id(p) for p in seg.parameters()]
    assert adapter.backbone is seg.backbone
    # a multi-task segmentor is its own branch model
    assert as_branch_model(adapter) is adapter


def test_cascade_main_branch_is_encode_decode():
    cfg = fcn_cfg()
    first = dict(cfg.decode_head, in_index=3)
    ocr = dict(type='OCRHead', in_channels=64, in_index=3, channels=8,
               ocr_channels=8, num_classes=7, norm_cfg=cfg.decode_head.norm_cfg,
               align_corners=False,
               loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))
    seg = build(dict(cfg, type='CascadeEncoderDecoder', num_stages=2,
                     decode_head=[first, ocr])).eval()
    x = torch.randn(2, 3, 48, 64)
    out = PlainSegmentorAdapter(seg).forward_branches(x)['main']['semseg']
    assert torch.equal(out, seg.encode_decode(x, metas(x)))


class _OwnDecode(EncoderDecoder):

    def encode_decode(self, inputs, batch_img_metas):
        return super().encode_decode(inputs, batch_img_metas) * 2


class _OwnPredictHead(FCNHead):

    def predict(self, inputs, batch_img_metas, test_cfg):
        return super().predict(inputs, batch_img_metas, test_cfg).flip(-1)


def test_unsupported_models_are_named():
    with pytest.raises(TypeError, match='Linear, which is neither'):
        as_branch_model(nn.Linear(2, 2), where='TENTHook')
    cfg = fcn_cfg()
    seg = _OwnDecode(**{k: v for k, v in cfg.items() if k != 'type'})
    with pytest.raises(TypeError, match=r'_OwnDecode overrides '
                       r'encode_decode \(_OwnDecode\)'):
        PlainSegmentorAdapter(seg)
    seg = build(cfg)
    seg.decode_head.__class__ = _OwnPredictHead
    with pytest.raises(TypeError, match='_OwnPredictHead overrides predict'):
        PlainSegmentorAdapter(seg)
    binary = build(fcn_cfg(num_classes=2, out_channels=1))
    with pytest.raises(TypeError, match='one channel'):
        PlainSegmentorAdapter(binary)
    with pytest.raises(ValueError, match='FeatureStatsHead, which needs'):
        PlainSegmentorAdapter(build(cfg), dict(stats=dict(
            type='FeatureStatsHead')))


def test_hook_on_unsupported_model_names_it():
    runner = SimpleNamespace(model=nn.Conv2d(3, 3, 1))
    with pytest.raises(TypeError, match='TENTHook needs a segmentor with '
                       'test-time branches.*got Conv2d'):
        TENTHook().before_test(runner)


# ---------------------------------------------------------------- metrics
def iou_result(pred, gt, num_classes):
    return IoUMetric.intersect_and_union(torch.tensor(pred),
                                         torch.tensor(gt), num_classes, 255)


def test_iou_totals_hand_computed():
    """gt [0 0 1 1 255], pred [0 1 1 1 0]: class 0 IoU 1/2, acc 1/2; class
    1 IoU 2/3, acc 1; aAcc 3/4."""
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=('a', 'b'))
    totals = IoUMetricTotals(metric)
    res = totals.compute_metrics(
        [iou_result([0, 1, 1, 1, 0], [0, 0, 1, 1, 255], 2)])
    # IoUMetric's float32 arithmetic, rounded to two decimals
    assert res == dict(aAcc=75.0, mIoU=pytest.approx(58.33, abs=1e-5),
                       mAcc=75.0)
    assert all(type(v) is float for v in res.values())


def test_iou_totals_equal_iou_metric():
    """Running totals merged batch by batch give what IoUMetric computes
    over every sample at once (mIoU, mAcc, aAcc, mDice, mFscore)."""
    g = torch.Generator().manual_seed(0)
    metric = IoUMetric(iou_metrics=['mIoU', 'mDice', 'mFscore'])
    metric.dataset_meta = dict(classes=('a', 'b', 'c', 'd'))
    results = []
    for _ in range(6):
        gt = torch.randint(0, 4, (20, 30), generator=g)
        gt[torch.rand(20, 30, generator=g) < 0.1] = 255
        pred = torch.where(torch.rand(20, 30, generator=g) < 0.6, gt,
                           torch.randint(0, 4, (20, 30), generator=g))
        pred[pred == 255] = 0
        results.append(IoUMetric.intersect_and_union(pred, gt, 4, 255))
    api = IoUMetricTotals(metric)
    totals = {}
    for i in range(0, 6, 2):
        totals = api.merge(totals, api.reduce(results[i:i + 2]))
    expected = metric.compute_metrics(results)
    got = api.compute_from_totals(totals)
    assert set(got) == set(expected) == {
        'aAcc', 'mIoU', 'mAcc', 'mDice', 'mFscore', 'mPrecision', 'mRecall'}
    for k, v in expected.items():
        assert got[k] == float(v), k


def test_delta_default_key_of_iou_metric():
    d = delta_ttt(dict(mIoU=40.0, aAcc=80.0), dict(mIoU=50.0, aAcc=60.0))
    assert d == dict(delta_ttt=25.0, per_task={'mIoU': 25.0})
    # a multi-task dict keeps its primary keys
    d = delta_ttt({'semseg/mIoU': 10.0, 'mIoU': 1.0},
                  {'semseg/mIoU': 11.0, 'mIoU': 3.0})
    assert list(d['per_task']) == ['semseg/mIoU']
    d = delta_ttt(dict(mDice=50.0), dict(mDice=40.0), keys=['mDice'])
    assert d['delta_ttt'] == pytest.approx(-20.0)


def sample(pred, gt, pred_as_data_sample=True):
    ds = SegDataSample()
    ds.set_data(dict(pred_sem_seg=PixelData(data=torch.tensor([pred])),
                     gt_sem_seg=PixelData(data=torch.tensor([gt]))))
    return ds if pred_as_data_sample else ds.to_dict()


def test_delta_metric_with_iou_metric():
    """DeltaTTTMetric around the user's IoUMetric: base predictions come as
    SegDataSamples (the monitor's), adapted ones as dicts (the
    evaluator's); base and Δ are IoUMetric's numbers; it writes no
    prediction file."""
    user = IoUMetric(output_dir='/nonexistent/never_written')
    delta = DeltaTTTMetric(metric=user)
    assert delta.inner.output_dir is None and user.output_dir is not None
    delta.dataset_meta = dict(classes=('a', 'b'))
    gt = [[0, 0, 1, 1]]
    base = [sample([[0, 1, 1, 1]], gt)]  # IoU 1/2, 2/3
    adapted = [sample([[0, 0, 1, 1]], gt, False)]  # perfect
    hub = MessageHub.get_current_instance()
    hub.update_info(BASE_PREDICTIONS_KEY, base, resumed=False)
    delta.process({}, adapted)
    out = delta.compute_metrics(delta.results)
    assert out['base/mIoU'] == pytest.approx(58.33, abs=1e-4)
    assert out['base/aAcc'] == 75.0 and out['base/mAcc'] == 75.0
    assert out['delta/mIoU'] == pytest.approx((100 / 58.33 - 1) * 100,
                                              rel=1e-5)
    assert out['delta_ttt'] == out['delta/mIoU']
    with pytest.raises(ValueError, match='format_only=True'):
        DeltaTTTMetric(metric=IoUMetric(format_only=True,
                                        output_dir='/nonexistent/x'))


# ------------------------------------------------------------ end to end
def data_options(root, target='NYUDv2_geometry'):
    return [
        f'train_dataloader.dataset.data_root={root}/taskonomy',
        f'val_dataloader.dataset.data_root={root}/taskonomy',
        f'test_dataloader.dataset.data_root={root}/{target}',
        'train_dataloader.batch_size=4', 'val_dataloader.batch_size=2',
        'test_dataloader.batch_size=4',
    ]


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    """Source (Taskonomy layout) and two target families; the e2e tests
    use 'geometry' (the source's appearance), where a model trained for a
    few iterations scores an mIoU above 0, so Δ_TTT is defined."""
    root = str(tmp_path_factory.mktemp('plain_synth'))
    generate_benchmark(root, seed=1, num_train=16, num_val=2,
                       num_target_train=2, num_target_val=8, height=48,
                       width=64, images_per_building=4, progress=False,
                       families=['appearance', 'geometry'])
    return root


@pytest.fixture(scope='module')
def trained(bench, tmp_path_factory):
    """The example config trained 20 iterations (``plain``), the same
    weights plus ActMAD's statistics written by source_stats.py
    (``stats``), and the metrics of a plain test run (``base``)."""
    work = str(tmp_path_factory.mktemp('plain_train'))
    torch.set_num_threads(1)
    load_tool('train').main([
        FCN, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=20',
        'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=20',
        'param_scheduler.0.end=20', *data_options(bench)])
    plain = osp.join(work, 'iter_20.pth')
    stats = osp.join(work, 'iter_20_actmad.pth')
    load_tool('analysis/source_stats').main([
        FCN, plain, '--out', stats, '--cfg-options', *data_options(bench)])
    base = osp.join(work, 'base.json')
    load_tool('test').main([FCN, plain, '--work-dir', work, '--metrics-out',
                            base, '--cfg-options', *data_options(bench)])
    init_default_scope('mmseg')
    return dict(plain=plain, stats=stats, work=work,
                base=json.load(open(base)))


def test_source_stats_beside_the_weights(trained):
    """source_stats.py on a plain segmentor keeps its state dict as it is
    (the checkpoint still loads strictly into EncoderDecoder) and writes
    ActMAD's statistics under their own checkpoint key."""
    plain = torch.load(trained['plain'], weights_only=True)
    stats = torch.load(trained['stats'], weights_only=True)
    assert stats['state_dict'].keys() == plain['state_dict'].keys()
    for k, v in plain['state_dict'].items():
        assert torch.equal(stats['state_dict'][k], v), k
    assert PLAIN_AUX_HEADS_KEY not in plain
    entry = stats[PLAIN_AUX_HEADS_KEY]['actmad']
    assert entry['cfg'] == dict(type='ActMADStatsHead')
    state = entry['state_dict']
    # 16 source images, batch 4, in order: 4 batches
    assert float(state['stats_batches']) == 4
    model = build(Config.fromfile(FCN).model)
    bns = [n for n, m in model.named_modules() if isinstance(m, BN)
           and not n.startswith('auxiliary_head')]
    assert sorted(k[len('mean__'):].replace('__', '.') for k in state
                  if k.startswith('mean__')) == sorted(bns)
    for k, v in state.items():
        assert torch.isfinite(v).all(), k
    assert stats['meta']['source_stats']['heads'] == ['actmad']


def test_base_run_reports_iou_metric(trained):
    base = trained['base']
    assert {'aAcc', 'mIoU', 'mAcc'} <= set(base)
    # the geometry target keeps the source's look: Δ_TTT is defined
    assert base['mIoU'] > 0


@pytest.mark.parametrize('hook', HOOKS)
def test_head_free_hook_end_to_end(hook, trained, bench, tmp_path):
    """tools/test.py CONFIG CKPT --tta-hook NAME on the plain mmseg model:
    the user's IoUMetric for the adapted model, the same numbers for the
    unadapted one as a plain test run, Δ_TTT on mIoU, finite."""
    ckpt = trained['stats' if hook == 'ActMADHook' else 'plain']
    out = str(tmp_path / 'metrics.json')
    load_tool('test').main([
        FCN, ckpt, '--tta-hook', hook, '--work-dir', str(tmp_path),
        '--metrics-out', out, '--cfg-options', *data_options(bench)])
    init_default_scope('mmseg')
    metrics = json.load(open(out))
    # 8 target images, batch 4: 2 batches, one step each (NormStats: none)
    assert metrics['ttt/steps'] == (0 if hook == 'NormStatsHook' else 2)
    assert metrics['ttt/nonfinite_skips'] == 0
    for key in ('aAcc', 'mIoU', 'mAcc'):
        assert math.isfinite(metrics[key])
        assert metrics[f'base/{key}'] == trained['base'][key]
    assert math.isfinite(metrics['delta_ttt'])
    assert metrics['delta_ttt'] == metrics['delta/mIoU']
    assert metrics['delta/mIoU'] == pytest.approx(
        (metrics['mIoU'] - metrics['base/mIoU']) / metrics['base/mIoU'] * 100)
    curve = json.load(open(tmp_path / 'ttt_curve.json'))
    assert curve['method'] == hook and len(curve['metrics']) == 2
    assert curve['metrics'][-1]['mIoU'] == metrics['mIoU']
    assert curve['base_metrics'][-1]['mIoU'] == metrics['base/mIoU']
    if hook == 'TENTHook':  # Fig. 3 of the run: an mIoU panel and Δ_TTT
        png = tmp_path / 'curve.png'
        load_tool('analysis/plot_ttt_curve').main([
            str(tmp_path / 'ttt_curve.json'), '--out', str(png)])
        assert png.stat().st_size > 0


def test_actmad_without_statistics_says_what_to_run(trained, bench,
                                                    tmp_path):
    with pytest.raises(ValueError, match='source_stats.py CONFIG CHECKPOINT '
                       '--out NEW.pth'):
        load_tool('test').main([
            FCN, trained['plain'], '--tta-hook', 'ActMADHook', '--work-dir',
            str(tmp_path), '--cfg-options', *data_options(bench)])
    init_default_scope('mmseg')


def readme_section():
    text = open(osp.join(ROOT, 'README.md'), encoding='utf-8').read()
    section = text.split('## Adapt your own mmseg model')[1]
    return section.split('\n## ')[0]


def test_readme_commands_name_real_files():
    """The README's commands use this repository's tools and config, and
    every hook they name is a registered head-free hook."""
    block = re.findall(r'```bash\n(.*?)```', readme_section(), re.S)[0]
    commands = [line.split() for line in block.splitlines()
                if line.startswith('.venv/bin/python')]
    tools = [c[1] for c in commands]
    train, test = tools.index('tools/train.py'), tools.index('tools/test.py')
    assert train < test and '--tta-hook' in commands[test]
    assert commands[train][2] == commands[test][2] == osp.relpath(FCN, ROOT)
    for c in commands:
        assert osp.isfile(osp.join(ROOT, c[1])), c[1]
        for word in c[2:]:
            if word.startswith('configs/'):
                assert osp.isfile(osp.join(ROOT, word)), word
        if '--tta-hook' in c:
            assert c[c.index('--tta-hook') + 1] in HOOKS


def test_readme_config_lines_adapt_an_mmseg_config(trained, bench, tmp_path):
    """The README's lines appended to an mmseg config that knows nothing of
    trttt_mm make it adaptable: tools/test.py --tta-hook TENTHook runs on
    it with the lines' settings (Δ_TTT over mIoU, mAcc and aAcc)."""
    snippet, = re.findall(r'```python\n(.*?)```', readme_section(), re.S)
    # the user's existing config: the example without what the README adds
    user = Config.fromfile(FCN)
    for key in ('custom_imports', 'ttt'):
        user.pop(key)
    user.custom_hooks = []
    existing = tmp_path / 'existing_mmseg_config.py'
    user.dump(str(existing))
    config = tmp_path / 'adapted.py'
    config.write_text(f'_base_ = [{str(existing)!r}]\n' + snippet)
    cfg = Config.fromfile(str(config))
    assert cfg.custom_imports.imports == ['trttt_mm']
    out = str(tmp_path / 'metrics.json')
    load_tool('test').main([
        str(config), trained['plain'], '--tta-hook', 'TENTHook',
        '--work-dir', str(tmp_path / 'work'), '--metrics-out', out,
        '--cfg-options', *data_options(bench)])
    init_default_scope('mmseg')
    metrics = json.load(open(out))
    keys = cfg.ttt.TTTMonitorHook['keys']
    assert sorted(keys) == ['aAcc', 'mAcc', 'mIoU']
    assert metrics['ttt/steps'] == 2
    assert metrics['delta_ttt'] == pytest.approx(
        sum(metrics[f'delta/{k}'] for k in keys) / 3)
    assert math.isfinite(metrics['delta_ttt'])


# ------------------------------------------------------------- LayerNorm
TINY_MIT = {
    'model.backbone.embed_dims': 8,
    'model.backbone.num_layers': [1, 1, 1, 1],
    'model.backbone.num_heads': [1, 1, 2, 2],
    'model.decode_head.in_channels': [8, 8, 16, 16],
    'model.decode_head.channels': 16,
}


def mit_runner(bench, work, hook, norm_cfg=None, checkpoint=None):
    """MiT-B0 + SegformerHead at tiny dims, testing on the geometry target
    with ``hook`` (weights not restored after the test) and the monitor."""
    cfg = Config.fromfile(SEGFORMER)
    cfg.merge_from_dict(TINY_MIT)
    cfg.merge_from_dict(dict(o.split('=', 1) for o in data_options(bench)))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].batch_size = 4
    if norm_cfg is not None:
        cfg.model.decode_head.norm_cfg = norm_cfg
    cfg.work_dir = str(work)
    cfg.load_from = checkpoint
    cfg.custom_hooks = [ConfigDict(hook),
                        ConfigDict(type='TTTMonitorHook', curve=False)]
    cfg.experiment_name = f'mit_{hook["type"]}_{osp.basename(str(work))}'
    init_default_scope('mmseg')
    return Runner.from_cfg(cfg)


@pytest.fixture(scope='module')
def mit_checkpoint(bench, tmp_path_factory):
    """Random tiny MiT-B0 weights, with ActMAD's statistics beside them
    (a pass over the source data through the adapter)."""
    work = tmp_path_factory.mktemp('mit')
    runner = mit_runner(bench, work, dict(type='NormStatsHook'))
    model = runner.model
    adapter = PlainSegmentorAdapter(
        model, dict(actmad=dict(type='ActMADStatsHead')))
    loader = runner.build_dataloader(dict(
        runner.cfg.train_dataloader,
        sampler=dict(type='DefaultSampler', shuffle=False)))
    collect_source_stats(adapter, loader)
    path = str(work / 'mit.pth')
    torch.save({'state_dict': model.state_dict(),
                PLAIN_AUX_HEADS_KEY: adapter.aux_heads_state()}, path)
    return path


def changed(before, model):
    after = model.state_dict()
    return {k for k, v in before.items()
            if v.is_floating_point() and not torch.equal(v, after[k])}


def norm_params(model, kind):
    return {f'{n}.{p}' for n, m in model.named_modules()
            if isinstance(m, kind) for p, _ in m.named_parameters(
                recurse=False)}


@pytest.mark.parametrize('hook', HOOKS)
def test_mit_b0_layernorm(hook, bench, mit_checkpoint, tmp_path):
    """What each head-free method does with MiT-B0's LayerNorms (its
    decode head holds the only batch-norm layers), as docs/methods.md
    says: NormStats moves the batch-norm statistics only; TENT adapts the
    batch-norm affine parameters only (the official method); TIPI the
    affine parameters of every norm layer, LayerNorm included; ActMAD
    matches batch-norm outputs (the head's) and adapts every parameter."""
    ckpt = torch.load(mit_checkpoint, weights_only=True)
    before = ckpt['state_dict']
    cfg = dict(type=hook, restore_after=False)
    if hook != 'NormStatsHook':
        cfg['optimizer'] = dict(type='SGD', lr=0.1)
    if hook == 'TIPIHook':
        cfg['lr_per_sample'] = None
    runner = mit_runner(bench, tmp_path, cfg, checkpoint=mit_checkpoint)
    metrics = runner.test()
    init_default_scope('mmseg')
    model = runner.model
    ln = norm_params(model, nn.LayerNorm)
    bn = norm_params(model, BN)
    assert len(ln) >= 20 and bn and all(
        k.startswith('decode_head.') for k in bn)
    moved = changed(before, model)
    running = {k for k in before if k.endswith(('running_mean',
                                                 'running_var'))}
    assert 'base/mIoU' in metrics and 'mIoU' in metrics
    if hook == 'NormStatsHook':
        assert moved and moved <= running
    elif hook == 'TENTHook':
        assert moved == bn  # affine only; it forgets running statistics
    elif hook == 'TIPIHook':
        assert moved - running <= ln | bn
        assert moved & ln and moved & bn
    else:
        layers = runner.hooks[[type(h).__name__ for h in runner.hooks]
                              .index('ActMADHook')]._layers
        assert layers and all(n.startswith('decode_head.') for n in layers)
        assert moved & ln and moved - ln - bn - running


def test_model_without_batch_norm(bench, tmp_path):
    """MiT-B0 with a GroupNorm head: no batch-norm layer. NormStats and
    TENT say so (their statistics and their parameters are batch norm's);
    ActMAD's statistics pass too; TIPI adapts the LayerNorm and GroupNorm
    affine parameters."""
    gn = dict(type='GN', num_groups=4, requires_grad=True)
    for hook, error in (('NormStatsHook', 'batch-norm layers'),
                        ('TENTHook', 'batch-norm layers')):
        runner = mit_runner(bench, tmp_path / hook, dict(type=hook), gn)
        with pytest.raises(ValueError, match=error):
            runner.test()
    tipi = dict(type='TIPIHook', restore_after=False, lr_per_sample=None,
                optimizer=dict(type='SGD', lr=0.1))
    runner = mit_runner(bench, tmp_path / 'tipi', tipi, gn)
    adapter = PlainSegmentorAdapter(
        runner.model, dict(actmad=dict(type='ActMADStatsHead')))
    with pytest.raises(ValueError, match='no batch-norm layer in its '
                       'backbone, neck or decode head'):
        collect_source_stats(adapter, [])
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.test()
    init_default_scope('mmseg')
    moved = changed(before, runner.model)
    norms = norm_params(runner.model, (nn.LayerNorm, nn.GroupNorm))
    assert moved and moved <= norms
    assert moved & norm_params(runner.model, nn.GroupNorm)


#: ActMADHook ran into DDP's check at its second update before it froze
#: the parameters its objective cannot reach (``decode_head.conv_seg``: after
#: the last batch-norm layer); two batches per process reach that update.
@pytest.mark.dist
@pytest.mark.parametrize('hook', HOOKS[1:])
def test_two_process_plain_segmentor(hook, trained, bench, tmp_path):
    """The gradient hooks on the plain mmseg model under DDP (2 CPU
    processes, two batches each): the adapter's forward goes through the
    wrapped model in tensor mode, and IoUMetric's numbers, the base and
    Δ_TTT come back. (NormStatsHook, no gradient, runs under DDP on the
    multi-task model in tests/test_tools/test_baselines_i_e2e.py.)"""
    import os
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    ckpt = trained['stats' if hook == 'ActMADHook' else 'plain']
    out = str(tmp_path / f'{hook}.json')
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={29561 + HOOKS.index(hook)}',
        osp.join(ROOT, 'tools', 'test.py'), FCN, ckpt, '--launcher',
        'pytorch', '--tta-hook', hook, '--work-dir', str(tmp_path / hook),
        '--metrics-out', out, '--cfg-options', *data_options(bench)[:3],
        'test_dataloader.batch_size=2'
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         timeout=300, cwd=ROOT)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    metrics = json.load(open(out))
    # 8 images, 2 processes x batch 2: two batches each, a step each
    assert metrics['ttt/steps'] == 2
    # the unadapted model on the whole target: the single-process numbers
    assert metrics['base/mIoU'] == trained['base']['mIoU']
    assert math.isfinite(metrics['delta_ttt'])
