"""TIPI (Nguyen et al., CVPR 2023): test-time adaptation with transformation
invariance — make the predictions stable under a small adversarial
perturbation of the input, normalised with a second set of batch-norm
statistics."""
import contextlib
import numbers
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmseg.registry import HOOKS

from ...tasks import TASK_KINDS, activate
from .norm_policy import running_bn_layers
from .objectives import (classification_task, masked_mean, softmax_entropy,
                         valid_pixels)
from .ttt_hook import BaseTTTHook

#: Buffer names of the adversarial statistics added to each batch-norm layer.
ADV_BUFFERS = ('tipi_adv_running_mean', 'tipi_adv_running_var',
               'tipi_adv_num_batches_tracked')
_MAIN_BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')


def task_divergence(task: str, adv: torch.Tensor, clean: torch.Tensor
                    ) -> torch.Tensor:
    """Per-pixel divergence ``(B, 1, H, W)`` of a perturbed raw output from
    the clean one (already detached), by kind of task.

    * classification (semseg): ``KL(p_adv ‖ p_clean)`` over the softmax (the
      official ``KL(..., reverse=True)``);
    * binary (edge): the KL divergence of the two Bernoulli distributions,
      same direction;
    * regression (depth) and direction (normals): the L1 distance of the
      activated outputs (depth; unit normals), averaged over channels.
    """
    kind = TASK_KINDS[task]
    if kind == 'classification':
        log_a, log_c = adv.log_softmax(1), clean.log_softmax(1)
        return (log_a.exp() * (log_a - log_c)).sum(1, keepdim=True)
    if kind == 'binary':
        q = adv.sigmoid()
        return (q * (F.logsigmoid(adv) - F.logsigmoid(clean)) +
                (1 - q) * (F.logsigmoid(-adv) - F.logsigmoid(-clean)))
    return (activate(task, adv) - activate(task, clean)).abs().mean(
        1, keepdim=True)


