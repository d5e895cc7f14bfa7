# TTT (Sun et al., ICML 2020) on the synthetic Taskonomy -> NYUD-v2 shift, CPU
# demo scale: the multi-task model of configs/trttt/synth_t2n.py (ResNetV1c-18
# at half width, same data and schedule) without TR-TTT's head, plus the
# rotation head: layers 1-3 shared, a copy of layer4 + pooling + a 4-way
# linear classifier on rotated square crops (docs/methods.md, "Baselines").
#   python tools/train.py configs/baselines/ttt/synth_t2n.py
#   python tools/test.py configs/baselines/ttt/synth_t2n.py CKPT --tta-hook TTTHook
_base_ = [
    '../../_base_/models/mtl_r50.py',
    '../../_base_/datasets/synth_t2n.py',
    '../../_base_/default_runtime.py',
    '../../_base_/schedules/schedule_demo.py',
]
model = dict(
    backbone=dict(
        type='ResNetV1c', depth=18, stem_channels=32, base_channels=32,
        contract_dilation=True, init_cfg=None),
    decode_head=dict(
        in_channels=[32, 64, 128, 256],
        channels=96,
        head_channels=32,
        num_convs=1),
    aux_heads=dict(rotation=dict(type='RotationHead', in_index=2)))
