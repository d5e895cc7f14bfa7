# ActMAD (Mirza et al., CVPR 2023), paper setting Taskonomy ->
# PASCAL-Context: the
# multi-task ResNet-50 model with the data and schedule of configs/trttt/t2p.py
# (the same source budget as TR-TTT) without TR-TTT's branch, plus
# ActMADStatsHead: the per-location moments of every batch-norm output of the
# main branch over the source training set (no parameters, no loss), filled by
# SourceStatsHook after the last training iteration
# (docs/methods.md, "Baselines").
#   python tools/test.py configs/baselines/actmad/t2p.py CKPT \
#       --tta-hook ActMADHook
# For a checkpoint of the same model trained without the head:
#   python tools/analysis/source_stats.py configs/baselines/actmad/t2p.py \
#       CKPT --out CKPT_actmad.pth
# Size: one (C, H, W) mean and variance map per layer; for ResNet-50 at full
# image size several hundred MB. ActMADStatsHead(layers=REGEX) keeps a subset
# (the official KITTI code matches only the last layers).
_base_ = ['../../trttt/t2p.py']
model = dict(
    aux_heads=dict(relation=None, actmad=dict(type='ActMADStatsHead')))
custom_hooks = _base_.custom_hooks + [dict(type='SourceStatsHook')]
