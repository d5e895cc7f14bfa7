# ActMAD (Mirza et al., CVPR 2023), paper setting PASCAL-Context -> Taskonomy:
# the method of configs/_base_/methods/actmad.py on the data of
# configs/_base_/settings/p2t.py.
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/baselines/actmad/p2t.py
#   python tools/test.py configs/baselines/actmad/p2t.py \
#       CKPT --tta-hook ActMADHook
# For a checkpoint of the same model trained without the head:
#   python tools/analysis/source_stats.py configs/baselines/actmad/p2t.py \
#       CKPT --out CKPT_actmad.pth
_base_ = ['../../_base_/methods/actmad.py', '../../_base_/settings/p2t.py']
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
