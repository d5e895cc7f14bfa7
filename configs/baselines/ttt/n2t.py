# TTT (Sun et al., ICML 2020), paper setting NYUD-v2 -> Taskonomy: the multi-
# task ResNet-50 model with the data and schedule of configs/trttt/n2t.py (the
# same source budget as TR-TTT) plus the rotation head: layers 1-3 shared, a
# copy of layer4 + pooling + a 4-way linear classifier on rotated square crops
# (docs/methods.md, "Baselines").
# 4 tasks, the 7 classes shared by NYU-40 and Taskonomy (class_map t2n).
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/baselines/ttt/n2t.py
#   python tools/test.py configs/baselines/ttt/n2t.py CKPT --tta-hook TTTHook
_base_ = [
    '../../_base_/models/mtl_r50.py',
    '../../_base_/datasets/nyudv2_mt.py',
    '../../_base_/datasets/taskonomy_mt.py',
    '../../_base_/datasets/mt_dataloaders.py',
    '../../_base_/default_runtime.py',
    '../../_base_/schedules/schedule_60k.py',
]
tasks = ('semseg', 'depth', 'normal', 'edge')
class_map = 't2n'
num_classes = 7
model = dict(
    decode_head=dict(tasks=tasks, num_classes=num_classes),
    aux_heads=dict(rotation=dict(type='RotationHead', in_index=2)))
train_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_source_val, tasks=tasks, class_map=class_map))
test_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_target_test, tasks=tasks, class_map=class_map))
