# TTT++ (Liu et al., NeurIPS 2021) at paper scale: the source model of
# ./source_only.py (the same source budget as TR-TTT) plus the SimCLR
# projection head (2048 -> 2048 -> 128) on the pooled last stage.
# SourceStatsHook fills the head's source statistics after the last
# iteration. Moments use 256 samples (source chunks; target batch + queue;
# official 1536): NYUD-v2 train has 795 images and the discrepancy needs at
# least 2 chunks (docs/methods.md, "Baselines"). Test-time defaults:
# cfg.ttt.TTTPlusPlusHook (../ttt/ttt_defaults.py). A config adds a setting
# (../settings/).
_base_ = ['./source_only.py']
model = dict(
    aux_heads=dict(
        simclr=dict(
            type='ContrastiveProjectionHead', in_index=-1,
            stats_chunk=256)))
custom_hooks = _base_.custom_hooks + [dict(type='SourceStatsHook')]
