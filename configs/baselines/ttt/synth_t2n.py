# TTT (Sun et al., ICML 2020) on the synthetic Taskonomy -> NYUD-v2 shift, CPU
# demo scale: the multi-task model of configs/trttt/synth_t2n.py (ResNetV1c-18
# at half width, same data and schedule) without TR-TTT's head, plus the
# rotation head: layers 1-3 shared, a copy of layer4 + pooling + a 4-way
# linear classifier on rotated square crops (docs/methods.md, "Baselines").
#   python tools/train.py configs/baselines/ttt/synth_t2n.py
#   python tools/test.py configs/baselines/ttt/synth_t2n.py CKPT --tta-hook TTTHook
# The demo-scale model and its data, runtime and schedule: the source-only
# config; this method adds its auxiliary head.
_base_ = ['../source_only/synth_t2n.py']
model = dict(
    aux_heads=dict(rotation=dict(type='RotationHead', in_index=2)))
