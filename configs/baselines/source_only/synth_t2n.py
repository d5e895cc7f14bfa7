# Source-only multi-task model on the synthetic Taskonomy -> NYUD-v2 shift,
# CPU demo scale: the model of configs/trttt/synth_t2n.py (ResNetV1c-18 at
# half width, a mixing 1x1 conv and a 3x3 decoder per task, the same data and
# schedule) without TR-TTT's branch and without any auxiliary head. It is the
# source model of the head-less test-time methods (NormStatsHook, TENTHook,
# TIPIHook) and the "source only" row of the benchmark (tools/benchmark.py).
#   python tools/train.py configs/baselines/source_only/synth_t2n.py
#   python tools/test.py configs/baselines/source_only/synth_t2n.py CKPT \
#       --tta-hook NormStatsHook
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
        num_convs=1))
