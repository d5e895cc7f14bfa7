# TR-TTT on the synthetic Taskonomy -> NYUD-v2 shift, CPU demo scale: the
# paper-scale TR-TTT model slimmed down (ResNetV1c-18 at half width, a mixing
# 1x1 conv and a 3x3 decoder per task, smaller latents and TRL grid).
_base_ = [
    '../_base_/models/trttt_r50.py',
    '../_base_/datasets/synth_t2n.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_demo.py',
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
    aux_heads=dict(
        relation=dict(
            projection=dict(latent_channels=32),
            learner=dict(input_size=32, patch_size=4))))
# Defaults for `tools/test.py ... --tta-hook TRTTTHook` (10 steps per batch
# instead of 40 to fit the CPU demo budget).
ttt = dict(TRTTTHook=dict(steps=10))
