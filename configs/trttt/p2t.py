# TR-TTT, paper setting PASCAL-Context -> Taskonomy,
# ResNet-50, paper schedule:
# 3 tasks (PASCAL has no depth), the 6 classes shared by VOC and Taskonomy
# (class_map t2p).
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/trttt/p2t.py
_base_ = [
    '../_base_/models/trttt_r50.py',
    '../_base_/datasets/pascal_mt.py',
    '../_base_/datasets/taskonomy_mt.py',
    '../_base_/datasets/mt_dataloaders.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_60k.py',
]
tasks = ('semseg', 'normal', 'edge')
class_map = 't2p'
num_classes = 6
model = dict(decode_head=dict(tasks=tasks, num_classes=num_classes))
train_dataloader = dict(
    dataset=dict(
        _base_.pascal_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.pascal_source_val, tasks=tasks, class_map=class_map))
test_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_target_test, tasks=tasks, class_map=class_map))
