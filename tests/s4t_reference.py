"""A small model with the released S4T checkpoint's names and layouts, for
the converter tests (tools/model_converters/s4t_to_trttt.py).

Written here from the facts of the released code (wooseong97/S4T-mtl,
``models/TTT_MT.py`` ``S4T_MAE_v4``, ``models/heads.py``,
``models/TTT_model/Joint_MAE.py``, ``models/cnn/resnet_FPN.py``): a
torchvision ResNet backbone (``backbone.conv1``, ``backbone.layer1``...,
levels c2..c5 resized to the c2 size and concatenated), one 1×1 conv per
task on the concatenation (``heads.<task>.linear_pred``), one 1×1 conv to
``n · ch`` task channels (``ts_comp``, task blocks in the task order), one
1×1 conv per task on its block (``aux_heads.<task>.linear_pred``) and the
joint masked autoencoder (``joint_dec``: ``patch_embed.proj`` over all
``n · ch`` channels, fixed sin-cos ``pos_embed`` with the column coordinate
in the first half of the channels, timm blocks, ``decoder_pred`` to
``p² · Σ c_t`` values per patch, pixel-major then channel, the channels of the
tasks one after the other in the task order). The forward takes the
masking noise explicitly (a token is kept when its noise is among the
``int(L · (1 − r))`` lowest), so a test can give it the same mask as ours.
"""
from functools import partial
from typing import Dict, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from timm.models.vision_transformer import Block

from trttt_mm.models.relation import sincos_pos_embed_2d


class _Linear1x1(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.linear_pred = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.linear_pred(x)


class _PatchEmbed(nn.Module):
    def __init__(self, cin, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class _JointMAE(nn.Module):
    def __init__(self, img_size, patch, cin, cout, dim, depth, heads,
                 dec_dim, dec_depth, dec_heads):
        super().__init__()
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.patch = patch
        self.cout = cout
        grid = img_size // patch
        self.patch_embed = _PatchEmbed(cin, dim, patch)
        self.pos_embed = nn.Parameter(
            sincos_pos_embed_2d(dim, grid, 'cols_first')[None],
            requires_grad=False)
        self.blocks = nn.ModuleList(
            [Block(dim, heads, 4., qkv_bias=True, norm_layer=norm)
             for _ in range(depth)])
        self.norm = norm(dim)
        self.decoder_embed = nn.Linear(dim, dec_dim)
        self.mask_token = nn.Parameter(torch.randn(1, 1, dec_dim) * .02)
        self.decoder_pos_embed = nn.Parameter(
            sincos_pos_embed_2d(dec_dim, grid, 'cols_first')[None],
            requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            [Block(dec_dim, dec_heads, 4., qkv_bias=True, norm_layer=norm)
             for _ in range(dec_depth)])
        self.decoder_norm = norm(dec_dim)
        self.decoder_pred = nn.Linear(dec_dim, patch * patch * cout)

    def forward(self, x, noise, ratio):
        x = self.patch_embed(x) + self.pos_embed
        B, L, E = x.shape
        keep = int(L * (1 - ratio))
        order = noise.argsort(dim=1)
        restore = order.argsort(dim=1)
        x = x.gather(1, order[:, :keep, None].expand(-1, -1, E))
        for blk in self.blocks:
            x = blk(x)
        x = self.decoder_embed(self.norm(x))
        D = x.shape[-1]
        x = torch.cat([x, self.mask_token.expand(B, L - keep, D)], dim=1)
        x = x.gather(1, restore[..., None].expand(-1, -1, D))
        x = x + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_pred(self.decoder_norm(x))  # B, L, p*p*C
        g = int(L**.5)
        p, c = self.patch, self.cout
        x = x.reshape(B, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(B, c, g * p, g * p)


class ReleasedS4T(nn.Module):
    """The released model's structure at a chosen (small) size.

    Args:
        tasks: Released task names in the released order, e.g.
            ``['depth_zbuffer', 'edge_occlusion', 'normal',
            'segment_semantic']``.
        out_channels: Released task name -> channels.
        arch: torchvision ResNet name (``'resnet18'``, ``'resnet50'``).
        ch: ``head_inter_channel`` (task latent channels).
        trl: ``dict(img_size, patch, dim, depth, heads, dec_dim, dec_depth,
            dec_heads)``.
        mask_ratio: The TRL mask ratio.
    """

    def __init__(self, tasks: Sequence[str], out_channels: Dict[str, int],
                 arch: str = 'resnet18', ch: int = 8, trl: dict = None,
                 mask_ratio: float = 0.5):
        super().__init__()
        self.tasks = list(tasks)
        self.out_channels = dict(out_channels)
        self.ch = ch
        self.mask_ratio = mask_ratio
        net = getattr(torchvision.models, arch)(weights=None)
        del net.fc
        self.backbone = net
        chans = [m[-1].conv2.out_channels if arch in ('resnet18', 'resnet34')
                 else m[-1].conv3.out_channels
                 for m in (net.layer1, net.layer2, net.layer3, net.layer4)]
        total = sum(chans)
        self.heads = nn.ModuleDict(
            {t: _Linear1x1(total, out_channels[t]) for t in tasks})
        trl = dict(trl or {})
        self.trl_size = trl['img_size']
        self.joint_dec = _JointMAE(
            trl['img_size'], trl['patch'], len(tasks) * ch,
            sum(out_channels[t] for t in tasks), trl['dim'], trl['depth'],
            trl['heads'], trl['dec_dim'], trl['dec_depth'], trl['dec_heads'])
        self.ts_comp = nn.Conv2d(total, len(tasks) * ch, 1)
        self.aux_heads = nn.ModuleDict(
            {t: _Linear1x1(ch, out_channels[t]) for t in tasks})

    def features(self, x):
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        c2 = b.layer1(x)
        c3 = b.layer2(c2)
        c4 = b.layer3(c3)
        c5 = b.layer4(c4)
        size = c2.shape[2:]
        return torch.cat([c2] + [
            F.interpolate(f, size, mode='bilinear') for f in (c3, c4, c5)],
            dim=1)

    def forward(self, images, noise):
        size = images.shape[2:]
        feat = self.features(images)
        z = self.ts_comp(feat)
        main, aux, trl = {}, {}, {}
        for i, t in enumerate(self.tasks):
            main[t] = F.interpolate(self.heads[t](feat), size,
                                    mode='bilinear')
            aux[t] = F.interpolate(
                self.aux_heads[t](z[:, i * self.ch:(i + 1) * self.ch]), size,
                mode='bilinear')
        joint = self.joint_dec(
            F.interpolate(z, self.trl_size, mode='bilinear'), noise,
            self.mask_ratio)
        start = 0
        for t in self.tasks:
            c = self.out_channels[t]
            trl[t] = F.interpolate(joint[:, start:start + c], size,
                                   mode='bilinear')
            start += c
        return main, trl, aux

    def checkpoint(self) -> dict:
        """What the released training saves: the DDP model's state dict
        (``module.`` prefixes) under ``model``, beside optimizer and
        iteration records."""
        return dict(
            model={f'module.{k}': v for k, v in self.state_dict().items()},
            epoch=0, iter_count=59999)


def noise_for_mask(mask: torch.Tensor) -> torch.Tensor:
    """Masking noise that keeps exactly the visible tokens of ``mask``
    ((B, L) bool, True = masked)."""
    g = torch.Generator().manual_seed(0)
    return mask.float() + 0.5 * torch.rand(mask.shape, generator=g)
