# TTT++ (Liu et al., NeurIPS 2021), paper setting NYUD-v2 -> Taskonomy: the
# method of configs/_base_/methods/tttpp.py on the data of
# configs/_base_/settings/n2t.py.
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/baselines/tttpp/n2t.py
#   python tools/test.py configs/baselines/tttpp/n2t.py \
#       CKPT --tta-hook TTTPlusPlusHook
_base_ = ['../../_base_/methods/tttpp.py', '../../_base_/settings/n2t.py']
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
