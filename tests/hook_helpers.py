"""One test-loop set-up for the tests of the test-time hooks."""
import copy

import torch
from mmengine.testing import RunnerTestCase

import toy_data  # noqa: F401  (registers ToyMultiTaskDataset)

#: Keys of mmengine's epoch-based test config that a test-only run drops.
TRAIN_AND_VAL_KEYS = ('train_dataloader', 'val_dataloader', 'val_evaluator',
                      'train_cfg', 'val_cfg', 'optim_wrapper',
                      'param_scheduler')


class HookTestCase(RunnerTestCase):
    """mmengine's ``RunnerTestCase`` with ``self.cfg``, a test-loop config:
    a ``ToyMultiTaskDataset`` of :attr:`num_samples` shifted images (shift
    40) in batches of 2 (``self.loader``), ``MultiTaskMetric``, ``TestLoop``
    and ``PlainCheckpointHook``, the model config :attr:`model` (None: each
    test sets one), and without the keys in :attr:`drop`. torch is seeded
    with 0 before each test."""

    num_samples = 6
    model = None
    drop = TRAIN_AND_VAL_KEYS

    def setUp(self):
        super().setUp()
        torch.manual_seed(0)
        self.loader = dict(
            batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(type='ToyMultiTaskDataset', num=self.num_samples,
                         shift=40.0))
        self.cfg = copy.deepcopy(self.epoch_based_cfg)
        self.cfg.update(
            default_scope='mmseg',
            test_dataloader=self.loader,
            test_evaluator=dict(type='MultiTaskMetric'),
            test_cfg=dict(type='TestLoop'),
            custom_hooks=[dict(type='PlainCheckpointHook')])
        if self.model is not None:
            self.cfg.model = copy.deepcopy(self.model)
        for key in self.drop:
            self.cfg.pop(key, None)
