# TTT (Sun et al., ICML 2020) at paper scale: the source model of
# ./source_only.py (the same source budget as TR-TTT) plus the rotation head:
# layers 1-3 shared, a copy of layer4 + pooling + a 4-way linear classifier
# on rotated square crops (docs/methods.md, "Baselines").
# Test-time defaults: cfg.ttt.TTTHook (../ttt/ttt_defaults.py). A config adds
# a setting (../settings/).
_base_ = ['./source_only.py']
model = dict(
    aux_heads=dict(rotation=dict(type='RotationHead', in_index=2)))
