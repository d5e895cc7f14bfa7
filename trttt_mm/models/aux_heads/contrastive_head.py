"""TTT++'s branch (Liu et al., NeurIPS 2021): a SimCLR projection head on
pooled encoder features, and the source moments its alignment terms use."""
import math
import numbers
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS

from .base import BaseAuxHead

#: The two feature spaces TTT++ aligns: the pooled encoder output ("ext")
#: and the projection head's output ("ssh").
SPACES = ('ext', 'ssh')


def covariance(features: Tensor) -> Tensor:
    """Unbiased covariance of ``(N, d)`` features (N >= 2)."""
    n = features.shape[0]
    centred = features - features.mean(dim=0, keepdim=True)
    return centred.t() @ centred / (n - 1)


def coral(cov_s: Tensor, cov_t: Tensor) -> Tensor:
    """CORAL distance ``||Σs − Σt||²_F / (4 d²)``."""
    d = cov_s.shape[0]
    return (cov_s - cov_t).pow(2).sum() / (4.0 * d * d)


def linear_mmd(mean_s: Tensor, mean_t: Tensor) -> Tensor:
    """Linear MMD ``mean((μs − μt)²)``."""
    return (mean_s - mean_t).pow(2).mean()


def nt_xent(embeddings: Tensor, num_views: int = 2,
            temperature: float = 0.5,
            base_temperature: Optional[float] = 0.07) -> Tensor:
    """SimCLR's contrastive loss over ``num_views`` views of each sample.

    Args:
        embeddings: ``(num_views·B, D)`` L2-normalised embeddings, view-major
            (the first B rows are view 0 of samples 0..B-1, and so on).
        num_views: Views per sample.
        temperature: τ of the softmax over similarities.
        base_temperature: The loss is multiplied by
            ``temperature / base_temperature`` (the SupCon implementation
            the official TTT++ code uses, with its default 0.07); None
            leaves it unscaled.

    Every view is an anchor; its positives are the other views of the same
    sample, its negatives every other view in the batch.
    """
    n = embeddings.shape[0]
    if n % num_views:
        raise ValueError(f'nt_xent: {n} embeddings are not {num_views} '
                         'views of the same samples')
    b = n // num_views
    if b < 1 or num_views < 2:
        raise ValueError('nt_xent needs at least 2 views of 1 sample, got '
                         f'{num_views} views of {b}')
    logits = embeddings @ embeddings.t() / temperature
    ids = torch.arange(b, device=embeddings.device).repeat(num_views)
    self_mask = torch.eye(n, dtype=torch.bool, device=embeddings.device)
    positive = (ids[:, None] == ids[None, :]) & ~self_mask
    logits = logits.masked_fill(self_mask, float('-inf'))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    loss = -(log_prob.masked_fill(~positive, 0.0).sum(1) /
             positive.sum(1)).mean()
    if base_temperature is not None:
        loss = loss * (temperature / base_temperature)
    return loss


def _uniform(low: float, high: float, n: int,
             generator: Optional[torch.Generator]) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _check_range(name: str, value, low: float, high: float) -> tuple:
    if not (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, numbers.Real) for v in value)
            and low <= value[0] <= value[1] <= high):
        raise ValueError(f'ContrastiveProjectionHead.{name} must be a pair '
                         f'(min, max) with {low} <= min <= max <= {high}, '
                         f'got {value!r}')
    return (float(value[0]), float(value[1]))


