# TTTFlow, stage 2, paper setting PASCAL-Context -> Taskonomy
# (configs/_base_/methods/tttflow_flow.py on the data of
# configs/_base_/settings/p2t.py): fit the flow on the frozen source model of
# `p2t.py`; the stage refuses to start without the stage-1 checkpoint:
#   python tools/train.py configs/baselines/tttflow/p2t_flow.py \
#       --cfg-options load_from=work_dirs/p2t/iter_N.pth
# Then test with `p2t.py` and the stage-2 checkpoint
# (--tta-hook TTTFlowHook).
_base_ = [
    '../../_base_/methods/tttflow_flow.py', '../../_base_/settings/p2t.py'
]
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
