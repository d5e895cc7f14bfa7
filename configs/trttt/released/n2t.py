# TR-TTT as the authors' released code (S4T) runs it.
# Setting NYUD-v2 -> Taskonomy:
# released configs/S4T/{pretrain,ttt}/nyud_taskonomy_resnet50_S4T.yml.
# Convert a released checkpoint with
#   python tools/model_converters/s4t_to_trttt.py SRC.pth.tar DST.pth \
#       --config configs/trttt/released/n2t.py
# then test it with --tta-hook TRTTTHook (cfg.ttt.TRTTTHook below). The
# choices and their sources: docs/methods.md, "TR-TTT: paper, released code and this project".
_base_ = [
    './_released_common.py',
    '../../_base_/datasets/nyudv2_mt.py',
    '../../_base_/datasets/taskonomy_mt.py',
]
tasks = ('semseg', 'depth', 'normal', 'edge')
class_map = 't2n'
num_classes = 7
model = dict(decode_head=dict(tasks=tasks, num_classes=num_classes))
train_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_source_train, tasks=tasks, class_map=class_map))
val_dataloader = dict(
    dataset=dict(
        _base_.nyudv2_source_val, tasks=tasks, class_map=class_map))
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
        task_weights=dict(semseg=1.0, depth=1.0, normal=1.0,
                          edge=1.0),
        loss_weighting=dict(type='UncertaintyWeighting')))