@MODELS.register_module()
class ContrastiveProjectionHead(BaseAuxHead):
    """SimCLR projection head of TTT++ on pooled backbone features.

    It reads backbone level ``in_index`` (default: the last), pools it
    globally (the encoder feature, ``d = C``) and projects it with a 2-layer
    MLP ``C → hidden → out_channels`` (official: ``2048 → 2048 → 128``);
    the contrastive loss reads the L2-normalised projection, the alignment
    terms the raw one (the official ``head(ext(x))``).

    Views (:meth:`views`): two augmented copies of every image (2B), each
    made on the normalised tensor with the head's generator: a random resized
    crop (area ``crop_scale`` of the image, aspect ratio ``crop_ratio``)
    resampled bilinearly to the input size (or ``view_size``), a horizontal
    flip (p 0.5), with probability ``jitter_prob`` a colour jitter (in this
    order: brightness as an additive shift of ±``brightness`` std units,
    contrast as a scaling about the image mean by 1 ± ``contrast``,
    saturation as a scaling about the per-pixel grey by 1 ± ``saturation``;
    the official torchvision ``ColorJitter(0.4, 0.4, 0.4, 0.1)`` works on
    [0, 1] RGB in random order and also shifts hue, which is left out here),
    and with probability ``gray_prob`` a conversion to grey.

    Outputs of :meth:`forward`: with views, ``view_features`` (2B, C),
    ``view_proj`` (2B, D), ``view_embed`` (normalised), and, from the main
    pass of the same call, ``features`` (B, C) and ``proj`` (B, D) of the
    un-augmented batch; without views (during a statistics pass) only
    ``features`` and ``proj``.

    Source loss: ``loss_weight · NT-Xent(view_embed)`` (τ ``temperature``,
    scaled by ``temperature / base_temperature`` as the official SupCon
    loss).

    Source statistics (``has_source_stats``; one pass over the source
    training data, ``tools/analysis/source_stats.py`` or
    :class:`SourceStatsHook`): for each space s in (``ext``, ``ssh``) the
    mean ``stats_mean_s``, covariance ``stats_cov_s`` of the un-augmented
    features, and the source-side discrepancy ``stats_coral_s`` /
    ``stats_mmd_s``: as the official ``offline()``, the data is cut into
    chunks of ``stats_chunk`` samples (the official batch of that pass, the
    queue size), the first chunk is the reference, and the discrepancy is
    the mean CORAL / linear MMD of every later chunk to it (a last partial
    chunk counts when it has at least 2 samples). The test-time hook divides
    its alignment terms by them. The moments use every sample (the official
    code leaves the reference chunk out).

    Args:
        in_index: Backbone level read (default -1, the last).
        in_channels: Its channels (default: from the context).
        hidden_channels: Hidden width of the MLP (default: ``in_channels``).
        out_channels: Projection dimension (128).
        temperature: τ of the contrastive loss (0.5).
        base_temperature: See :func:`nt_xent` (0.07; None: unscaled).
        stats_chunk: Samples per chunk of the statistics pass (official
            queue size 1536).
        view_size: ``(h, w)`` of the views (default: the input size).
        crop_scale, crop_ratio, brightness, contrast, saturation,
        jitter_prob, gray_prob: The augmentation (official SimCLR values:
            (0.2, 1), (3/4, 4/3), 0.4, 0.4, 0.4, 0.8, 0.2).
        loss_weight: Multiplier of the contrastive source loss.
    """

    has_source_stats = True

    def __init__(self,
                 in_index: int = -1,
                 in_channels: Optional[int] = None,
                 hidden_channels: Optional[int] = None,
                 out_channels: int = 128,
                 temperature: float = 0.5,
                 base_temperature: Optional[float] = 0.07,
                 stats_chunk: int = 1536,
                 view_size: Optional[tuple] = None,
                 crop_scale: tuple = (0.2, 1.0),
                 crop_ratio: tuple = (3 / 4, 4 / 3),
                 brightness: float = 0.4,
                 contrast: float = 0.4,
                 saturation: float = 0.4,
                 jitter_prob: float = 0.8,
                 gray_prob: float = 0.2,
                 loss_weight: float = 1.0,
                 context: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(source='backbone', in_index=in_index,
                         loss_weight=loss_weight, context=context,
                         init_cfg=init_cfg)
        c = int(in_channels) if in_channels is not None \
            else self.in_channels_from_context()
        hidden = int(hidden_channels) if hidden_channels is not None else c
        for name, v in (('out_channels', out_channels),
                        ('hidden_channels', hidden), ('in_channels', c),
                        ('stats_chunk', stats_chunk)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) \
                    or v < (2 if name == 'stats_chunk' else 1):
                raise ValueError(f'ContrastiveProjectionHead.{name} must be '
                                 f'an integer >= '
                                 f'{2 if name == "stats_chunk" else 1}, got '
                                 f'{v!r}')
        for name, v in (('temperature', temperature),
                        ('base_temperature', base_temperature)):
            if v is None and name == 'base_temperature':
                continue
            if not isinstance(v, numbers.Real) or not math.isfinite(v) \
                    or v <= 0:
                raise ValueError(f'ContrastiveProjectionHead.{name} must be '
                                 f'a number > 0, got {v!r}')
        for name, v in (('brightness', brightness), ('contrast', contrast),
                        ('saturation', saturation),
                        ('jitter_prob', jitter_prob),
                        ('gray_prob', gray_prob)):
            if not isinstance(v, numbers.Real) or not 0 <= v <= 1:
                raise ValueError(f'ContrastiveProjectionHead.{name} must be '
                                 f'in [0, 1], got {v!r}')
        if view_size is not None and not (
                isinstance(view_size, (tuple, list)) and len(view_size) == 2
                and all(isinstance(v, int) and v > 0 for v in view_size)):
            raise ValueError('ContrastiveProjectionHead.view_size must be '
                             f'(h, w) positive integers or None, got '
                             f'{view_size!r}')
        self.crop_scale = _check_range('crop_scale', crop_scale, 1e-3, 1.0)
        self.crop_ratio = _check_range('crop_ratio', crop_ratio, 1e-2, 1e2)
        self.in_channels = c
        self.out_channels = int(out_channels)
        self.temperature = float(temperature)
        self.base_temperature = None if base_temperature is None else float(
            base_temperature)
        self.stats_chunk = int(stats_chunk)
        self.view_size = None if view_size is None else tuple(view_size)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.jitter_prob = float(jitter_prob)
        self.gray_prob = float(gray_prob)
        self.mlp = nn.Sequential(
            nn.Linear(c, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, self.out_channels))
        dims = dict(ext=c, ssh=self.out_channels)
        for s in SPACES:
            d = dims[s]
            self.register_buffer(f'stats_mean_{s}',
                                 torch.zeros(d, dtype=torch.float64))
            self.register_buffer(f'stats_cov_{s}',
                                 torch.zeros(d, d, dtype=torch.float64))
            self.register_buffer(f'stats_coral_{s}',
                                 torch.zeros((), dtype=torch.float64))
            self.register_buffer(f'stats_mmd_{s}',
                                 torch.zeros((), dtype=torch.float64))
        self.register_buffer('stats_count',
                             torch.zeros((), dtype=torch.float64))
        self._pass = None  # running state of a statistics pass

    # --------------------------------------------------------------- views
    def views(self, inputs: Tensor,
              generator: Optional[torch.Generator] = None
              ) -> Optional[dict]:
        """Two augmented views of every image (None during a statistics
        pass: the statistics describe the un-augmented features)."""
        if self._pass is not None:
            return None
        v = torch.cat([self._augment(inputs, generator),
                       self._augment(inputs, generator)])
        return dict(inputs=v, num_views=2)

    def _augment(self, x: Tensor, g: Optional[torch.Generator]) -> Tensor:
        B, C, H, W = x.shape
        dev, dt = x.device, x.dtype
        out_h, out_w = self.view_size or (H, W)
        # random resized crop (area fraction and aspect ratio), as an affine
        # sampling grid in normalised coordinates
        area = _uniform(*self.crop_scale, B, g)
        log_r = _uniform(math.log(self.crop_ratio[0]),
                         math.log(self.crop_ratio[1]), B, g)
        ratio = torch.exp(log_r)
        w = torch.sqrt(area * ratio).clamp(max=1.0)  # fraction of W
        h = torch.sqrt(area / ratio).clamp(max=1.0)  # fraction of H
        cx = (torch.rand(B, generator=g) * 2 - 1) * (1 - w)
        cy = (torch.rand(B, generator=g) * 2 - 1) * (1 - h)
        flip = torch.where(torch.rand(B, generator=g) < 0.5, -1.0, 1.0)
        theta = torch.zeros(B, 2, 3)
        theta[:, 0, 0] = w * flip
        theta[:, 0, 2] = cx
        theta[:, 1, 1] = h
        theta[:, 1, 2] = cy
        grid = F.affine_grid(theta.to(dev, dt), (B, C, out_h, out_w),
                             align_corners=False)
        v = F.grid_sample(x, grid, mode='bilinear', padding_mode='border',
                          align_corners=False)
        # colour jitter (on the normalised tensor) and greyscale
        jitter = (torch.rand(B, generator=g) < self.jitter_prob).float()
        b = _uniform(-self.brightness, self.brightness, B, g) * jitter
        c = 1 + _uniform(-self.contrast, self.contrast, B, g) * jitter
        s = 1 + _uniform(-self.saturation, self.saturation, B, g) * jitter
        gray = (torch.rand(B, generator=g) < self.gray_prob).float()

        def per_image(t):
            return t.to(dev, dt).view(B, 1, 1, 1)

        v = v + per_image(b)
        mean = v.mean(dim=(1, 2, 3), keepdim=True)
        v = (v - mean) * per_image(c) + mean
        grey = v.mean(dim=1, keepdim=True)
        v = (v - grey) * per_image(s) + grey
        g_mask = per_image(gray)
        return v * (1 - g_mask) + grey.expand_as(v) * g_mask

    # ------------------------------------------------------------- forward
    def project(self, pooled: Tensor) -> Tensor:
        """The raw (unnormalised) projection of pooled features."""
        return self.mlp(pooled)

    def _pool(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'ContrastiveProjectionHead: expected (N, '
                f'{self.in_channels}, h, w) features, got {tuple(x.shape)}')
        return x.mean(dim=(2, 3))

    def forward(self, x: Tensor, views: Optional[dict] = None,
                main_input: Optional[Tensor] = None,
                **kwargs) -> Dict[str, Tensor]:
        """Pooled features and projections of the views and/or of the
        un-augmented batch (``main_input``, passed by the segmentor)."""
        if views is None:
            f = self._pool(x)
            return dict(features=f, proj=self.project(f))
        vf = self._pool(x)
        vp = self.project(vf)
        out = dict(view_features=vf, view_proj=vp,
                   view_embed=F.normalize(vp, dim=1),
                   num_views=int(views.get('num_views', 2)))
        if main_input is not None:
            f = self._pool(main_input)
            out.update(features=f, proj=self.project(f))
        return out

    def contrastive_loss(self, outputs: Dict[str, Tensor]) -> Tensor:
        """NT-Xent over the views' embeddings (unweighted)."""
        if 'view_embed' not in outputs:
            raise ValueError('ContrastiveProjectionHead: the outputs hold no '
                             'views (was the head run during a statistics '
                             'pass?)')
        return nt_xent(outputs['view_embed'], outputs['num_views'],
                       self.temperature, self.base_temperature)

    def loss(self, outputs: Dict[str, Tensor], gts: Dict[str, Tensor],
             model, inputs: Tensor) -> Dict[str, Tensor]:
        return dict(loss_contrastive=self.loss_weight *
                    self.contrastive_loss(outputs))

    # ---------------------------------------------------- source statistics
    def stats(self, space: str) -> Dict[str, Tensor]:
        """The stored statistics of ``space`` (``'ext'`` or ``'ssh'``)."""
        if space not in SPACES:
            raise ValueError(f'ContrastiveProjectionHead.stats: space must '
                             f'be one of {SPACES}, got {space!r}')
        return dict(mean=getattr(self, f'stats_mean_{space}'),
                    cov=getattr(self, f'stats_cov_{space}'),
                    coral=getattr(self, f'stats_coral_{space}'),
                    mmd=getattr(self, f'stats_mmd_{space}'))

    def stats_begin(self, model=None) -> None:
        dev = self.stats_mean_ext.device
        dims = dict(ext=self.in_channels, ssh=self.out_channels)
        self._pass = dict(
            n=0, chunk=[], ref={}, coral={s: [] for s in SPACES},
            mmd={s: [] for s in SPACES},
            s={k: torch.zeros(d, dtype=torch.float64, device=dev)
               for k, d in dims.items()},
            ss={k: torch.zeros(d, d, dtype=torch.float64, device=dev)
                for k, d in dims.items()})

    def _close_chunk(self) -> None:
        p = self._pass
        feats = {s: torch.cat([c[s] for c in p['chunk']]) for s in SPACES}
        p['chunk'] = []
        if feats['ext'].shape[0] < 2:
            return
        for s in SPACES:
            cov, mean = covariance(feats[s]), feats[s].mean(0)
            if s not in p['ref']:
                p['ref'][s] = (cov, mean)
            else:
                rcov, rmean = p['ref'][s]
                p['coral'][s].append(float(coral(rcov, cov)))
                p['mmd'][s].append(float(linear_mmd(rmean, mean)))

    def stats_update(self, outputs: Dict[str, Tensor]) -> None:
        if self._pass is None:
            raise RuntimeError('ContrastiveProjectionHead: stats_update '
                               'before stats_begin')
        p = self._pass
        batch = dict(ext=outputs['features'].detach().double(),
                     ssh=outputs['proj'].detach().double())
        n = batch['ext'].shape[0]
        for s in SPACES:
            p['s'][s] += batch[s].sum(0)
            p['ss'][s] += batch[s].t() @ batch[s]
        p['n'] += n
        # fill chunks of exactly stats_chunk samples
        start = 0
        while start < n:
            have = sum(c['ext'].shape[0] for c in p['chunk'])
            take = min(self.stats_chunk - have, n - start)
            p['chunk'].append(
                {s: batch[s][start:start + take] for s in SPACES})
            start += take
            if have + take == self.stats_chunk:
                self._close_chunk()

    def stats_end(self) -> None:
        p = self._pass
        if p is None:
            raise RuntimeError('ContrastiveProjectionHead: stats_end before '
                               'stats_begin')
        try:
            if p['chunk']:
                self._close_chunk()
            n = p['n']
            chunks = len(p['coral']['ext']) + (1 if p['ref'] else 0)
            if chunks < 2:
                raise RuntimeError(
                    f'ContrastiveProjectionHead: the statistics pass saw {n} '
                    f'samples, {chunks} chunk(s) of stats_chunk='
                    f'{self.stats_chunk}; the source-side discrepancy needs '
                    'at least 2 chunks: lower stats_chunk (and the hook\'s '
                    'queue_size) or use more source data')
            for s in SPACES:
                mean = p['s'][s] / n
                cov = (p['ss'][s] - n * torch.outer(mean, mean)) / (n - 1)
                crl = sum(p['coral'][s]) / len(p['coral'][s])
                mmd = sum(p['mmd'][s]) / len(p['mmd'][s])
                if not crl > 0 or not mmd > 0:
                    raise RuntimeError(
                        f'ContrastiveProjectionHead: the source-side '
                        f'discrepancy of {s!r} is {crl} (CORAL) / {mmd} '
                        '(MMD); it must be > 0 (identical chunks?)')
                getattr(self, f'stats_mean_{s}').copy_(mean)
                getattr(self, f'stats_cov_{s}').copy_(cov)
                getattr(self, f'stats_coral_{s}').fill_(crl)
                getattr(self, f'stats_mmd_{s}').fill_(mmd)
            self.stats_count.fill_(float(n))
        finally:
            self._pass = None

    @property
    def stats_min_samples(self) -> int:
        """Two chunks: the reference and one to compare with it."""
        return 2 * self.stats_chunk

    def stats_ready(self) -> bool:
        return bool(self.stats_count > 0)

    def extra_branch_outputs(self) -> List[str]:
        return ['features', 'proj']
