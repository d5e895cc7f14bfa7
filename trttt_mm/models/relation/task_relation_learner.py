"""Task Relation Learner (paper §3.3): an MAE-style light ViT over masked task
latents that predicts every task."""
from functools import partial
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from timm.models.vision_transformer import Block

from .masking import (check_mask_args, check_mask_count, generate_mask,
                      num_masked_tokens)

TOKEN_LAYOUTS = ('per_task', 'joint')
#: What the decoder's tokens are: one per (group, patch) or one per patch
#: (the groups of a patch fused before the decoder).
DECODER_TOKENS = ('per_task', 'fused')
#: Which grid coordinate the first half of the sin-cos channels encodes.
POS_EMBED_LAYOUTS = ('rows_first', 'cols_first')

SizeType = Union[int, Sequence[int]]


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (shared tensors counted once)."""
    return sum(p.numel() for p in module.parameters()
               if p.requires_grad or not trainable_only)


def _1d_sincos(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """Sin-cos embedding of positions ``pos`` (M,) into ``dim`` channels:
    ``[sin(pos·ω_k), cos(pos·ω_k)]`` with ``ω_k = 10000^(-k/(dim/2))``."""
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = pos.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_pos_embed_2d(dim: int, grid_size: SizeType,
                        layout: str = 'rows_first') -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding (as in MAE, without cls token).

    Half of the channels encode the row, the other half the column.

    Args:
        dim: embedding size, a multiple of 4.
        grid_size: ``gh`` or ``(gh, gw)``.
        layout: ``'rows_first'`` (the first half of the channels encodes the
            row) or ``'cols_first'`` (the first half encodes the column, as
            the released S4T code's ``get_2d_sincos_pos_embed``, whose grid
            puts the column coordinate first).

    Returns:
        float32 tensor ``(gh · gw, dim)``, row-major over the grid.
    """
    if dim % 4 != 0:
        raise ValueError(f'sin-cos position embedding needs a dim divisible '
                         f'by 4, got {dim}')
    if layout not in POS_EMBED_LAYOUTS:
        raise ValueError(f'unknown sin-cos position layout {layout!r}; '
                         f'expected one of {POS_EMBED_LAYOUTS}')
    gh, gw = _pair(grid_size)
    rows = torch.arange(gh).repeat_interleave(gw)
    cols = torch.arange(gw).repeat(gh)
    first, second = (rows, cols) if layout == 'rows_first' else (cols, rows)
    emb = torch.cat([_1d_sincos(dim // 2, first),
                     _1d_sincos(dim // 2, second)], dim=1)
    return emb.float()


def _pair(x: SizeType) -> Tuple[int, int]:
    if isinstance(x, int):
        return (x, x)
    x = tuple(int(v) for v in x)
    if len(x) != 2:
        raise ValueError(f'expected an int or a pair, got {x!r}')
    return x


@MODELS.register_module()
class TaskRelationLearner(BaseModule):
    """MAE-style ViT predicting every output from masked task latents.

    Pipeline: latents ``(B, n, C_z, h, w)`` → bilinear resize to
    ``input_size`` → patch embedding (one ``patch × patch`` conv per group,
    stride = patch) → + fixed 2-D sin-cos position embedding + learned task
    (group) embedding → mask → encoder (timm ``Block``s) over the visible
    tokens only → linear to the decoder width, mask tokens appended, original
    order restored, + decoder position/task embeddings → decoder blocks → per
    output a linear head to ``patch² · c`` values per patch → unpatchify.

    Token layouts:

    * ``'per_task'``: one token per (group, patch), ``n · P`` tokens; the
      decoder tokens of the ``n`` groups of a patch are concatenated and fused
      by a linear layer (``n · D → D``) before the output heads. Every
      masking strategy is meaningful.
    * ``'joint'``: one token per patch from the stacked ``n · C_z`` channels
      (the released reference code's layout: 256 tokens at input 256, patch
      16). Only ``'same'`` masking is meaningful; the mask used is
      ``mask[:, 0]`` and the returned mask repeats it for every group.

    Compact TRL (``'per_task'`` layout only; docs/methods.md):

    * ``share_patch_embed=True``: every group's latent is embedded by ONE
      ``C_z → E`` patch conv shared by all groups (``C_z·E·p² + E``
      parameters instead of ``n·(C_z·E·p² + E)``); the learned task
      embedding alone tells the groups apart. Same tokens, same FLOPs.
    * ``decoder_tokens='fused'``: after the encoder (over the visible
      per-task tokens) the mask tokens are put back and the ``n`` tokens of
      each patch are fused by the ``n · D → D`` linear *before* the decoder,
      which then runs over ``P`` tokens instead of ``n · P`` (no decoder task
      embedding: the fusion sees the groups in a fixed order). The encoder,
      the masking and the per-task tokens are unchanged.

    Args:
        in_channels: ``C_z``, channels of each latent group.
        num_inputs: ``n``, number of latent groups (tasks; 1 for the "shared
            latent without projection" ablation).
        out_channels: output name -> channels, e.g. the tasks or
            ``{'image': 3}`` for the image-reconstruction ablation.
        input_size: size the latents are resized to (int or (H, W)).
        patch_size: patch size; must divide ``input_size``.
        embed_dim: encoder width (a multiple of 4 and of ``num_heads``).
        depth: encoder blocks.
        decoder_embed_dim: decoder width (default ``embed_dim``).
        decoder_depth: decoder blocks.
        num_heads: attention heads (encoder and decoder).
        mlp_ratio: MLP ratio of the blocks.
        mask_strategy: one of ``'random'``, ``'no_overlap'``, ``'same'``,
            ``'task'`` (see :mod:`trttt_mm.models.relation.masking`).
        mask_ratio: masking ratio in ``[0, 1)``; 0 disables masking.
        token_layout: ``'per_task'`` or ``'joint'``.
        always_mask: with ``mask=None``, also mask in eval mode (TTT needs
            masked predictions at test time). If False, masks are drawn only
            in training mode.
        mask_count: how ``mask_ratio`` becomes a count of masked patches:
            ``'round'`` (default, ``round(ratio · P)``) or ``'released'``
            (``P - int(P · (1 - ratio))``, the released code's; one patch
            more at 0.7 and 0.9 with 256 patches). See
            :mod:`trttt_mm.models.relation.masking`.
        pos_embed_layout: ``'rows_first'`` (default) or ``'cols_first'``
            (the released code's sin-cos layout); see
            :func:`sincos_pos_embed_2d`.
        share_patch_embed: one patch-embedding conv shared by all groups
            (``token_layout='per_task'`` only); default False (one conv per
            group).
        decoder_tokens: ``'per_task'`` (default: the decoder runs over the
            ``n · P`` per-task tokens, fused after it) or ``'fused'`` (the
            groups of each patch fused before the decoder, which runs over
            ``P`` tokens); ``token_layout='per_task'`` only.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 in_channels: int,
                 num_inputs: int,
                 out_channels: Dict[str, int],
                 input_size: SizeType = 256,
                 patch_size: int = 16,
                 embed_dim: int = 64,
                 depth: int = 4,
                 decoder_embed_dim: Optional[int] = None,
                 decoder_depth: int = 2,
                 num_heads: int = 4,
                 mlp_ratio: float = 4.,
                 mask_strategy: str = 'same',
                 mask_ratio: float = 0.8,
                 token_layout: str = 'per_task',
                 always_mask: bool = True,
                 mask_count: str = 'round',
                 pos_embed_layout: str = 'rows_first',
                 share_patch_embed: bool = False,
                 decoder_tokens: str = 'per_task',
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if token_layout not in TOKEN_LAYOUTS:
            raise ValueError(f'unknown token_layout {token_layout!r}; '
                             f'expected one of {TOKEN_LAYOUTS}')
        for name, value in (('in_channels', in_channels),
                            ('num_inputs', num_inputs),
                            ('patch_size', patch_size),
                            ('embed_dim', embed_dim), ('depth', depth),
                            ('num_heads', num_heads)):
            if int(value) != value or value < 1:
                raise ValueError(f'{name} must be a positive integer, got '
                                 f'{value!r}')
        if int(decoder_depth) != decoder_depth or decoder_depth < 0:
            raise ValueError('decoder_depth must be a non-negative integer, '
                             f'got {decoder_depth!r}')
        if not isinstance(out_channels, dict) or not out_channels:
            raise ValueError('out_channels must be a non-empty dict '
                             f'name -> channels, got {out_channels!r}')
        for name, c in out_channels.items():
            if not isinstance(name, str) or not name or '.' in name:
                raise ValueError(f'invalid output name {name!r}')
            if int(c) != c or c < 1:
                raise ValueError(f'out_channels[{name!r}] must be a positive '
                                 f'integer, got {c!r}')
        decoder_embed_dim = decoder_embed_dim or embed_dim
        for name, dim in (('embed_dim', embed_dim), ('decoder_embed_dim',
                                                     decoder_embed_dim)):
            if dim % 4 != 0 or dim % num_heads != 0:
                raise ValueError(f'{name}={dim} must be divisible by 4 (sin-'
                                 f'cos positions) and by num_heads='
                                 f'{num_heads}')
        self.input_size = _pair(input_size)
        if any(s % patch_size for s in self.input_size):
            raise ValueError(f'patch_size {patch_size} must divide '
                             f'input_size {self.input_size}')
        check_mask_args(mask_strategy, num_inputs, 1, mask_ratio)
        check_mask_count(mask_count)
        if pos_embed_layout not in POS_EMBED_LAYOUTS:
            raise ValueError(f'unknown pos_embed_layout {pos_embed_layout!r}'
                             f'; expected one of {POS_EMBED_LAYOUTS}')
        if not isinstance(share_patch_embed, bool):
            raise ValueError('share_patch_embed must be a bool, got '
                             f'{share_patch_embed!r}')
        if decoder_tokens not in DECODER_TOKENS:
            raise ValueError(f'unknown decoder_tokens {decoder_tokens!r}; '
                             f'expected one of {DECODER_TOKENS}')
        if token_layout == 'joint' and (share_patch_embed
                                        or decoder_tokens != 'per_task'):
            raise ValueError(
                "share_patch_embed=True and decoder_tokens='fused' need "
                "token_layout='per_task' (a 'joint' token already holds every "
                f"group of its patch), got share_patch_embed="
                f'{share_patch_embed!r}, decoder_tokens={decoder_tokens!r}')
        if token_layout == 'joint' and mask_strategy != 'same':
            raise ValueError(
                f"mask_strategy={mask_strategy!r} is not meaningful for "
                "token_layout='joint': a joint token holds every group's "
                "latent of a patch, so only 'same' masking (one spatial mask "
                "for all groups) can be applied; use token_layout='per_task' "
                'for the other strategies')

        self.in_channels = int(in_channels)
        self.num_inputs = int(num_inputs)
        self.out_channels = {k: int(v) for k, v in out_channels.items()}
        self.patch_size = int(patch_size)
        self.embed_dim = int(embed_dim)
        self.decoder_embed_dim = int(decoder_embed_dim)
        self.mask_strategy = mask_strategy
        self.mask_ratio = float(mask_ratio)
        self.token_layout = token_layout
        self.always_mask = bool(always_mask)
        self.mask_count = mask_count
        self.pos_embed_layout = pos_embed_layout
        self.share_patch_embed = share_patch_embed
        self.decoder_tokens = decoder_tokens
        self.grid_size = (self.input_size[0] // self.patch_size,
                          self.input_size[1] // self.patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]

        n, p, E, D = (self.num_inputs, self.patch_size, self.embed_dim,
                      self.decoder_embed_dim)
        per_task = token_layout == 'per_task'
        # Token groups: n for per_task, 1 for joint.
        self.num_groups = n if per_task else 1
        if per_task:
            if share_patch_embed:
                # One conv for every group, applied to (B·n, C_z) latents.
                self.patch_embed = nn.Conv2d(self.in_channels, E, p, stride=p)
            else:
                # One conv per group, as a grouped conv: (B, n·C_z) ->
                # (B, n·E).
                self.patch_embed = nn.Conv2d(
                    n * self.in_channels, n * E, p, stride=p, groups=n)
            self.task_embed = nn.Parameter(torch.zeros(1, n, 1, E))
            # Fused decoder tokens: the fusion is linear over the groups in a
            # fixed order, so a per-group embedding would only add a constant.
            self.decoder_task_embed = (
                nn.Parameter(torch.zeros(1, n, 1, D))
                if decoder_tokens == 'per_task' else None)
        else:
            self.patch_embed = nn.Conv2d(n * self.in_channels, E, p, stride=p)
            self.task_embed = None
            self.decoder_task_embed = None
        self.register_buffer(
            'pos_embed',
            sincos_pos_embed_2d(E, self.grid_size, pos_embed_layout)[None],
            persistent=False)
        self.register_buffer(
            'decoder_pos_embed',
            sincos_pos_embed_2d(D, self.grid_size, pos_embed_layout)[None],
            persistent=False)

        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList([
            Block(E, num_heads, mlp_ratio, qkv_bias=True,
                  norm_layer=norm_layer) for _ in range(depth)
        ])
        self.norm = norm_layer(E)
        self.decoder_embed = nn.Linear(E, D)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, D))
        self.decoder_blocks = nn.ModuleList([
            Block(D, num_heads, mlp_ratio, qkv_bias=True,
                  norm_layer=norm_layer) for _ in range(decoder_depth)
        ])
        self.decoder_norm = norm_layer(D)
        self.group_fuse = (
            nn.Linear(self.num_groups * D, D)
            if self.num_groups > 1 else nn.Identity())
        self.heads = nn.ModuleDict({
            name: nn.Linear(D, p * p * c)
            for name, c in self.out_channels.items()
        })

    # ------------------------------------------------------------------ init
    def init_weights(self) -> None:
        """MAE-style initialisation; the runner calls it before training
        (mmengine's ``BaseModule`` contract), after any ``init_cfg``."""
        super().init_weights()
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """MAE-style initialisation (xavier linears, normal tokens)."""
        w = self.patch_embed.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.bias)
        nn.init.normal_(self.mask_token, std=.02)
        if self.task_embed is not None:
            nn.init.normal_(self.task_embed, std=.02)
        if self.decoder_task_embed is not None:
            nn.init.normal_(self.decoder_task_embed, std=.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # ------------------------------------------------------------ properties
    @property
    def output_names(self) -> Tuple[str, ...]:
        return tuple(self.out_channels)

    @property
    def num_tokens(self) -> int:
        return self.num_groups * self.num_patches

    # --------------------------------------------------------------- masking
    def make_mask(self,
                  batch_size: int,
                  device: Union[str, torch.device, None] = None,
                  generator: Optional[torch.Generator] = None,
                  ratio: Optional[float] = None,
                  strategy: Optional[str] = None) -> torch.Tensor:
        """Draw a mask ``(B, n, P)`` with the configured strategy/ratio."""
        return generate_mask(
            self.mask_strategy if strategy is None else strategy,
            batch_size,
            self.num_inputs,
            self.num_patches,
            self.mask_ratio if ratio is None else ratio,
            generator=generator,
            device=device,
            mask_count=self.mask_count)

    def _known_masked_count(self, mask) -> Optional[int]:
        """Masked tokens per sample when the learner draws the mask itself
        (or masks nothing): known from the strategy without reading the
        device (:func:`num_masked_tokens`, exact for every strategy with the
        per-task token layout). ``None`` for a caller's mask, whose counts
        :meth:`forward` checks."""
        if mask is None and not (self.training or self.always_mask):
            mask = False
        if mask is False:
            return 0
        if mask is None and self.token_layout == 'per_task':
            return num_masked_tokens(self.mask_strategy, self.num_inputs,
                                     self.num_patches, self.mask_ratio,
                                     self.mask_count)
        return None

    def _resolve_mask(self, mask, B: int, device: torch.device,
                      generator: Optional[torch.Generator]) -> torch.Tensor:
        n, P = self.num_inputs, self.num_patches
        if mask is None:
            if self.training or self.always_mask:
                mask = self.make_mask(B, device=device, generator=generator)
            else:
                mask = False
        if mask is False:
            return torch.zeros(B, n, P, dtype=torch.bool, device=device)
        if mask is True:
            raise ValueError('mask=True is ambiguous; pass None to draw a '
                             'mask, False for none, or a (B, n, P) tensor')
        if not isinstance(mask, torch.Tensor):
            raise TypeError('mask must be None, False or a tensor, got '
                            f'{type(mask).__name__}')
        if mask.dim() == 2 and mask.shape == (B, P):
            mask = mask[:, None, :].expand(B, n, P)
        if tuple(mask.shape) != (B, n, P):
            raise ValueError(f'expected a mask of shape (B, n, P) = '
                             f'({B}, {n}, {P}), got {tuple(mask.shape)}')
        mask = mask.to(device=device, dtype=torch.bool)
        if self.token_layout == 'joint' and not bool(
                (mask == mask[:, :1]).all()):
            raise ValueError("token_layout='joint' needs the same mask for "
                             'every group (only \'same\' masking is '
                             'meaningful there)')
        return mask

    # --------------------------------------------------------------- forward
    def _embed(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, n, C_z, h, w) -> tokens (B, G·P, E), group-major."""
        B, n, C, h, w = latents.shape
        x = latents.reshape(B, n * C, h, w)
        if (h, w) != self.input_size:
            x = F.interpolate(
                x, size=self.input_size, mode='bilinear', align_corners=False)
        if self.share_patch_embed:
            x = x.reshape(B * n, C, *self.input_size)
        x = self.patch_embed(x)  # (B, G·E, gh, gw) or (B·G, E, gh, gw)
        G, E = self.num_groups, self.embed_dim
        x = x.reshape(B, G, E, self.num_patches).transpose(2, 3)  # B,G,P,E
        x = x + self.pos_embed[:, None]
        if self.task_embed is not None:
            x = x + self.task_embed
        return x.reshape(B, G * self.num_patches, E)

    def _fuse_groups(self, x: torch.Tensor, B: int) -> torch.Tensor:
        """Fuse the groups of each patch: (B, G·P, D) group-major ->
        (B, P, G·D) -> ``group_fuse`` -> (B, P, D)."""
        G, P, D = self.num_groups, self.num_patches, self.decoder_embed_dim
        x = x.reshape(B, G, P, D).permute(0, 2, 1, 3).reshape(B, P, G * D)
        return self.group_fuse(x)

    def _unpatchify(self, x: torch.Tensor, c: int) -> torch.Tensor:
        """(B, P, p²·c) -> (B, c, H, W)."""
        B = x.shape[0]
        gh, gw = self.grid_size
        p = self.patch_size
        x = x.reshape(B, gh, gw, p, p, c)
        x = x.permute(0, 5, 1, 3, 2, 4)  # B, c, gh, p, gw, p
        return x.reshape(B, c, gh * p, gw * p)

    def forward(self,
                latents: torch.Tensor,
                out_size: Optional[SizeType] = None,
                mask: Union[None, bool, torch.Tensor] = None,
                generator: Optional[torch.Generator] = None) -> dict:
        """Predict every output from (masked) latents.

        Args:
            latents: ``(B, n, C_z, h, w)``.
            out_size: resize the predictions to this size (bilinear); default
                ``input_size``.
            mask: ``None`` draws a mask with the configured strategy when
                training or ``always_mask``; ``False`` disables masking; a
                bool tensor ``(B, n, P)`` (``True`` = masked) is used as is
                (``(B, P)`` is broadcast to every group). Every sample must
                mask the same number of tokens and leave at least one visible.
            generator: ``torch.Generator`` for drawing the mask.

        Returns:
            ``dict(preds={name: (B, c, H, W)}, mask=BoolTensor (B, n, P))``.
        """
        if latents.dim() != 5 or latents.shape[1] != self.num_inputs or \
                latents.shape[2] != self.in_channels:
            raise ValueError(
                f'expected latents of shape (B, {self.num_inputs}, '
                f'{self.in_channels}, h, w), got {tuple(latents.shape)}')
        B = latents.shape[0]
        device = latents.device
        known = self._known_masked_count(mask)
        mask = self._resolve_mask(mask, B, device, generator)
        token_mask = (mask if self.token_layout == 'per_task' else
                      mask[:, :1]).reshape(B, self.num_tokens)

        x = self._embed(latents)  # (B, N, E)
        N = self.num_tokens
        if known is None:
            # A mask from the caller: its counts are read (a host sync).
            num_masked = token_mask.sum(dim=1)
            if bool((num_masked != num_masked[0]).any()):
                raise ValueError('every sample must mask the same number of '
                                 f'tokens, got {num_masked.tolist()}')
            known = int(num_masked[0])
        num_visible = N - known
        if num_visible < 1:
            raise ValueError('the mask hides every token; at least one must '
                             'stay visible')

        # Visible tokens first (in their original order), then masked ones.
        ids_shuffle = torch.argsort(
            token_mask.to(torch.uint8), dim=1, stable=True)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :num_visible]
        x = torch.gather(
            x, 1, ids_keep[..., None].expand(-1, -1, self.embed_dim))

        for blk in self.blocks:
            x = blk(x)
        x = self.decoder_embed(self.norm(x))  # (B, V, D)

        D = self.decoder_embed_dim
        x = torch.cat([x, self.mask_token.expand(B, N - num_visible, D)],
                      dim=1)
        x = torch.gather(x, 1, ids_restore[..., None].expand(-1, -1, D))
        G, P = self.num_groups, self.num_patches
        if self.decoder_tokens == 'fused':
            x = self._fuse_groups(x, B)  # (B, P, D)
            x = x + self.decoder_pos_embed
            for blk in self.decoder_blocks:
                x = blk(x)
            x = self.decoder_norm(x)
        else:
            x = x.reshape(B, G, P, D) + self.decoder_pos_embed[:, None]
            if self.decoder_task_embed is not None:
                x = x + self.decoder_task_embed
            x = x.reshape(B, N, D)
            for blk in self.decoder_blocks:
                x = blk(x)
            x = self._fuse_groups(self.decoder_norm(x), B)

        preds = {}
        for name, head in self.heads.items():
            y = self._unpatchify(head(x), self.out_channels[name])
            if out_size is not None and tuple(y.shape[-2:]) != _pair(out_size):
                y = F.interpolate(
                    y,
                    size=_pair(out_size),
                    mode='bilinear',
                    align_corners=False)
            preds[name] = y
        return dict(preds=preds, mask=mask)

    def extra_repr(self) -> str:
        return (f'num_inputs={self.num_inputs}, in_channels='
                f'{self.in_channels}, outputs={self.out_channels}, '
                f'input_size={self.input_size}, patch_size={self.patch_size},'
                f' token_layout={self.token_layout!r}, mask_strategy='
                f'{self.mask_strategy!r}, mask_ratio={self.mask_ratio}, '
                f'mask_count={self.mask_count!r}, pos_embed_layout='
                f'{self.pos_embed_layout!r}, share_patch_embed='
                f'{self.share_patch_embed}, decoder_tokens='
                f'{self.decoder_tokens!r}')
