# Paper-scale multi-task model: a torchvision-style ResNet-50 initialised from
# torchvision's ImageNet weights (the released code's backbone), c2..c5
# resized to 1/4 scale and concatenated (3840 channels), one 1x1 head per
# task, as the reference. ResNetV1c-50 from scratch: ./mtl_r50v1c.py.
# The test-time defaults of every hook (`tools/test.py ... --tta-hook NAME`)
# come with it from configs/_base_/ttt/ttt_defaults.py.
# Nothing is downloaded: training stops with a clear error naming where to put
# the weights file (the torch hub cache,
# ~/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth) when it is missing;
# or point the init at a local copy:
#   --cfg-options model.backbone.init_cfg.checkpoint=/path/to/resnet50.pth
# (model.backbone.init_cfg=None starts from random weights). Testing a
# checkpoint needs no file (the test tool does not initialise weights).
_base_ = ['../ttt/ttt_defaults.py']
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='MultiTaskDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=32)
model = dict(
    type='MultiTaskEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 2, 2),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    decode_head=dict(
        type='MultiTaskHead',
        in_channels=[256, 512, 1024, 2048],
        in_index=[0, 1, 2, 3],
        channels=None,  # the reference keeps the raw concatenation (3840)
        num_convs=0,  # a 1x1 head per task on the concatenation (reference)
        tasks=('semseg', 'depth', 'normal', 'edge'),
        num_classes=7,
        norm_cfg=norm_cfg,
        align_corners=False),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
