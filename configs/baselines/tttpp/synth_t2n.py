# TTT++ (Liu et al., NeurIPS 2021) on the synthetic Taskonomy -> NYUD-v2 shift,
# CPU demo scale: the multi-task model of configs/trttt/synth_t2n.py
# (ResNetV1c-18 at half width, same data and schedule) without TR-TTT's head,
# plus the SimCLR projection head on the pooled last stage. After the last
# training iteration SourceStatsHook fills the head's source statistics (one
# pass over the training set), so the final checkpoint is ready for
#   python tools/test.py configs/baselines/tttpp/synth_t2n.py CKPT --tta-hook TTTPlusPlusHook
# Moments are estimated from 64 samples (source chunks; target batch +
# queue): the 320 synthetic source images give 5 chunks (docs/methods.md,
# "Baselines").
# The demo-scale model and its data, runtime and schedule: the source-only
# config; this method adds its auxiliary head.
_base_ = ['../source_only/synth_t2n.py']
model = dict(
    aux_heads=dict(
        simclr=dict(
            type='ContrastiveProjectionHead', in_index=-1, stats_chunk=64)))
custom_hooks = _base_.custom_hooks + [dict(type='SourceStatsHook')]
