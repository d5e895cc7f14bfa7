# Paper-scale multi-task model: ResNetV1c-50, c2..c5 resized to 1/4 scale and
# concatenated (3840 channels), one 1x1 head per task, as the reference.
# The test-time defaults of every hook (`tools/test.py ... --tta-hook NAME`)
# come with it from configs/_base_/ttt/ttt_defaults.py.
# No pretrained weights are downloaded: set model.pretrained (or
# backbone.init_cfg) to a local file to start from one.
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
        type='ResNetV1c',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 1, 1),
        strides=(1, 2, 2, 2),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True),
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
