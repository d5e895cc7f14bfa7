# TR-TTT as the authors' released code (S4T) runs it.
# Setting Taskonomy -> NYUD-v2:
# released configs/S4T/{pretrain,ttt}/taskonomy_nyud_resnet50_S4T.yml.
# Convert a released checkpoint with
#   python tools/model_converters/s4t_to_trttt.py SRC.pth.tar DST.pth \
#       --config configs/trttt/released/t2n.py
# then test it with --tta-hook TRTTTHook (cfg.ttt.TRTTTHook below). The
# choices and their sources: docs/methods.md, "TR-TTT: paper, released code
# and this project". Data: configs/_base_/settings/t2n.py.
_base_ = ['./_released_taskonomy_source.py', '../../_base_/settings/t2n.py']
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
# Continuous Taskonomy edges on the source side.
train_dataloader = dict(dataset=dict(edge_threshold=None))
val_dataloader = dict(dataset=dict(edge_threshold=None))
# NYUD-v2 target: the released TTT loss (MTLoss_S4T_v2) weighs each task by
# the square of the NYUD training weights (semseg 1, depth 1, normals 10,
# edge 50), not by the Taskonomy model's own (all 1).
ttt = dict(
    TRTTTHook=dict(task_weights=dict(semseg=1.0, depth=1.0, normal=10.0,
                                     edge=50.0)))
