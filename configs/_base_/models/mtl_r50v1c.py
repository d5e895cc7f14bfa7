# The multi-task model with mmseg's ResNetV1c-50 (deep stem) from scratch
# instead of the torchvision-style ResNet-50 with ImageNet weights.
_base_ = ['./mtl_r50.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNetV1c',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 2, 2),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        contract_dilation=True))
