# ClusT3, paper setting Taskonomy -> PASCAL-Context,
# ResNet-50, paper schedule (the source budget of configs/trttt/t2p.py,
# without the TR-TTT branch):
# 3 tasks (PASCAL has no depth), the 6 classes shared by Taskonomy and VOC
# (class_map t2p).
# The cluster head `clust3` (ClusterHead: 1x1 projectors to K clusters on
# layer1 and layer2, trained with the multi-task losses, lambda = 1). Test:
#   python tools/test.py configs/baselines/clust3/t2p.py CKPT \
#       --tta-hook ClusT3Hook
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py).
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
        clust3=dict(
            type='ClusterHead',
            in_indices=(0, 1),  # ResNet layer1 + layer2 (official best)
            num_clusters=10,
            num_projectors=15,
            marginal='probs',
            marginal_over='batch',
            loss_weight=1.0)))
train_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_val, tasks=tasks, class_map=class_map))
test_dataloader = dict(
    dataset=dict(
        _base_.pascal_target_test, tasks=tasks, class_map=class_map))
