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
# The demo-scale model and its data, runtime and schedule: the source-only
# config; this method adds its auxiliary head.
_base_ = ['../source_only/synth_t2n.py']
model = dict(
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
