# Paper setting Taskonomy -> NYUD-v2, the data of every paper-scale config of
# this setting: source Taskonomy (train buildings for training, val for
# validation), target NYUD-v2 (the 654 val images, streamed in order); 4
# tasks, the 7 classes shared by Taskonomy and NYU-40 (class_map t2n).
# Training task weights: the multi-task head's defaults (semseg 1, depth 1,
# normal 10, edge 50; trttt_mm/models/decode_heads/multi_task_head.py).
# A paper-scale config is a method base (configs/_base_/methods/: the model
# with the method's head, runtime and schedule) plus a setting; the config
# sets the decode head's tasks and classes from the setting,
#   model = dict(
#       decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
# since mmengine refuses a key (here `model`) that two bases both define.
_base_ = [
    '../datasets/taskonomy_mt.py',
    '../datasets/nyudv2_mt.py',
    '../datasets/mt_dataloaders.py',
]
tasks = ('semseg', 'depth', 'normal', 'edge')
class_map = 't2n'
num_classes = 7
train_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_val, tasks=tasks, class_map=class_map))
test_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_target_test, tasks=tasks, class_map=class_map))
