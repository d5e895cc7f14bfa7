# TTTFlow on the synthetic Taskonomy -> NYUD-v2 shift, CPU demo scale: the
# slim multi-task model of configs/trttt/synth_t2n.py (ResNetV1c-18 at half
# width, a mixing 1x1 conv and a 3x3 decoder per task) without the TR-TTT
# branch, with the method's head, and the demo schedule.
# The flow head `flow` (FlowHead: a RealNVP flow on layer2 features). Stage 1:
# train this config (the flow rides along on detached features, the encoder's
# objective is the plain multi-task one); stage 2: synth_t2n_flow.py fits the
# flow on the frozen encoder (official recipe). Test:
#   python tools/test.py configs/baselines/tttflow/synth_t2n.py STAGE2.pth \
#       --tta-hook TTTFlowHook
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
    aux_heads=dict(
        flow=dict(
            type='FlowHead',
            in_index=1,  # ResNet layer2 (official --shared layer2)
            hidden_channels=64,  # official RealNVP(C, C, 2C, ...)
            num_couplings=3,
            mask_types='checkerboard',
            detach_input=True,
            loss_weight=1.0)))
# Defaults for `tools/test.py ... --tta-hook TTTFlowHook` (10 steps per
# batch: official --niter 10).
ttt = dict(TTTFlowHook=dict(steps=10))
