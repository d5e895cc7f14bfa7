"""MultiTaskVisualizationHook, the monitor's live scalars and base
predictions, and tools/test.py --show/--show-dir."""
import copy
import glob
import json
import os
import os.path as osp
import re
from argparse import Namespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.runner import load_checkpoint
from mmengine.testing import RunnerTestCase
from mmseg.registry import DATASETS, HOOKS, MODELS

import trttt_mm  # noqa: F401
from trttt_mm.datasets.synthetic import generate_benchmark
from trttt_mm.engine.hooks import MultiTaskVisualizationHook
from trttt_mm.evaluation.metrics.delta_ttt_metric import BASE_PREDICTIONS_KEY
from trttt_mm.visualization import BASE_PRED_FIELDS, PanelLayout
from trttt_mm.visualization import task_maps
from trttt_mm.visualization.panel import auto_scale

import toy_data  # noqa: F401  (registers ToyMultiTaskDataset)
from model_helpers import small_model_cfg
from tool_helpers import ROOT, load_tool

CONFIG = osp.join(ROOT, 'configs', 'trttt', 'synth_t2n.py')


def read_scalars(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


@HOOKS.register_module(force=True)
class _RecordBaseHook(Hook):
    """Checks that the outputs carry the very predictions the monitor
    published for the batch (no second pass)."""
    priority = 'LOW'
    seen = []

    def before_test_iter(self, runner, batch_idx, data_batch=None):
        self._published = MessageHub.get_current_instance().get_info(
            BASE_PREDICTIONS_KEY)

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None):
        for out, base in zip(outputs, self._published):
            type(self).seen.append(all(
                getattr(out, BASE_PRED_FIELDS[t]) is getattr(base, f)
                for t, f in (('semseg', 'pred_sem_seg'),
                             ('depth', 'pred_depth_map'),
                             ('normal', 'pred_normal_map'),
                             ('edge', 'pred_edge_map'))))


class TestMonitorScalars(RunnerTestCase):

    def setUp(self):
        super().setUp()
        torch.manual_seed(0)
        loader = dict(
            batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='ToyMultiTaskDataset', num=6, shift=40.0))
        self.cfg = copy.deepcopy(self.epoch_based_cfg)
        self.cfg.update(
            default_scope='mmseg',
            model=small_model_cfg(True, True),
            test_dataloader=loader,
            test_evaluator=dict(type='MultiTaskMetric'),
            test_cfg=dict(type='TestLoop'),
            visualizer=dict(type='Visualizer',
                            vis_backends=[dict(type='LocalVisBackend')]),
            custom_hooks=[dict(type='PlainCheckpointHook')])
        for key in ('train_dataloader', 'val_dataloader', 'val_evaluator',
                    'train_cfg', 'val_cfg', 'optim_wrapper',
                    'param_scheduler'):
            self.cfg.pop(key, None)

    def _run(self, name, monitor):
        cfg = copy.deepcopy(self.cfg)
        cfg.custom_hooks = cfg.custom_hooks + [
            dict(type='TRTTTHook', steps=2, loss_scale=1.0,
                 optimizer=dict(type='SGD', lr=0.05)),
            dict(type='TTTMonitorHook', **monitor),
            dict(type='_RecordBaseHook')]
        cfg.experiment_name = name
        runner = self.build_runner(cfg)
        _RecordBaseHook.seen = []
        metrics = runner.test()
        return runner, metrics

    def test_one_delta_entry_per_batch_and_one_loss_per_step(self):
        runner, metrics = self._run('scalars', {})
        curve = json.load(open(osp.join(runner.log_dir, 'ttt_curve.json')))
        rows = read_scalars(osp.join(runner.log_dir, 'vis_data',
                                     'scalars.json'))
        deltas = [r for r in rows if 'ttt/delta_ttt' in r]
        assert [r['step'] for r in deltas] == [1, 2, 3]  # 6 images, batch 2
        assert [r['ttt/delta_ttt'] for r in deltas] == pytest.approx(
            curve['delta_ttt'], rel=1e-12)
        assert deltas[-1]['ttt/delta_ttt'] == pytest.approx(
            metrics['delta_ttt'])
        for r, adapted, base in zip(deltas, curve['metrics'],
                                    curve['base_metrics']):
            assert r['ttt/semseg/mIoU'] == pytest.approx(
                adapted['semseg/mIoU'])
            assert r['ttt/base/depth/rmse'] == pytest.approx(
                base['depth/rmse'])
        losses = [r for r in rows if 'ttt/loss' in r]
        flat = [v for batch in curve['loss'] for v in batch]
        assert len(flat) == 6
        assert [r['ttt/loss'] for r in losses] == pytest.approx(flat)
        assert [r['step'] for r in losses] == list(range(1, 7))
        # the adapted outputs carry the monitor's own base predictions
        assert _RecordBaseHook.seen == [True] * 6

    def test_live_scalars_can_be_switched_off(self):
        runner, _ = self._run('no_scalars', dict(live_scalars=False))
        path = osp.join(runner.log_dir, 'vis_data', 'scalars.json')
        assert not osp.exists(path) or not any(
            k.startswith('ttt/') for r in read_scalars(path) for k in r)


