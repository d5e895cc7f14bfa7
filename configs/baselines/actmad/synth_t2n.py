# ActMAD (Mirza et al., CVPR 2023) on the synthetic Taskonomy -> NYUD-v2
# shift, CPU demo scale: the multi-task model of configs/trttt/synth_t2n.py
# (same backbone, data and schedule) without TR-TTT's branch -- the source
# model NormStatsHook, TENTHook and TIPIHook adapt -- plus ActMADStatsHead,
# the per-location moments of every batch-norm output of the main branch over
# the source training set. The head has no parameters and no loss;
# SourceStatsHook fills it after the last training iteration, so the
# checkpoint is self-contained (docs/methods.md, "Baselines").
#   python tools/train.py configs/baselines/actmad/synth_t2n.py
#   python tools/test.py configs/baselines/actmad/synth_t2n.py CKPT \
#       --tta-hook ActMADHook
# For a checkpoint of the same model trained without the head (e.g. the
# source-only model): one pass over the source training data,
#   python tools/analysis/source_stats.py \
#       configs/baselines/actmad/synth_t2n.py CKPT --out CKPT_actmad.pth
_base_ = ['../../trttt/synth_t2n.py']
model = dict(
    aux_heads=dict(relation=None, actmad=dict(type='ActMADStatsHead')))
custom_hooks = _base_.custom_hooks + [dict(type='SourceStatsHook')]
