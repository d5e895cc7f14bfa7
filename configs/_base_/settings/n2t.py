# Paper setting NYUD-v2 -> Taskonomy, the data of every paper-scale config of
# this setting: source NYUD-v2 (795 train images for training, the 654 val
# images for validation), target Taskonomy (the test buildings, streamed in
# order); 4 tasks, the 7 classes shared by NYU-40 and Taskonomy
# (class_map t2n). Training task weights: the multi-task head's defaults
# (semseg 1, depth 1, normal 10, edge 50).
# How a config combines it with a method: configs/_base_/settings/t2n.py.
_base_ = [
    '../datasets/nyudv2_mt.py',
    '../datasets/taskonomy_mt.py',
    '../datasets/mt_dataloaders.py',
]
tasks = ('semseg', 'depth', 'normal', 'edge')
class_map = 't2n'
num_classes = 7
train_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_source_val, tasks=tasks, class_map=class_map))
test_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_target_test, tasks=tasks, class_map=class_map))
