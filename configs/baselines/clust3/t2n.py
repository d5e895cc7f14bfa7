# ClusT3, paper setting Taskonomy -> NYUD-v2: the method of
# configs/_base_/methods/clust3.py on the data of
# configs/_base_/settings/t2n.py.
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/baselines/clust3/t2n.py
#   python tools/test.py configs/baselines/clust3/t2n.py \
#       CKPT --tta-hook ClusT3Hook
_base_ = ['../../_base_/methods/clust3.py', '../../_base_/settings/t2n.py']
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
