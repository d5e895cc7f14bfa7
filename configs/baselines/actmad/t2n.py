# ActMAD (Mirza et al., CVPR 2023), paper setting Taskonomy -> NYUD-v2: the
# method of configs/_base_/methods/actmad.py on the data of
# configs/_base_/settings/t2n.py.
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/baselines/actmad/t2n.py
#   python tools/test.py configs/baselines/actmad/t2n.py \
#       CKPT --tta-hook ActMADHook
# For a checkpoint of the same model trained without the head:
#   python tools/analysis/source_stats.py configs/baselines/actmad/t2n.py \
#       CKPT --out CKPT_actmad.pth
_base_ = ['../../_base_/methods/actmad.py', '../../_base_/settings/t2n.py']
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