def test_hook_arguments_and_visualizer_type_are_checked():
    with pytest.raises(ValueError, match='interval'):
        MultiTaskVisualizationHook(interval=0)
    with pytest.raises(ValueError, match='wait_time'):
        MultiTaskVisualizationHook(wait_time=-1)
    assert MultiTaskVisualizationHook(show=True).store is False
    assert MultiTaskVisualizationHook(show=True, store=True).store is True
    hook = MultiTaskVisualizationHook(draw=True)
    from mmengine.visualization import Visualizer
    runner = Namespace(visualizer=Visualizer(name='plain_for_hook_test'))
    with pytest.raises(TypeError, match='MultiTaskLocalVisualizer'):
        hook.before_run(runner)


def test_show_displays_without_storing_and_needs_a_display(tmp_path,
                                                          monkeypatch):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    from trttt_mm.visualization import MultiTaskLocalVisualizer
    img_path = str(tmp_path / 'im.png')
    cv2.imwrite(img_path, np.full((6, 8, 3), 90, np.uint8))
    out = SegDataSample(metainfo=dict(img_path=img_path))
    out.pred_depth_map = PixelData(data=torch.ones(1, 6, 8))
    visualizer = MultiTaskLocalVisualizer(
        name='show_test', vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path))
    runner = Namespace(visualizer=visualizer, iter=0)
    hook = MultiTaskVisualizationHook(draw=True, interval=1, show=True,
                                      wait_time=0.5)
    with pytest.raises(RuntimeError, match="(?i)needs a display.*'agg'"):
        hook.before_run(runner)  # headless here: matplotlib's agg
    import matplotlib
    monkeypatch.setattr(matplotlib, 'get_backend', lambda: 'TkAgg')
    shown = []
    monkeypatch.setattr(visualizer, 'show', lambda img, win_name, wait_time:
                        shown.append((img.shape, win_name, wait_time)))
    hook.before_run(runner)
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, None, [out, out])
    assert shown == [(visualizer.get_image().shape, 'test_im.png', 0.5)] * 2
    assert not osp.exists(tmp_path / 'vis_data' / 'vis_image')  # not stored
    # interval 2: the second batch is drawn, named by its stream position
    hook = MultiTaskVisualizationHook(draw=True, interval=2)
    hook.before_run(runner)
    hook.before_test(runner)
    for i in range(3):
        hook.after_test_iter(runner, i, None, [out, out])
    assert sorted(os.listdir(tmp_path / 'vis_data' / 'vis_image')) == [
        'test_im.png_2.png', 'test_im.png_3.png']


# -- tools/test.py --------------------------------------------------------

def args(**kw):
    base = dict(show=False, show_dir=None, wait_time=2.0)
    base.update(kw)
    return Namespace(**base)


def test_show_dir_turns_on_the_hook_and_the_visualizer():
    test = load_tool('test')
    cfg = Config.fromfile(CONFIG)
    backends = copy.deepcopy(cfg.visualizer.vis_backends)
    test.trigger_visualization_hook(cfg, args(show_dir='out/panels'))
    hook = cfg.default_hooks.visualization
    assert hook.type == 'MultiTaskVisualizationHook'
    assert hook.draw is True and hook.interval == 1 and hook.store is True
    assert 'show' not in hook
    assert cfg.visualizer.type == 'MultiTaskLocalVisualizer'
    assert cfg.visualizer.save_dir == 'out/panels'
    assert cfg.visualizer.vis_backends == backends
    # --show alone: displayed, not stored (mmseg); the config's interval stays
    cfg = Config.fromfile(CONFIG)
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook',
                                           interval=5)
    cfg.visualizer.type = 'SegLocalVisualizer'
    test.trigger_visualization_hook(cfg, args(show=True, wait_time=0.5))
    hook = cfg.default_hooks.visualization
    assert hook.type == 'MultiTaskVisualizationHook' and hook.interval == 5
    assert hook.show is True and hook.wait_time == 0.5
    assert 'store' not in hook and 'save_dir' not in cfg.visualizer
    assert cfg.visualizer.type == 'MultiTaskLocalVisualizer'
    # without either flag nothing changes
    cfg = Config.fromfile(CONFIG)
    before = cfg.pretty_text
    test.trigger_visualization_hook(cfg, args())
    assert cfg.pretty_text == before
    cfg.visualizer.type = 'TensorboardVisBackend'  # not a visualizer
    with pytest.raises(SystemExit, match='cannot draw multi-task'):
        test.trigger_visualization_hook(cfg, args(show_dir='x'))