@HOOKS.register_module()
class TIPIHook(BaseTTTHook):
    """TIPI as the official ``atuannguyen/TIPI`` (``tipi.py``) does it, on a
    dense multi-task model.

    Every batch-norm layer with running statistics (any ``_BatchNorm``; the
    official replaces only layers of type exactly ``nn.BatchNorm2d``; a model
    without any adapts its other norm layers the same way, the two passes
    then sharing their normalisation) keeps two sets of running
    statistics, ``'main'`` (its own) and ``'adversarial'`` (buffers
    :data:`ADV_BUFFERS`, starting as copies of the source statistics), with
    shared affine parameters. One step per batch, norm layers in training
    mode (both sets move with the layer's momentum):

    1. ``pred = f(x)`` with the main statistics;
    2. with the adversarial statistics, ``δ₀`` (uniform in ``[−ε, ε]`` with
       ``random_init``, else 0), ``g = ∇_δ D(f(x + δ₀), pred)``, then one FGSM
       step ``δ = clip(δ₀ + ε·sign(g), −ε, ε)``;
    3. ``loss = D(f(x + δ), stopgrad(pred)) + entropy_weight · H(pred)``,
       ``D`` the sum over tasks of ``task_weights[t]`` times the mean over
       valid pixels of :func:`task_divergence`, ``H`` the softmax entropy of
       the semseg logits.

    The batch is then predicted with the main statistics in eval mode.
    ``ε`` is given in units of an image in [0, 1] (official 2/255) and
    converted to the model's input: the preprocessor computes
    ``(x − mean_c) / std_c`` from pixels in [0, ``pixel_range``], so the
    perturbation is ``ε·pixel_range / std_c`` per channel (``2/std_c`` for
    the default 2/255 and 8-bit images). Padding is never perturbed and
    never counted in a loss.

    Parameters: the affine parameters of every norm layer (batch, group,
    instance and layer norm), as the official ``collect_params``.
    Defaults: the official ImageNet/VisDA setting (random start, entropy
    weight 1, SGD momentum 0.9, wd 0, ``lr = lr_per_sample · B`` with
    ``lr_per_sample = 2.5e-4/64`` and ``B`` the batch size on this process).

    Args:
        epsilon: Perturbation size in [0, 1]-image units (> 0).
        random_init: Start the FGSM step from a uniform random ``δ₀`` (the
            official ImageNet/VisDA setting). With ``δ₀ = 0`` the first
            gradient is exactly zero (``D`` is at its minimum), so the step
            does not perturb the input.
        entropy_weight: Weight of the entropy term (official ``tent_coeff``:
            0 CIFAR-10, 5 CIFAR-100, 1 ImageNet/VisDA/digits).
        task_weights: ``{task: weight}`` of the divergence terms (default 1
            for every task of the model).
        lr_per_sample: When set, the learning rate of each batch is
            ``lr_per_sample × batch size`` (official); None keeps the
            optimizer's.
        pixel_range: Range of the raw pixel values (255 for 8-bit images).
        Others: see :class:`BaseTTTHook`.
    """

    head_type = None
    required_branches = ('main', )

    def __init__(self,
                 epsilon: float = 2 / 255,
                 random_init: bool = True,
                 entropy_weight: float = 1.0,
                 task_weights: Optional[Dict[str, float]] = None,
                 lr_per_sample: Optional[float] = 2.5e-4 / 64,
                 pixel_range: float = 255.0,
                 steps: int = 1,
                 optimizer: Optional[dict] = None,
                 params: str = 'norm',
                 norm_mode: str = 'train',
                 **kwargs):
        super().__init__(
            steps=steps,
            optimizer=optimizer or dict(type='SGD', lr=2.5e-4 / 64 * 8,
                                        momentum=0.9, weight_decay=0.0),
            params=params, norm_mode=norm_mode, **kwargs)
        where = 'TIPIHook'
        for name, value, allow_zero in (('epsilon', epsilon, False),
                                        ('entropy_weight', entropy_weight,
                                         True),
                                        ('pixel_range', pixel_range, False)):
            if isinstance(value, bool) or not isinstance(
                    value, numbers.Real) or not (
                        value >= 0 if allow_zero else value > 0):
                raise ValueError(f'{where}.{name} must be a number '
                                 f'{">= 0" if allow_zero else "> 0"}, got '
                                 f'{value!r}')
        if lr_per_sample is not None and (
                isinstance(lr_per_sample, bool)
                or not isinstance(lr_per_sample, numbers.Real)
                or lr_per_sample < 0):
            raise ValueError(f'{where}.lr_per_sample must be a number >= 0 '
                             f'or None, got {lr_per_sample!r}')
        self.task_weights = dict(task_weights or {})
        for t, w in self.task_weights.items():
            if t not in TASK_KINDS:
                raise ValueError(f'{where}.task_weights: unknown task {t!r}; '
                                 f'expected some of {tuple(TASK_KINDS)}')
            if isinstance(w, bool) or not isinstance(
                    w, numbers.Real) or w < 0:
                raise ValueError(f'{where}.task_weights[{t!r}] must be a '
                                 f'number >= 0, got {w!r}')
        self.epsilon = float(epsilon)
        self.random_init = bool(random_init)
        self.entropy_weight = float(entropy_weight)
        self.lr_per_sample = None if lr_per_sample is None \
            else float(lr_per_sample)
        self.pixel_range = float(pixel_range)

    # ----------------------------------------------------------- set-up
    def setup(self, runner, model: nn.Module) -> None:
        super().setup(runner, model)
        where = 'TIPIHook'
        if self.entropy_weight > 0:
            self._entropy_task = classification_task(
                model, f'{where}.entropy_weight > 0')
        missing = [t for t in self.task_weights if t not in model.tasks]
        if missing:
            raise ValueError(f'{where}.task_weights: the model has no task '
                             f'{missing}; it predicts {tuple(model.tasks)}')
        self._weights = {t: float(self.task_weights.get(t, 1.0))
                         for t in model.tasks}
        self._bns = running_bn_layers(model)
        for m in self._bns:
            for adv, main in zip(ADV_BUFFERS, _MAIN_BUFFERS):
                value = getattr(m, main)
                m.register_buffer(adv, None if value is None else
                                  value.detach().clone())
        self._eps = self._epsilon_per_channel(model)

    def teardown(self, runner, model: nn.Module) -> None:
        for m in self._bns:
            for adv in ADV_BUFFERS:
                m._buffers.pop(adv, None)
        self._bns = []
        super().teardown(runner, model)

    def _epsilon_per_channel(self, model: nn.Module) -> torch.Tensor:
        """ε in the units of the normalised input, ``(1, C, 1, 1)``."""
        eps = self.epsilon * self.pixel_range
        std = getattr(model.data_preprocessor, 'std', None)
        if std is None or not getattr(model.data_preprocessor,
                                      '_enable_normalize', True):
            return torch.full((1, 1, 1, 1), eps)
        std = torch.as_tensor(std, dtype=torch.float32).flatten()
        if not torch.all(std > 0):
            raise ValueError('TIPIHook: the data preprocessor has a std <= 0 '
                             f'({std.tolist()}); cannot convert epsilon')
        return (eps / std).view(1, -1, 1, 1)

    @contextlib.contextmanager
    def adversarial_stats(self):
        """Batch-norm layers use (and update) the adversarial statistics."""
        def swap():
            for m in self._bns:
                for adv, main in zip(ADV_BUFFERS, _MAIN_BUFFERS):
                    b = m._buffers
                    b[adv], b[main] = b[main], b[adv]
        swap()
        try:
            yield
        finally:
            swap()

    # ---------------------------------------------------------- objective
    def _divergence(self, adv: dict, clean: dict, valid: torch.Tensor
                    ) -> Dict[str, torch.Tensor]:
        return {
            f'loss_div_{t}': w * masked_mean(
                task_divergence(t, adv[t], clean[t]), valid)
            for t, w in self._weights.items() if w > 0
        }

    def ttt_loss(self, forward, inputs: torch.Tensor, data_samples: list,
                 generator: torch.Generator) -> Dict[str, torch.Tensor]:
        if self.lr_per_sample is not None and self.optimizer is not None:
            # official: lr = lr_per_sample x batch size, set every batch
            for group in self.optimizer.param_groups:
                group['lr'] = self.lr_per_sample * inputs.shape[0]
        valid = valid_pixels(inputs, data_samples)
        eps = self._eps.to(inputs.device, inputs.dtype)
        pred = forward(inputs, branches=('main', ))['main']
        clean = {t: v.detach() for t, v in pred.items()}
        with self.adversarial_stats():
            if self.random_init:
                u = torch.rand(inputs.shape, generator=generator)
                delta = (u.to(inputs.device, inputs.dtype) * 2 - 1) * eps
                delta = (delta * valid).requires_grad_(True)
                first = forward(inputs + delta, branches=('main', ))['main']
                div = sum(self._divergence(first, clean, valid).values())
                grad, = torch.autograd.grad(div, [delta])
            else:
                # δ₀ = 0: the official takes this gradient through the clean
                # prediction, where D is at its minimum: it is exactly zero.
                delta = torch.zeros_like(inputs)
                grad = torch.zeros_like(inputs)
            delta = torch.maximum(
                torch.minimum(delta.detach() + eps * grad.sign(), eps), -eps)
            delta = delta * valid
            adv = forward(inputs + delta, branches=('main', ))['main']
        losses = self._divergence(adv, clean, valid)
        if self.entropy_weight > 0:
            losses['loss_entropy'] = self.entropy_weight * masked_mean(
                softmax_entropy(pred[self._entropy_task]), valid)
        return losses
