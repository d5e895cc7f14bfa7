# ActMAD (Mirza et al., CVPR 2023) at paper scale: TR-TTT's model without
# its branch (relation=None), plus ActMADStatsHead: the per-location moments
# of every batch-norm output of the main branch over the source training set
# (no parameters, no loss), filled by SourceStatsHook after the last training
# iteration (docs/methods.md, "Baselines"). Size: one (C, H, W) mean and
# variance map per layer; for ResNet-50 at full image size several hundred
# MB. ActMADStatsHead(layers=REGEX) keeps a subset (the official KITTI code
# matches only the last layers). Test-time defaults: cfg.ttt.ActMADHook
# (../ttt/ttt_defaults.py). A config adds a setting (../settings/).
_base_ = ['./trttt.py']
model = dict(
    aux_heads=dict(relation=None, actmad=dict(type='ActMADStatsHead')))
custom_hooks = _base_.custom_hooks + [dict(type='SourceStatsHook')]
