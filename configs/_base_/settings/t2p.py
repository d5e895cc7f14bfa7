# Paper setting Taskonomy -> PASCAL-Context, the data of every paper-scale
# config of this setting: source Taskonomy (train buildings for training, val
# for validation), target PASCAL-Context (the 5105 val images, streamed in
# order); 3 tasks (PASCAL has no depth), the 6 classes shared by Taskonomy
# and VOC (class_map t2p). Training task weights: the multi-task head's
# defaults (semseg 1, normal 10, edge 50).
# How a config combines it with a method: configs/_base_/settings/t2n.py.
_base_ = [
    '../datasets/taskonomy_mt.py',
    '../datasets/pascal_mt.py',
    '../datasets/mt_dataloaders.py',
]
tasks = ('semseg', 'normal', 'edge')
class_map = 't2p'
num_classes = 6
train_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_val, tasks=tasks, class_map=class_map))
test_dataloader = dict(
    dataset=dict(
        _base_.pascal_target_test, tasks=tasks, class_map=class_map))
