# TR-TTT as the authors' released code (S4T) runs it.
# Setting Taskonomy -> PASCAL-Context:
# the release ships no config for it; this one follows its Taskonomy
# source (taskonomy_nyud) and its PASCAL weights (pascal_taskonomy).
# Convert a released checkpoint with
#   python tools/model_converters/s4t_to_trttt.py SRC.pth.tar DST.pth \
#       --config configs/trttt/released/t2p.py
# then test it with --tta-hook TRTTTHook (cfg.ttt.TRTTTHook below). The
# choices and their sources: docs/methods.md, "TR-TTT: paper, released code
# and this project". Data: configs/_base_/settings/t2p.py.
_base_ = ['./_released_taskonomy_source.py', '../../_base_/settings/t2p.py']
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
# Continuous Taskonomy edges on the source side.
train_dataloader = dict(dataset=dict(edge_threshold=None))
val_dataloader = dict(dataset=dict(edge_threshold=None))
# PASCAL target: MTLoss_S4T_v2 with the PASCAL weights squared (semseg 1,
# normals 10, edge 50).
ttt = dict(
    TRTTTHook=dict(task_weights=dict(semseg=1.0, normal=10.0, edge=50.0)))
