# TTT++ (Liu et al., NeurIPS 2021), paper setting Taskonomy -> PASCAL-Context:
# the method of configs/_base_/methods/tttpp.py on the data of
# configs/_base_/settings/t2p.py.
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/baselines/tttpp/t2p.py
#   python tools/test.py configs/baselines/tttpp/t2p.py \
#       CKPT --tta-hook TTTPlusPlusHook
_base_ = ['../../_base_/methods/tttpp.py', '../../_base_/settings/t2p.py']
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
