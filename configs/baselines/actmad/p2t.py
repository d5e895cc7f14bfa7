# ActMAD, paper setting PASCAL-Context -> Taskonomy: the TR-TTT model of
# configs/trttt/p2t.py (the same source model the other methods adapt) plus
# ActMADStatsHead (per-location moments of every batch-norm output of the
# main branch over the source training set; no parameters, no loss), filled
# by SourceStatsHook after the last training iteration. For an existing
# checkpoint of configs/trttt/p2t.py:
#   python tools/analysis/source_stats.py configs/baselines/actmad/p2t.py \
#       CKPT --out CKPT_actmad.pth
# Size: one (C, H, W) mean and variance map per layer; for ResNet-50 at full
# image size that is several hundred MB. ActMADStatsHead(layers=REGEX) keeps
# a subset (the official KITTI code matches only the last layers).
_base_ = ['../../trttt/p2t.py']
model = dict(aux_heads=dict(actmad=dict(type='ActMADStatsHead')))
custom_hooks = _base_.custom_hooks + [dict(type='SourceStatsHook')]
