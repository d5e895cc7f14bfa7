# TTTFlow, stage 1, paper setting Taskonomy -> NYUD-v2: the method of
# configs/_base_/methods/tttflow.py on the data of
# configs/_base_/settings/t2n.py. Stage 2, t2n_flow.py, fits the flow on the
# frozen encoder; test with its checkpoint.
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/baselines/tttflow/t2n.py
#   python tools/test.py configs/baselines/tttflow/t2n.py \
#       STAGE2.pth --tta-hook TTTFlowHook
_base_ = ['../../_base_/methods/tttflow.py', '../../_base_/settings/t2n.py']
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
