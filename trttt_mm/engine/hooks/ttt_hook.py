"""Generic test-time-training hook: the mechanics every method shares.

mmengine facts this relies on (0.10.7): ``TestLoop.run_iter`` runs under
``torch.no_grad()``; the loop calls ``model.eval()`` after
``before_test_epoch``; ``Runner.test()`` builds no optimizer and loads the
checkpoint before ``before_test``. So the hook snapshots the source weights in
``before_test``, builds its own optimizer, adapts in ``before_test_iter``
under ``torch.enable_grad()`` (``test_step`` then predicts the same batch with
the adapted model), and sets the mode of the norm layers itself.

A method is a subclass that implements :meth:`BaseTTTHook.ttt_loss` (a loss
over the model's branch outputs) and declares the branches it needs.
"""
import copy
import json
import os.path as osp
import re
import shutil
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.dist import get_rank
from mmengine.evaluator import Evaluator
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import OPTIMIZERS

from mmseg.registry import HOOKS

from ...evaluation.delta_ttt import delta_ttt

_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm,
               nn.modules.instancenorm._InstanceNorm)

RESET_POLICIES = ('online', 'episodic', 'single_batch')
PARAM_SETS = ('all', 'norm', 'encoder')


def ttt_hook_names() -> List[str]:
    """Names of every registered test-time-training hook."""
    names = []
    for name, cls in HOOKS.module_dict.items():
        if isinstance(cls, type) and issubclass(cls, BaseTTTHook) \
                and cls is not BaseTTTHook:
            names.append(name)
    return sorted(names)


