"""Generic test-time-training hook: the adaptation mechanics every method shares.

mmengine facts this relies on (0.10.7): ``TestLoop.run_iter`` runs under
``torch.no_grad()``; the loop calls ``model.eval()`` after
``before_test_epoch``; ``Runner.test()`` builds no optimizer and loads the
checkpoint before ``before_test``. So the hook snapshots the source weights in
``before_test``, builds its own optimizer, adapts in ``before_test_iter``
under ``torch.enable_grad()`` (``test_step`` then predicts the same batch with
the adapted model), and sets the mode of the norm layers itself.

A method is a subclass that implements :meth:`BaseTTTHook.ttt_loss` (a loss
over the model's branch outputs), names the auxiliary head it reads
(``head_type``) and, when it needs one, a per-method :meth:`setup` (called
after the checkpoint is loaded: configure layers, register forward hooks,
check source statistics) and :meth:`teardown`. Monitoring (the unadapted model,
running metrics, the curve, Δ_TTT) is :class:`TTTMonitorHook`'s job.
"""
import math
import numbers
import re
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import OPTIMIZERS

from mmseg.registry import HOOKS

from ...models.segmentors.plain_adapter import (PLAIN_AUX_HEADS_KEY,
                                                as_branch_model, call_branches)

from .guard import StepSnapshot, nonfinite_count
from .norm_policy import NORM_SCOPES, NORM_TYPES, NormPolicy  # noqa: F401
from .norm_policy import norm_buffers

RESET_POLICIES = ('online', 'episodic', 'single_batch')
PARAM_SETS = ('all', 'norm', 'encoder')

#: Message-hub key under which the adapting hook publishes the losses of the
#: last batch's steps (a list of floats) for the monitor.
BATCH_LOSSES_KEY = 'ttt/batch_losses'
#: Message-hub key of the state-dict keys that did not come from the
#: checkpoint (written by tools/test.py's loader).
MISSING_KEYS_KEY = 'checkpoint_missing_keys'


def ttt_hook_names() -> List[str]:
    """Names of every registered test-time-training hook."""
    names = []
    for name, cls in HOOKS.module_dict.items():
        if isinstance(cls, type) and issubclass(cls, BaseTTTHook) \
                and cls is not BaseTTTHook:
            names.append(name)
    return sorted(names)


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f'{name} must be an integer >= {minimum}, got '
                             f'{value!r} ({type(value).__name__})')
    if value < minimum:
        raise ValueError(f'{name} must be >= {minimum}, got {value}')
    return int(value)


def _check_positive(name: str, value, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f'{name} must be a number, got {value!r} '
                         f'({type(value).__name__})')
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0
                                                 and not allow_zero):
        bound = '>= 0' if allow_zero else '> 0'
        raise ValueError(f'{name} must be a finite number {bound}, got '
                         f'{value}')
    return value


def check_optimizer_cfg(cfg, where: str) -> dict:
    """Validate an optimizer config dict, naming the bad key."""
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'{where}.optimizer must be a dict with a type, got '
                         f'{cfg!r}')
    cfg = dict(cfg)
    if 'lr' in cfg:
        cfg['lr'] = _check_positive(f'{where}.optimizer.lr', cfg['lr'],
                                    allow_zero=True)
    for key in ('weight_decay', 'momentum'):
        if key in cfg:
            cfg[key] = _check_positive(f'{where}.optimizer.{key}', cfg[key],
                                       allow_zero=True)
    return cfg


