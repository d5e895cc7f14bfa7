# Test-time adaptation of a plain mmseg segmentor (README, "Adapt your own
# mmseg model"): mmseg's own EncoderDecoder (ResNetV1c-18 at half width,
# dilated to 1/8 as mmseg's fcn_r50-d8, and FCNHead), trained on the
# semantic labels of the synthetic source domain (Taskonomy layout, the 7
# classes it shares with NYUD-v2), tested on a shifted target family (NYUD-v2
# layout) with mmseg's own IoUMetric (mIoU, mAcc, aAcc). The data come from tools/data/make_synthetic.py (as for
# configs/trttt/synth_t2n.py):
#   python tools/data/make_synthetic.py --out data/synth
#   python tools/train.py configs/mmseg_tta/fcn_r18_synth.py
#   python tools/test.py configs/mmseg_tta/fcn_r18_synth.py \
#       work_dirs/fcn_r18_synth/iter_1000.pth --tta-hook TENTHook
# --tta-hook takes NormStatsHook, TENTHook or TIPIHook as they are; ActMADHook
# needs the source statistics beside the weights first:
#   python tools/analysis/source_stats.py configs/mmseg_tta/fcn_r18_synth.py \
#       work_dirs/fcn_r18_synth/iter_1000.pth --out fcn_r18_actmad.pth
# Other shift families (geometry, content, mixed: written with
# `make_synthetic.py --families all`) are the target's data_root, e.g.
#   --cfg-options test_dataloader.dataset.data_root=data/synth/NYUDv2_mixed
# What makes an mmseg config adaptable is `custom_imports` (and, to train
# with tools/train.py, PlainCheckpointHook below); `_base_` brings the
# methods' defaults (cfg.ttt, read by --tta-hook NAME). The rest is an
# ordinary mmseg config.
_base_ = ['../_base_/ttt/ttt_defaults.py']
custom_imports = dict(imports=['trttt_mm'], allow_failed_imports=False)
default_scope = 'mmseg'

# ------------------------------------------------------------------ model
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size_divisor=32)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNetV1c',
        depth=18,
        stem_channels=32,
        base_channels=32,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        dilations=(1, 1, 2, 4),
        strides=(1, 2, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        contract_dilation=True,
        init_cfg=None),  # from scratch: nothing is downloaded
    decode_head=dict(
        type='FCNHead',
        in_channels=256,
        in_index=3,
        channels=64,
        num_convs=2,
        concat_input=True,
        dropout_ratio=0.1,
        num_classes=7,
        norm_cfg=norm_cfg,
        align_corners=False,
        # averaged over the labelled pixels (the others are 255 here)
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
            avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))

# ------------------------------------------------------------------- data
# The synthetic benchmark's source (Taskonomy layout) and target (NYUD-v2
# layout) domains, read by trttt_mm's datasets with the semantic labels
# only (class_map='t2n': the 7 shared classes, the rest 255 = ignored).
data_root = 'data/synth'
tasks = ('semseg', )
class_map = 't2n'
train_pipeline = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='MultiTaskRandomFlip', prob=0.5),
    dict(type='PackMultiTaskInputs'),
]
test_pipeline = [
    dict(type='LoadMultiTaskImageFromFile'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='PackMultiTaskInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='TaskonomyMultiTaskDataset',
        data_root=data_root + '/taskonomy',
        split='train',
        tasks=tasks,
        class_map=class_map,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='TaskonomyMultiTaskDataset',
        data_root=data_root + '/taskonomy',
        split='val',
        tasks=tasks,
        class_map=class_map,
        test_mode=True,
        pipeline=test_pipeline))
# The shifted target, in stream order (online adaptation). NYUDv2/ is the
# 'appearance' family, NYUDv2_<family>/ the others.
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='NYUDv2MultiTaskDataset',
        data_root=data_root + '/NYUDv2',
        split='val',
        tasks=tasks,
        class_map=class_map,
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# --------------------------------------------------------------- schedule
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=1000,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000,
                 val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# ---------------------------------------------------------------- runtime
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1000,
                    max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
# Checkpoints that torch.load(weights_only=True) reads (tools/test.py does).
custom_hooks = [dict(type='PlainCheckpointHook')]
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
