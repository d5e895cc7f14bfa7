# TR-TTT as the authors' released code (S4T) runs it.
# Setting PASCAL-Context -> Taskonomy:
# released configs/S4T/{pretrain,ttt}/pascal_taskonomy_resnet50_S4T.yml.
# Convert a released checkpoint with
#   python tools/model_converters/s4t_to_trttt.py SRC.pth.tar DST.pth \
#       --config configs/trttt/released/p2t.py
# then test it with --tta-hook TRTTTHook (cfg.ttt.TRTTTHook below). The
# choices and their sources: docs/methods.md, "TR-TTT: paper, released code
# and this project". Data: configs/_base_/settings/p2t.py.
_base_ = ['./_released_common.py', '../../_base_/settings/p2t.py']
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
# Continuous Taskonomy edges on the target side.
test_dataloader = dict(dataset=dict(edge_threshold=None))
# Taskonomy target: the released TTT loss (MTLoss_S4T_taskonomy_v2) takes
# the raw L1 of every task without task weights, scales it by 0.01 and passes
# it through a fresh uncertainty weighting (sigma = 1) whose parameters are
# adapted with the model. Taskonomy edges are continuous maps there.
ttt = dict(
    TRTTTHook=dict(
        task_weights=dict(semseg=1.0, normal=1.0, edge=1.0),
        loss_weighting=dict(type='UncertaintyWeighting')))
