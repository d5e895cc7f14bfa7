# TR-TTT as the authors' released code (S4T) runs it.
# Setting Taskonomy -> NYUD-v2:
# released configs/S4T/{pretrain,ttt}/taskonomy_nyud_resnet50_S4T.yml.
# Convert a released checkpoint with
#   python tools/model_converters/s4t_to_trttt.py SRC.pth.tar DST.pth \
#       --config configs/trttt/released/t2n.py
# then test it with --tta-hook TRTTTHook (cfg.ttt.TRTTTHook below). The
# choices and their sources: docs/methods.md, "TR-TTT: paper, released code and this project".
_base_ = [
    './_released_taskonomy_source.py',
    '../../_base_/datasets/nyudv2_mt.py',
]
tasks = ('semseg', 'depth', 'normal', 'edge')
class_map = 't2n'
num_classes = 7
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
        _base_.nyudv2_target_test, tasks=tasks, class_map=class_map))
# NYUD-v2 target: the released TTT loss (MTLoss_S4T_v2) weighs each task by
# the square of the NYUD training weights (semseg 1, depth 1, normals 10,
# edge 50), not by the Taskonomy model's own (all 1).
ttt = dict(
    TRTTTHook=dict(task_weights=dict(semseg=1.0, depth=1.0, normal=10.0,
                                     edge=50.0)))
