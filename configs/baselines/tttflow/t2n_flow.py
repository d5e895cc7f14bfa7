# TTTFlow, stage 2, paper setting Taskonomy -> NYUD-v2
# (configs/_base_/methods/tttflow_flow.py on the data of
# configs/_base_/settings/t2n.py): fit the flow on the frozen source model of
# `t2n.py`; the stage refuses to start without the stage-1 checkpoint:
#   python tools/train.py configs/baselines/tttflow/t2n_flow.py \
#       --cfg-options load_from=work_dirs/t2n/iter_N.pth
# Then test with `t2n.py` and the stage-2 checkpoint
# (--tta-hook TTTFlowHook).
_base_ = [
    '../../_base_/methods/tttflow_flow.py', '../../_base_/settings/t2n.py'
]
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
