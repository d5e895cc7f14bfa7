# ActMAD on the synthetic Taskonomy -> NYUD-v2 shift (CPU demo scale): the
# TR-TTT demo model (configs/trttt/synth_t2n.py) plus ActMADStatsHead, the
# per-location moments of every batch-norm output of the main branch over the
# source training set. The head has no parameters and no loss: training is
# the demo's, and SourceStatsHook fills the statistics after the last
# iteration, so the checkpoint is self-contained.
#   python tools/train.py configs/baselines/actmad/synth_t2n.py
#   python tools/test.py configs/baselines/actmad/synth_t2n.py CKPT \
#       --tta-hook ActMADHook
# For a checkpoint trained without the head (e.g. the TR-TTT demo's):
#   python tools/analysis/source_stats.py configs/baselines/actmad/synth_t2n.py \
#       CKPT --out CKPT_actmad.pth
_base_ = ['../../trttt/synth_t2n.py']
model = dict(aux_heads=dict(actmad=dict(type='ActMADStatsHead')))
custom_hooks = _base_.custom_hooks + [dict(type='SourceStatsHook')]
