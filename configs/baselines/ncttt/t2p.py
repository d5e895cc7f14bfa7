# NC-TTT, paper setting Taskonomy -> PASCAL-Context: the method of
# configs/_base_/methods/ncttt.py on the data of
# configs/_base_/settings/t2p.py.
# Data: see docs/datasets.md (or generate a synthetic stand-in with
# tools/data/make_synthetic.py); check a copy with
#   python tools/data/check_dataset.py configs/baselines/ncttt/t2p.py
#   python tools/test.py configs/baselines/ncttt/t2p.py \
#       CKPT --tta-hook NCTTTHook
_base_ = ['../../_base_/methods/ncttt.py', '../../_base_/settings/t2p.py']
model = dict(
    decode_head=dict(tasks=_base_.tasks, num_classes=_base_.num_classes))
