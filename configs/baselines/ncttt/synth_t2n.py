# NC-TTT on the synthetic Taskonomy -> NYUD-v2 shift, CPU demo scale: the
# slim multi-task model of configs/trttt/synth_t2n.py (ResNetV1c-18 at half
# width, a mixing 1x1 conv and a 3x3 decoder per task) without the TR-TTT
# branch, with the method's head, and the demo schedule.
# The noise-contrast head `ncttt` (NoiseContrastHead: a 1x1 projector on layer2
# and a discriminator of noisy copies, trained with the multi-task losses).
# Test:
#   python tools/test.py configs/baselines/ncttt/synth_t2n.py CKPT \
#       --tta-hook NCTTTHook
# The demo-scale model and its data, runtime and schedule: the source-only
# config; this method adds its auxiliary head.
_base_ = ['../source_only/synth_t2n.py']
model = dict(
    aux_heads=dict(
        ncttt=dict(
            type='NoiseContrastHead',
            in_index=1,  # ResNet layer2 (official CIFAR setting)
            embed_channels=256,  # paper scale: 1536
            hidden_channels=4,
            sigma_high=0.1,
            sigma_low=0.015,
            loss_weight=1.0)))
# Defaults for `tools/test.py ... --tta-hook NCTTTHook` (10 steps per
# batch: 50 officially, fewer for the CPU demo budget).
ttt = dict(NCTTTHook=dict(steps=10))
