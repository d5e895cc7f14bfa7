# TR-TTT as the authors' released code (S4T) runs it.
# Setting PASCAL-Context -> Taskonomy:
# released configs/S4T/{pretrain,ttt}/pascal_taskonomy_resnet50_S4T.yml.
# Convert a released checkpoint with
#   python tools/model_converters/s4t_to_trttt.py SRC.pth.tar DST.pth \
#       --config configs/trttt/released/p2t.py
# then test it with --tta-hook TRTTTHook (cfg.ttt.TRTTTHook below). The
# choices and their sources: docs/methods.md, "TR-TTT: paper, released code and this project".
_base_ = [
    './_released_common.py',
    '../../_base_/datasets/pascal_mt.py',
    '../../_base_/datasets/taskonomy_mt.py',
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
        _base_.taskonomy_target_test, tasks=tasks, class_map=class_map,
        edge_threshold=None))
# Taskonomy target: the released TTT loss (MTLoss_S4T_taskonomy_v2) takes
# the raw L1 of every task without task weights, scales it by 0.01 and passes
# it through a fresh uncertainty weighting (sigma = 1) whose parameters are
# adapted with the model. Taskonomy edges are continuous maps there.
ttt = dict(
    TRTTTHook=dict(
        task_weights=dict(semseg=1.0, normal=1.0, edge=1.0),
        loss_weighting=dict(type='UncertaintyWeighting')))
