# TTT++ (Liu et al., NeurIPS 2021), paper setting Taskonomy -> PASCAL-Context:
# the multi-task ResNet-50 model with the data and schedule of
# configs/trttt/t2p.py (the same source budget as TR-TTT) plus the SimCLR
# projection head (2048 -> 2048 -> 128) on the pooled last stage.
# SourceStatsHook fills the head's source statistics after the last iteration.
# Moments use 256 samples (source chunks; target batch + queue; official 1536):
# NYUD-v2 train has 795 images and the discrepancy needs at least 2 chunks
# (docs/methods.md, "Baselines").
# 3 tasks (PASCAL has no depth), the 6 classes shared by Taskonomy and VOC
# (class_map t2p).
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/baselines/tttpp/t2p.py
#   python tools/test.py configs/baselines/tttpp/t2p.py CKPT --tta-hook TTTPlusPlusHook
_base_ = [
    '../../_base_/models/mtl_r50.py',
    '../../_base_/datasets/taskonomy_mt.py',
    '../../_base_/datasets/pascal_mt.py',
    '../../_base_/datasets/mt_dataloaders.py',
    '../../_base_/default_runtime.py',
    '../../_base_/schedules/schedule_60k.py',
]
tasks = ('semseg', 'normal', 'edge')
class_map = 't2p'
num_classes = 6
model = dict(
    decode_head=dict(tasks=tasks, num_classes=num_classes),
    aux_heads=dict(
        simclr=dict(
            type='ContrastiveProjectionHead', in_index=-1,
            stats_chunk=256)))
train_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_val, tasks=tasks, class_map=class_map))
test_dataloader = dict(
    dataset=dict(
        _base_.pascal_target_test, tasks=tasks, class_map=class_map))
custom_hooks = [
    dict(type='PlainCheckpointHook'),
    dict(type='SourceStatsHook'),
]
