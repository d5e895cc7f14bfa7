# TR-TTT, paper setting Taskonomy -> NYUD-v2,
# ResNet-50, paper schedule:
# 4 tasks, the 7 classes shared by Taskonomy and NYU-40 (class_map t2n).
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/trttt/t2n.py
_base_ = [
    '../_base_/models/trttt_r50.py',
    '../_base_/datasets/taskonomy_mt.py',
    '../_base_/datasets/nyudv2_mt.py',
    '../_base_/datasets/mt_dataloaders.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_60k.py',
]
tasks = ('semseg', 'depth', 'normal', 'edge')
class_map = 't2n'
num_classes = 7
model = dict(decode_head=dict(tasks=tasks, num_classes=num_classes))
train_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_val, tasks=tasks, class_map=class_map))
test_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_target_test, tasks=tasks, class_map=class_map))
