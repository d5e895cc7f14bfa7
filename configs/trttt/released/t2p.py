# TR-TTT as the authors' released code (S4T) runs it.
# Setting Taskonomy -> PASCAL-Context:
# the release ships no config for it; this one follows its Taskonomy
# source (taskonomy_nyud) and its PASCAL weights (pascal_taskonomy).
# Convert a released checkpoint with
#   python tools/model_converters/s4t_to_trttt.py SRC.pth.tar DST.pth \
#       --config configs/trttt/released/t2p.py
# then test it with --tta-hook TRTTTHook (cfg.ttt.TRTTTHook below). The
# choices and their sources: docs/methods.md, "TR-TTT: paper, released code and this project".
_base_ = [
    './_released_taskonomy_source.py',
    '../../_base_/datasets/pascal_mt.py',
]
tasks = ('semseg', 'normal', 'edge')
class_map = 't2p'
num_classes = 6
model = dict(decode_head=dict(tasks=tasks, num_classes=num_classes))
train_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_train, tasks=tasks, class_map=class_map,
        edge_threshold=None))
val_dataloader = dict(
    dataset=dict(
        _base_.taskonomy_source_val, tasks=tasks, class_map=class_map,
        edge_threshold=None))
test_dataloader = dict(
    dataset=dict(
        _base_.pascal_target_test, tasks=tasks, class_map=class_map))
# PASCAL target: MTLoss_S4T_v2 with the PASCAL weights squared (semseg 1,
# normals 10, edge 50).
ttt = dict(
    TRTTTHook=dict(task_weights=dict(semseg=1.0, normal=10.0, edge=50.0)))