class BaseTTTHook(Hook):
    """Adapt the model on each test batch before it is predicted.

    Args:
        steps: Updates per batch (integer >= 0).
        optimizer: Optimizer config (default SGD lr 2e-5, wd 1e-6).
        loss_scale: Multiplier of the test-time loss (> 0).
        params: Which parameters move: ``'all'``, ``'norm'`` (affine
            parameters of norm layers), ``'encoder'`` (the backbone), or a
            non-empty regular expression matched against parameter names.
        norm_mode: Mode of the norm layers while adapting: ``'train'`` (the
            layers of ``norm_scope`` normalise with batch statistics and
            move their running statistics) or ``'eval'``.
        predict_norm_mode: Mode of the norm layers while the adapted model
            predicts the batch (``'eval'`` by default).
        norm_scope: Which norm layers ``'train'`` concerns: ``'model'``
            (every one, default), ``'encoder'`` (the backbone's) or
            ``'adapted'`` (those holding adapted parameters). See
            :class:`~.norm_policy.NormPolicy`, the hook's ``norm_policy``.
        reset: ``'online'`` (the model carries over from batch to batch),
            ``'episodic'`` (back to the source weights and a fresh optimizer
            before each batch) or ``'single_batch'`` (adapt on the first batch
            only, as the released TR-TTT code does, then evaluate the rest).
        grad_clip: Max gradient norm (> 0), or None.
        head: Name of the auxiliary head the method reads; ``None`` finds the
            model's only head of the method's ``head_type``.
        restore_after: Put the source weights back after the test loop.
        log_interval: Log the test-time loss every this many batches.
        seed: Seed of the hook's random generator (masks, views), or None.
        running_stats: ``'update'`` or ``'forget'`` (see
            :class:`~.norm_policy.NormPolicy`); None: the method's own
            (:attr:`running_stats`: TENT forgets them, the others update).

    Non-finite guard: when the loss, a branch output, a norm-layer buffer, a
    gradient or a parameter after the update is not finite in a step, the
    batch is rolled back: the adapted parameters, the norm-layer buffers and
    the optimizer's state come back as the batch started, the batch's
    remaining steps are skipped, and the event is counted
    (``ttt/nonfinite_skips``) and logged. The checks are fused reductions on
    the device, read to the host once per step (with the step losses on the
    last step); under DDP the decision is collective (one all-reduce per
    step): every rank skips and restores together.
    """

    #: Class of the auxiliary head the method reads (None: main branch only).
    head_type: Optional[type] = None
    #: Branches the objective computes besides the head (checked in
    #: ``before_test``).
    required_branches: Sequence[str] = ('main', )
    #: What the method does with running statistics (``'update'`` or
    #: ``'forget'``, see :class:`~.norm_policy.NormPolicy`).
    running_stats: str = 'update'
    priority = 'NORMAL'

    def __init__(self,
                 steps: int = 1,
                 optimizer: Optional[dict] = None,
                 loss_scale: float = 1.0,
                 params: str = 'all',
                 norm_mode: str = 'train',
                 predict_norm_mode: str = 'eval',
                 norm_scope: str = 'model',
                 reset: str = 'online',
                 grad_clip: Optional[float] = None,
                 head: Optional[str] = None,
                 restore_after: bool = True,
                 log_interval: int = 1,
                 seed: Optional[int] = 0,
                 running_stats: Optional[str] = None,
                 **kwargs):
        where = type(self).__name__
        moved = {'eval_source', 'curve'} & set(kwargs)
        if moved:
            raise TypeError(
                f'{where}: {sorted(moved)} moved to TTTMonitorHook (tools/'
                'test.py --tta-hook adds it with cfg.ttt.TTTMonitorHook)')
        if kwargs:
            raise TypeError(f'{where}: unknown arguments {sorted(kwargs)}')
        self.steps = _check_int(f'{where}.steps', steps, 0)
        if reset not in RESET_POLICIES:
            raise ValueError(f'{where}.reset: unknown policy {reset!r}; '
                             f'expected one of {RESET_POLICIES}')
        if running_stats is not None:
            # e.g. TENT with its source statistics kept (the benchmark's
            # gradient-only variant of it)
            self.running_stats = running_stats
        self.norm_policy = NormPolicy(
            adapt=norm_mode, predict=predict_norm_mode, scope=norm_scope,
            running_stats=self.running_stats, where=where)
        if not isinstance(params, str) or not params.strip():
            raise ValueError(f'{where}.params must be one of {PARAM_SETS} or '
                             f'a non-empty regular expression, got {params!r}')
        if params not in PARAM_SETS:
            try:
                re.compile(params)
            except re.error as e:
                raise ValueError(
                    f'{where}.params: {params!r} is neither one of '
                    f'{PARAM_SETS} nor a valid regular expression ({e})'
                ) from e
        self.optimizer_cfg = check_optimizer_cfg(
            optimizer or dict(
                type='SGD', lr=2e-5, weight_decay=1e-6, momentum=0.0), where)
        self.loss_scale = _check_positive(f'{where}.loss_scale', loss_scale)
        self.grad_clip = None if grad_clip is None else _check_positive(
            f'{where}.grad_clip', grad_clip)
        if head is not None and (not isinstance(head, str) or not head):
            raise ValueError(f'{where}.head must be a head name or None, got '
                             f'{head!r}')
        if seed is not None:
            seed = _check_int(f'{where}.seed', seed, 0)
        self.params = params
        self.norm_mode = norm_mode
        self.predict_norm_mode = predict_norm_mode
        self.norm_scope = norm_scope
        self.reset = reset
        self.head = head
        self.restore_after = bool(restore_after)
        self.log_interval = _check_int(f'{where}.log_interval', log_interval,
                                       1)
        self.seed = seed
        # the guard: what a batch's steps can change, copied on the device
        self._snapshot = StepSnapshot()
        self._output_faults = 0

    # ------------------------------------------------------------ objective
    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        """Return the test-time losses of one step (summed, then scaled).

        Args:
            forward: ``forward(inputs, branches=..., mask=..., generator=...)``
                runs the model through its wrapper (see
                ``MultiTaskEncoderDecoder.forward_branches``); the method's
                head is ``self.head_name``.
            inputs: The preprocessed batch.
            data_samples: Its data samples (no ground truth is used).
            generator: The hook's random generator.

        ``self.model`` is the unwrapped model (tasks, ``activate``, head
        losses); the forward itself must go through ``forward``.
        """
        raise NotImplementedError(
            f'{type(self).__name__} must implement ttt_loss')

    def setup(self, runner, model: nn.Module) -> None:
        """Per-method preparation, after the checkpoint is loaded and before
        the source weights are snapshot (configure layers, register forward
        hooks, check source statistics). The base prepares the norm policy
        (:meth:`NormPolicy.prepare`); a method calls ``super().setup``."""
        self.norm_policy.prepare(model)

    def teardown(self, runner, model: nn.Module) -> None:
        """Undo what :meth:`setup` changed in the model (after the test);
        a method calls ``super().teardown``."""
        self.norm_policy.restore(model)

    def norm_overrides(self, model: nn.Module) -> Dict[nn.Module, bool]:
        """``{norm layer: training?}`` the method sets after the norm
        policy's scope in mode ``'train'`` (none by default)."""
        return {}

    # --------------------------------------------------------------- helpers
    @staticmethod
    def _unwrap(model: nn.Module) -> nn.Module:
        return model.module if is_model_wrapper(model) else model

    @property
    def head_module(self) -> nn.Module:
        """The auxiliary head the method reads."""
        return self.model.aux_heads[self.head_name]

    def _resolve_head(self, model: nn.Module) -> Optional[str]:
        where = type(self).__name__
        if self.head_type is None:
            if self.head is not None and self.head not in model.aux_heads:
                raise ValueError(f'{where}.head: the model has no auxiliary '
                                 f'head {self.head!r}; it has '
                                 f'{tuple(model.aux_heads.keys())}')
            return self.head
        kind = self.head_type.__name__
        if self.head is not None:
            if self.head not in model.aux_heads:
                raise ValueError(
                    f'{where}.head: the model has no auxiliary head '
                    f'{self.head!r}; it has {tuple(model.aux_heads.keys())}')
            if not isinstance(model.aux_heads[self.head], self.head_type):
                raise ValueError(
                    f'{where}.head: {self.head!r} is a '
                    f'{type(model.aux_heads[self.head]).__name__}, not a '
                    f'{kind}')
            return self.head
        found = [n for n, h in model.aux_heads.items()
                 if isinstance(h, self.head_type)]
        if not found:
            advice = getattr(model, 'missing_head_advice', None)
            raise ValueError(
                f'{where} needs a model with a {kind} in aux_heads, but this '
                f'model has {dict((n, type(h).__name__) for n, h in model.aux_heads.items()) or "none"}: '  # noqa: E501
                + (advice(kind) if callable(advice) else
                   'train a model whose config adds one (see '
                   'docs/methods.md)'))
        if len(found) > 1:
            raise ValueError(f'{where}: the model has several {kind}s '
                             f'{found}; choose one with head=NAME')
        return found[0]

    def _check_checkpoint(self, runner, model: nn.Module) -> None:
        """Refuse to adapt branches whose weights did not come from the
        checkpoint (tools/test.py records the keys it could not load)."""
        try:
            missing = runner.message_hub.get_info(MISSING_KEYS_KEY)
        except Exception:  # noqa: BLE001 - no message hub / no info
            missing = None
        if not missing:
            return
        prefixes = ['backbone.', 'decode_head.']
        if getattr(model, 'neck', None) is not None:
            prefixes.append('neck.')
        if self.head_name is not None:
            prefixes.append(f'aux_heads.{self.head_name}.')
        bad = [k for k in missing if k.startswith(tuple(prefixes))]
        if bad:
            raise RuntimeError(
                f'{type(self).__name__}: {len(bad)} weights of the branches '
                f'it adapts were not in the checkpoint (e.g. {bad[:5]}); '
                'adapting randomly initialised weights would report '
                'meaningless numbers')

    def _select_params(self, model: nn.Module) -> List[nn.Parameter]:
        if self.params == 'all':
            chosen = [p for p in model.parameters() if p.requires_grad]
        elif self.params == 'norm':
            chosen = [
                p for m in model.modules() if isinstance(m, NORM_TYPES)
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
        """The model in eval mode but the norm layers the policy puts in
        training mode for ``norm_mode`` (:meth:`NormPolicy.apply`)."""
        overrides = self.norm_overrides(model) if norm_mode == 'train' \
            else None
        self.norm_policy.apply(model, norm_mode, getattr(self, '_params', ()),
                               overrides)

    @staticmethod
    def _clone_state(model: nn.Module) -> Dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def _forward_fn(self, runner):
        wrapped = runner.model

        def forward(inputs, branches, mask=None, generator=None):
            out = call_branches(wrapped, self.model, inputs, branches,
                                mask=mask, generator=generator)
            # counted on the device, read with the step's decision
            self._output_faults = self._output_faults + nonfinite_count(
                {k: v for k, v in out.items() if k not in ('feats', )},
                getattr(self, '_device', None))
            return out

        return forward

    def _build_optimizer(self, model: nn.Module):
        cfg = dict(self.optimizer_cfg)
        cfg['params'] = self._params
        return OPTIMIZERS.build(cfg)

    def _buffers_finite(self, model: nn.Module) -> bool:
        """Whether every floating buffer of the norm layers is finite (one
        host read)."""
        return not bool(nonfinite_count(norm_buffers(model)) > 0)

    @staticmethod
    def _any_rank(flag: bool, device) -> bool:
        """True on every rank when ``flag`` is true on any rank."""
        if get_world_size() == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        all_reduce(t, op='sum')
        return bool(t.item() > 0)

    # ------------------------------------------------------------- the hooks
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the auxiliary heads that a plain mmseg segmentor's
        checkpoint carries beside its weights (``PLAIN_AUX_HEADS_KEY``,
        written by tools/analysis/source_stats.py) for its adapter."""
        self._plain_aux_heads = checkpoint.get(PLAIN_AUX_HEADS_KEY)

    def before_test(self, runner) -> None:
        # MultiTaskEncoderDecoder as it is; a plain mmseg EncoderDecoder or
        # CascadeEncoderDecoder through PlainSegmentorAdapter (a clear error
        # for any other model)
        model = as_branch_model(
            self._unwrap(runner.model),
            plain_aux_heads=getattr(self, '_plain_aux_heads', None),
            where=type(self).__name__)
        have = model.available_branches()
        missing = [b for b in self.required_branches if b not in have]
        if missing:
            raise ValueError(
                f'{type(self).__name__} needs the model branches {missing}, '
                f'but this model has only {have}')
        self.model = model  # the unwrapped model, for objectives
        self.head_name = self._resolve_head(model)
        self._check_checkpoint(runner, model)
        self.setup(runner, model)
        self._source_state = self._clone_state(model)
        self._params = self._select_params(model)
        self.optimizer = self._build_optimizer(model)
        self._generator = torch.Generator()
        if self.seed is not None:
            self._generator.manual_seed(int(self.seed))
        self.nonfinite_skips = 0
        self.total_steps = 0
        self._device = next(model.parameters()).device

    def before_test_iter(self, runner, batch_idx: int,
                         data_batch=None) -> None:
        model = self._unwrap(runner.model)
        adapt = not (self.reset == 'single_batch' and batch_idx > 0)
        if self.reset == 'episodic':
            model.load_state_dict(self._source_state)
            self.optimizer = self._build_optimizer(model)
        losses = []
        if adapt and self.steps > 0:
            losses = self._adapt(runner, model, data_batch)
        self._set_mode(model, self.predict_norm_mode)
        runner.message_hub.update_info(BATCH_LOSSES_KEY, list(losses),
                                       resumed=False)
        if losses and batch_idx % self.log_interval == 0:
            runner.logger.info(
                f'[{type(self).__name__}] batch {batch_idx}: {len(losses)} '
                f'steps, loss {losses[0]:.5f} -> {losses[-1]:.5f}')

    def _adapt(self, runner, model: nn.Module, data_batch) -> List[float]:
        forward = self._forward_fn(runner)
        buffers = norm_buffers(model)
        # What the steps can change (the adapted parameters, the norm
        # buffers, the optimizer's state), copied on the device to roll the
        # batch back.
        self._snapshot.take(list(self._params) + buffers, self.optimizer)
        self._set_mode(model, self.norm_mode)
        device = self._device
        losses = []
        with torch.enable_grad():
            data = model.data_preprocessor(data_batch, False)
            for step in range(self.steps):
                self._output_faults = 0
                terms = self.ttt_loss(forward, data['inputs'],
                                      data['data_samples'], self._generator)
                loss = sum(terms.values()) * self.loss_scale
                self.optimizer.zero_grad(set_to_none=True)
                # The loss and the branch outputs are counted exactly; the
                # buffers, gradients and parameters (most of the tensors) by
                # the cheaper bound, confirmed exactly when it is not zero.
                faults = [
                    nonfinite_count(loss, device),
                    torch.as_tensor(self._output_faults, dtype=torch.float32,
                                    device=device),
                    nonfinite_count(buffers, device, exact=False)
                ]
                # Every rank runs the backward pass and the update whatever
                # the checks find: a faulty step is undone below, on every
                # rank together (no rank waits in DDP's all-reduce for a
                # backward pass that never comes).
                loss.backward()
                grads = [p.grad for p in self._params if p.grad is not None]
                faults.append(nonfinite_count(grads, device, exact=False))
                if self.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(self._params,
                                                   self.grad_clip)
                self.optimizer.step()
                # finite gradients can still step to an overflow (a huge
                # gradient times the learning rate)
                faults.append(nonfinite_count(self._params, device,
                                              exact=False))
                losses.append(loss.detach())
                last = step == self.steps - 1

                def exact(faults=faults, grads=grads):
                    return torch.stack(faults[:2] + [
                        nonfinite_count(buffers, device),
                        nonfinite_count(grads, device),
                        nonfinite_count(self._params, device)
                    ])

                reason, values = self._decide(torch.stack(faults),
                                              losses if last else None, loss,
                                              exact)
                if reason is not None:
                    # Running statistics (and, after the update, parameters
                    # and the optimizer's state) moved: the batch's start
                    # comes back.
                    self.optimizer.zero_grad(set_to_none=True)
                    self._snapshot.restore(self.optimizer)
                    self.nonfinite_skips += 1
                    print_log(
                        f'[{type(self).__name__}] step {step}: {reason}; '
                        'update skipped, the weights the batch started with '
                        f'restored ({self.nonfinite_skips} so far)',
                        logger='current', level=30)
                    return []
        self.total_steps += len(values)
        return values

    def _decide(self, faults: torch.Tensor,
                losses: Optional[List[torch.Tensor]], loss: torch.Tensor,
                exact=None):
        """The guard's decision on one step: ``(reason, step losses)``.

        ``faults`` counts, on this rank, the non-finite loss, branch
        outputs, norm-layer buffers, gradients and parameters after the
        update. They are summed over the ranks (one all-reduce under DDP) and
        read to the host at once, with the step losses when ``losses`` is
        given (the last step): the one host read of the step. ``reason`` is
        None when every rank's step is finite.

        ``exact``: when ``faults`` holds upper bounds (see
        :func:`~.guard.nonfinite_count`), a callable giving the exact
        counts; a non-zero bound on any rank is confirmed with them on
        every rank (one more all-reduce and read, on that path only).
        """
        if exact is not None:
            reason, values = self._decide(faults, losses, loss)
            if reason is None:
                return reason, values
            faults = exact()
        every = faults
        if get_world_size() > 1:
            every = faults.clone()
            all_reduce(every, op='sum')
        parts = [faults, every]
        dtype = torch.float32
        if losses is not None:
            stacked = torch.stack(losses)
            dtype = torch.promote_types(stacked.dtype, dtype)
            parts.append(stacked)
        values = torch.cat([p.to(dtype) for p in parts]).tolist()
        n = faults.numel()
        mine, every = values[:n], values[n:2 * n]
        if not any(every):
            return None, values[2 * n:]
        if mine[0]:  # the fault path only: one more read, for the message
            return f'non-finite loss ({float(loss.detach())})', []
        if mine[1]:
            return 'non-finite branch output', []
        if mine[2]:
            return 'non-finite norm-layer statistics', []
        if any(every[:3]):
            return 'a fault on another rank', []
        if mine[3]:
            return f'non-finite gradient in {int(mine[3])} tensors', []
        if every[3]:
            return 'a fault on another rank', []
        if mine[4]:
            return (f'non-finite parameters after the update in '
                    f'{int(mine[4])} tensors'), []
        return 'a fault on another rank', []

    def after_test_epoch(self, runner, metrics: Optional[dict] = None
                         ) -> None:
        if metrics is None:
            return
        # The skip decision is collective, so every rank counts the same.
        metrics['ttt/steps'] = self.total_steps
        metrics['ttt/nonfinite_skips'] = self.nonfinite_skips

    def after_test(self, runner) -> None:
        model = self._unwrap(runner.model)
        if self.restore_after:
            model.load_state_dict(self._source_state)
        self.teardown(runner, model)