class BaseTTTHook(Hook):
    """Adapt the model online on each test batch before it is predicted.

    Args:
        steps: Updates per batch (paper: up to 40).
        optimizer: Optimizer config (paper: SGD lr 2e-5, wd 1e-6).
        loss_scale: Multiplier of the test-time loss (paper: 0.01).
        params: Which parameters move: ``'all'``, ``'norm'`` (affine
            parameters of norm layers), ``'encoder'`` (the backbone), or a
            regular expression matched against parameter names.
        norm_mode: Mode of the norm layers while adapting: ``'train'`` (batch
            statistics, running statistics move) or ``'eval'``.
        predict_norm_mode: Mode of the norm layers while the adapted model
            predicts the batch (``'eval'`` by default).
        reset: ``'online'`` (the model carries over from batch to batch),
            ``'episodic'`` (back to the source weights before each batch) or
            ``'single_batch'`` (adapt on the first batch only, as the released
            code does, then evaluate the rest).
        grad_clip: Max gradient norm, or None.
        eval_source: Also predict every batch with the unadapted source model
            and report ``base/<metric>``, ``delta/<metric>`` and
            ``delta_ttt`` beside the adapted metrics.
        curve: Write ``ttt_curve.json`` (loss per step, running metrics and
            running Δ_TTT per batch) to the run's log dir and work dir.
        restore_after: Put the source weights back after the test loop.
        log_interval: Log the test-time loss every this many batches.
        seed: Seed of the hook's random generator (masks), or None.
    """

    #: Model branches the objective needs (checked in ``before_test``).
    required_branches: Sequence[str] = ('main', )

    def __init__(self,
                 steps: int = 1,
                 optimizer: Optional[dict] = None,
                 loss_scale: float = 1.0,
                 params: str = 'all',
                 norm_mode: str = 'train',
                 predict_norm_mode: str = 'eval',
                 reset: str = 'online',
                 grad_clip: Optional[float] = None,
                 eval_source: bool = False,
                 curve: bool = True,
                 restore_after: bool = True,
                 log_interval: int = 1,
                 seed: Optional[int] = 0):
        if int(steps) < 0:
            raise ValueError(f'steps must be >= 0, got {steps}')
        if reset not in RESET_POLICIES:
            raise ValueError(f'reset: unknown policy {reset!r}; expected one '
                             f'of {RESET_POLICIES}')
        for name, mode in (('norm_mode', norm_mode),
                           ('predict_norm_mode', predict_norm_mode)):
            if mode not in ('train', 'eval'):
                raise ValueError(f"{name} must be 'train' or 'eval', got "
                                 f'{mode!r}')
        if params not in PARAM_SETS:
            try:
                re.compile(params)
            except re.error as e:
                raise ValueError(
                    f'params: {params!r} is neither one of {PARAM_SETS} nor '
                    f'a valid regular expression ({e})') from e
        self.steps = int(steps)
        self.optimizer_cfg = dict(optimizer or dict(
            type='SGD', lr=2e-5, weight_decay=1e-6, momentum=0.0))
        self.loss_scale = float(loss_scale)
        self.params = params
        self.norm_mode = norm_mode
        self.predict_norm_mode = predict_norm_mode
        self.reset = reset
        self.grad_clip = grad_clip
        self.eval_source = eval_source
        self.curve = curve
        self.restore_after = restore_after
        self.log_interval = max(int(log_interval), 1)
        self.seed = seed

    # ------------------------------------------------------------ objective
    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        """Return the test-time losses of one step (summed, then scaled).

        Args:
            forward: ``forward(inputs, branches=..., mask=..., generator=...)``
                runs the model through its wrapper (see
                ``MultiTaskEncoderDecoder.forward_branches``).
            inputs: The preprocessed batch.
            data_samples: Its data samples (no ground truth is used).
            generator: The hook's random generator.

        ``self.model`` is the unwrapped model (tasks, ``activate``, head
        losses); the forward itself must go through ``forward``.
        """
        raise NotImplementedError(
            f'{type(self).__name__} must implement ttt_loss')

    # --------------------------------------------------------------- helpers
    @staticmethod
    def _unwrap(model: nn.Module) -> nn.Module:
        return model.module if is_model_wrapper(model) else model

    def _select_params(self, model: nn.Module) -> List[nn.Parameter]:
        if self.params == 'all':
            chosen = [p for p in model.parameters() if p.requires_grad]
        elif self.params == 'norm':
            chosen = [
                p for m in model.modules() if isinstance(m, _NORM_TYPES)
                for p in m.parameters(recurse=False) if p.requires_grad
            ]
        elif self.params == 'encoder':
            chosen = [p for p in model.backbone.parameters()
                      if p.requires_grad]
        else:
            pattern = re.compile(self.params)
            chosen = [p for n, p in model.named_parameters()
                      if p.requires_grad and pattern.search(n)]
        if not chosen:
            raise ValueError(f'{type(self).__name__}: params={self.params!r} '
                             'selects no trainable parameter of the model')
        return chosen

    def _set_mode(self, model: nn.Module, norm_mode: str) -> None:
        model.eval()
        if norm_mode == 'train':
            for m in model.modules():
                if isinstance(m, _NORM_TYPES):
                    m.train()

    @staticmethod
    def _clone_state(model: nn.Module) -> Dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def _forward_fn(self, runner):
        wrapped = runner.model

        def forward(inputs, branches, mask=None, generator=None):
            return wrapped(inputs, None, mode='branches', branches=branches,
                           mask=mask, generator=generator)

        return forward

    def _build_optimizer(self, model: nn.Module):
        cfg = dict(self.optimizer_cfg)
        cfg['params'] = self._params
        return OPTIMIZERS.build(cfg)

    # ------------------------------------------------------------- the hooks
    def before_test(self, runner) -> None:
        model = self._unwrap(runner.model)
        if not hasattr(model, 'forward_branches'):
            raise TypeError(
                f'{type(self).__name__} needs a model with forward_branches '
                f'(MultiTaskEncoderDecoder), got {type(model).__name__}')
        have = model.available_branches()
        missing = [b for b in self.required_branches if b not in have]
        if missing:
            raise ValueError(
                f'{type(self).__name__} needs the model branches {missing}, '
                f'but this model has only {have}: train a model whose config '
                'adds them (see configs/trttt/)')
        self.model = model  # the unwrapped model, for objectives
        self._source_state = self._clone_state(model)
        self._params = self._select_params(model)
        self.optimizer = self._build_optimizer(model)
        self._generator = torch.Generator()
        if self.seed is not None:
            self._generator.manual_seed(int(self.seed))
        self.nonfinite_skips = 0
        self.total_steps = 0
        self._curve = dict(method=type(self).__name__, steps_per_batch=[],
                           loss=[], metrics=[], base_metrics=[],
                           delta_ttt=[])
        evaluator = runner.test_loop.evaluator
        self._curve_eval = None
        if self.curve:
            self._curve_eval = Evaluator(copy.deepcopy(evaluator.metrics))
            for metric in self._curve_eval.metrics:
                if hasattr(metric, 'log_per_class'):
                    metric.log_per_class = False  # evaluated every batch
        self._source_model = None
        self._source_eval = None
        if self.eval_source:
            self._source_model = copy.deepcopy(model).eval()
            for p in self._source_model.parameters():
                p.requires_grad_(False)
            self._source_eval = Evaluator(copy.deepcopy(evaluator.metrics))

    def before_test_iter(self, runner, batch_idx: int,
                         data_batch=None) -> None:
        model = self._unwrap(runner.model)
        if self._source_model is not None:
            with torch.no_grad():
                data = self._source_model.data_preprocessor(data_batch, False)
                preds = self._source_model(**data, mode='predict')
            self._source_eval.process(data_samples=preds,
                                      data_batch=data_batch)
        adapt = not (self.reset == 'single_batch' and batch_idx > 0)
        if self.reset == 'episodic':
            model.load_state_dict(self._source_state)
            self.optimizer = self._build_optimizer(model)
        losses = []
        if adapt and self.steps > 0:
            losses = self._adapt(runner, model, data_batch)
        self._set_mode(model, self.predict_norm_mode)
        if self.curve:
            self._curve['steps_per_batch'].append(len(losses))
            self._curve['loss'].append(losses)
        if losses and batch_idx % self.log_interval == 0:
            runner.logger.info(
                f'[{type(self).__name__}] batch {batch_idx}: {len(losses)} '
                f'steps, loss {losses[0]:.5f} -> {losses[-1]:.5f}')

    def _adapt(self, runner, model: nn.Module, data_batch) -> List[float]:
        forward = self._forward_fn(runner)
        last_good = self._clone_state(model)
        self._set_mode(model, self.norm_mode)
        record = []
        with torch.enable_grad():
            data = model.data_preprocessor(data_batch, False)
            for step in range(self.steps):
                losses = self.ttt_loss(forward, data['inputs'],
                                       data['data_samples'], self._generator)
                loss = sum(losses.values()) * self.loss_scale
                self.optimizer.zero_grad(set_to_none=True)
                reason = None
                if not torch.isfinite(loss):
                    reason = f'non-finite loss ({loss.item()})'
                else:
                    loss.backward()
                    bad = [
                        p for p in self._params
                        if p.grad is not None and not torch.isfinite(
                            p.grad).all()
                    ]
                    if bad:
                        reason = f'non-finite gradient in {len(bad)} tensors'
                if reason is not None:
                    # Parameters were not stepped, but running statistics
                    # may have moved: restore the last good weights whole.
                    self.optimizer.zero_grad(set_to_none=True)
                    model.load_state_dict(last_good)
                    self.nonfinite_skips += 1
                    print_log(
                        f'[{type(self).__name__}] step {step}: {reason}; '
                        'update skipped, last good weights restored '
                        f'({self.nonfinite_skips} so far)',
                        logger='current', level=30)
                    break
                if self.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(self._params,
                                                   self.grad_clip)
                self.optimizer.step()
                self.total_steps += 1
                record.append(float(loss.detach()))
        return record

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs=None) -> None:
        if not self.curve:
            return
        self._curve_eval.process(data_samples=outputs, data_batch=data_batch)
        adapted = self._running(self._curve_eval)
        self._curve['metrics'].append(adapted)
        if self._source_eval is not None:
            base = self._running(self._source_eval)
            self._curve['base_metrics'].append(base)
            try:
                self._curve['delta_ttt'].append(
                    delta_ttt(base, adapted)['delta_ttt'])
            except ValueError:
                self._curve['delta_ttt'].append(None)

    @staticmethod
    def _running(evaluator: Evaluator) -> dict:
        out = {}
        for metric in evaluator.metrics:
            if metric.results:
                res = metric.compute_metrics(list(metric.results))
                out.update({k: float(v) for k, v in res.items()
                            if isinstance(v, (int, float))})
        return out

    def after_test_epoch(self, runner, metrics: Optional[dict] = None
                         ) -> None:
        if metrics is None:
            return
        metrics['ttt/steps'] = self.total_steps
        metrics['ttt/nonfinite_skips'] = self.nonfinite_skips
        if self._source_eval is not None:
            size = len(runner.test_dataloader.dataset)
            base = self._source_eval.evaluate(size)
            adapted = {k: v for k, v in metrics.items()
                       if not k.startswith(('ttt/', 'base/', 'delta'))}
            for k, v in base.items():
                metrics[f'base/{k}'] = v
            try:
                d = delta_ttt(base, adapted)
                metrics['delta_ttt'] = d['delta_ttt']
                for k, v in d['per_task'].items():
                    metrics[f'delta/{k}'] = v
            except ValueError as e:
                print_log(f'[{type(self).__name__}] Δ_TTT not computed: {e}',
                          logger='current', level=30)
        if self.curve and get_rank() == 0:
            self._curve['final'] = {
                k: (float(v) if isinstance(v, (int, float)) else v)
                for k, v in metrics.items()
            }
            path = osp.join(runner.log_dir, 'ttt_curve.json')
            with open(path, 'w') as f:
                json.dump(self._curve, f)
            shutil.copyfile(path, osp.join(runner.work_dir, 'ttt_curve.json'))
            runner.logger.info(f'test-time curve written to {path}')

    def after_test(self, runner) -> None:
        if self.restore_after:
            self._unwrap(runner.model).load_state_dict(self._source_state)
        self._source_model = None