# -- end to end: train -> tools/test.py --tta-hook --show-dir -------------

H, W = 36, 50  # even sizes the backbone accepts; odd sizes: unit tests


def data_options(root):
    return [
        f'train_dataloader.dataset.data_root={root}/taskonomy',
        f'val_dataloader.dataset.data_root={root}/taskonomy',
        f'test_dataloader.dataset.data_root={root}/NYUDv2',
        'train_dataloader.batch_size=4', 'test_dataloader.batch_size=4',
        'val_dataloader.batch_size=4',
    ]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synth_vis'))
    generate_benchmark(root, seed=2, num_train=4, num_val=2,
                       num_target_train=2, num_target_val=6, height=H,
                       width=W, images_per_building=2, progress=False)
    work = str(tmp_path_factory.mktemp('train_vis'))
    load_tool('train').main([
        CONFIG, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2',
        'param_scheduler.0.end=2', *data_options(root)])
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)
    return root, ckpt


def source_predictions(root, ckpt):
    """The checkpoint's predictions of the target images, batched as the
    test run batches them."""
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({o.split('=')[0]: o.split('=')[1]
                         for o in data_options(root)[:3]})
    model = MODELS.build(cfg.model)
    load_checkpoint(model, ckpt, map_location='cpu', logger='silent')
    model.eval()
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    preds = []
    with torch.no_grad():
        for start in range(0, len(ds), 4):
            batch = pseudo_collate([ds[i] for i in range(
                start, min(start + 4, len(ds)))])
            preds += model.test_step(batch)
    return ds, preds


@pytest.mark.slow
def test_show_dir_writes_one_before_after_panel_per_target_image(
        trained, tmp_path):
    root, ckpt = trained
    show_dir = str(tmp_path / 'panels')
    load_tool('test').main([
        CONFIG, ckpt, '--tta-hook', 'TRTTTHook', '--show-dir', show_dir,
        '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        'ttt.TRTTTHook.steps=2', *data_options(root)])
    files = glob.glob(osp.join(show_dir, 'vis_data', 'vis_image', '*.png'))
    steps = sorted(int(re.search(r'_(\d+)\.png$', f).group(1))
                   for f in files)
    assert steps == list(range(6))  # one panel per target image

    ds, base = source_predictions(root, ckpt)
    scale = auto_scale((H, W), 128)  # the visualizer's default
    assert scale == 4
    layout = PanelLayout((H, W), scale,
                         ('input', 'semseg', 'depth', 'normal', 'edge'),
                         ('gt', 'base', 'pred'))
    palette = np.asarray(ds.metainfo['palette'], np.uint8)
    panels = []
    for i, pred in enumerate(base):
        name = osp.basename(pred.img_path)
        path = osp.join(show_dir, 'vis_data', 'vis_image',
                        f'test_{name}_{i}.png')
        assert osp.getsize(path) > 1000
        panel = cv2.imread(path)
        assert panel is not None, path
        panel = panel[..., ::-1]
        assert panel.shape[1] == layout.width
        assert panel.shape[0] > layout.grid_height
        img = cv2.imread(pred.img_path)[..., ::-1]
        assert (panel[layout.cell('gt', 'input')] ==
                img.repeat(4, 0).repeat(4, 1)).all()
        # the 'before' row is the source model's prediction of this image
        up = (lambda a: a.repeat(4, 0).repeat(4, 1))
        want = task_maps.draw_semseg(img, pred.pred_sem_seg.data[0].numpy(),
                                     palette, 0.8)
        assert (panel[layout.cell('base', 'semseg')] == up(want)).all()
        n = pred.pred_normal_map.data.permute(1, 2, 0).numpy()
        want = task_maps.draw_normal(n, task_maps.normal_invalid(n, False))
        assert (panel[layout.cell('base', 'normal')] == up(want)).all()
        # adaptation changed the model: the rows differ where the
        # predictions do, and the ground truth is drawn from the files
        before = panel[layout.cell('base', 'depth')]
        after = panel[layout.cell('pred', 'depth')]
        assert (before != after).any()
        panels.append(panel)
    assert all((panels[0].shape != p.shape) or (panels[0] != p).any()
               for p in panels[1:])
    # the run's scalars went to the show dir's vis_data (mmseg: save_dir)
    rows = read_scalars(osp.join(show_dir, 'vis_data', 'scalars.json'))
    curve = json.load(open(tmp_path / 'work' / 'ttt_curve.json'))
    deltas = [r['ttt/delta_ttt'] for r in rows if 'ttt/delta_ttt' in r]
    assert deltas == pytest.approx(
        [d for d in curve['delta_ttt'] if d is not None])
    assert len(curve['delta_ttt']) == 2  # 6 images, batch 4
