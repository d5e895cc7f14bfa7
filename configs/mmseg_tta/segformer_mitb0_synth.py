# The LayerNorm case of configs/mmseg_tta/fcn_r18_synth.py (same data,
# metric and runtime): mmseg's SegFormer, MiT-B0 (MixVisionTransformer:
# LayerNorm only) with SegformerHead (batch norm in its ConvModules). What
# each head-free method does with its LayerNorm layers: docs/methods.md,
# "Plain mmseg segmentors". From scratch (nothing is downloaded), so AdamW
# at a larger learning rate than SegFormer's ImageNet fine-tuning (6e-5).
#   python tools/train.py configs/mmseg_tta/segformer_mitb0_synth.py
#   python tools/test.py configs/mmseg_tta/segformer_mitb0_synth.py \
#       work_dirs/segformer_mitb0_synth/iter_1000.pth --tta-hook TIPIHook
_base_ = ['./fcn_r18_synth.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='MixVisionTransformer',
        in_channels=3,
        embed_dims=32,
        num_stages=4,
        num_layers=[2, 2, 2, 2],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        init_cfg=None),
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        in_channels=[32, 64, 160, 256],
        in_index=[0, 1, 2, 3],
        channels=256,
        dropout_ratio=0.1,
        num_classes=7,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            avg_non_ignore=True)))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                   weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={
        'pos_block': dict(decay_mult=0.0),
        'norm': dict(decay_mult=0.0),
    }))
