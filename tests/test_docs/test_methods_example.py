"""The worked example of docs/methods.md runs as written."""
import copy
import os.path as osp
import re

import torch
from mmengine.config import Config
from mmengine.testing import RunnerTestCase

import trttt_mm  # noqa: F401
from trttt_mm.engine.hooks import collect_source_stats

import toy_data  # noqa: F401  (registers ToyMultiTaskDataset)
from model_helpers import make_batch, small_model_cfg

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _blocks():
    text = open(osp.join(ROOT, 'docs', 'methods.md'), encoding='utf-8').read()
    section = text.split('## Adding a method: a worked example')[1]
    section = section.split('\n## ')[0]
    return re.findall(r'```python\n(.*?)```', section, flags=re.S)


class TestWorkedExample(RunnerTestCase):

    def test_hook_and_config_of_the_example(self):
        hook_code, config_code = _blocks()
        namespace = {}
        exec(compile(hook_code, 'docs/methods.md', 'exec'), namespace)
        # the config parses and names what the text says
        path = osp.join(ROOT, 'configs', 'baselines', 'x', 'example.py')
        cfg = Config.fromstring(config_code.replace(
            "'../../trttt/synth_t2n.py'",
            repr(osp.join(ROOT, 'configs/trttt/synth_t2n.py'))), '.py')
        assert 'relation' not in {k for k, v in cfg.model.aux_heads.items()
                                  if v is not None}
        assert cfg.model.aux_heads.stats.type == 'FeatureStatsHead'
        assert cfg.ttt.FeatureAlignHook.steps == 1
        del path
        # the hook adapts a tiny model with filled statistics
        model_cfg = small_model_cfg(False, False)
        model_cfg['aux_heads'] = dict(stats=dict(type='FeatureStatsHead'))
        cfg = copy.deepcopy(self.epoch_based_cfg)
        cfg.update(
            default_scope='mmseg', model=model_cfg,
            test_dataloader=dict(
                batch_size=2, num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False),
                dataset=dict(type='ToyMultiTaskDataset', num=4, shift=40.0)),
            test_evaluator=dict(type='MultiTaskMetric'),
            test_cfg=dict(type='TestLoop'),
            custom_hooks=[dict(type='FeatureAlignHook', steps=2,
                               optimizer=dict(type='SGD', lr=0.01))])
        for key in ('train_dataloader', 'val_dataloader', 'val_evaluator',
                    'train_cfg', 'val_cfg', 'optim_wrapper',
                    'param_scheduler'):
            cfg.pop(key, None)
        cfg.experiment_name = 'worked_example'
        runner = self.build_runner(cfg)
        collect_source_stats(runner.model,
                             [make_batch(n=2, h=32, w=32, seed=s)
                              for s in range(3)])
        metrics = runner.test()
        assert metrics['ttt/steps'] == 4  # 2 batches x 2 steps
        assert torch.isfinite(torch.tensor(metrics['depth/rmse']))
