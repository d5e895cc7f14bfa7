# Table 3, row 2: TRL alone, reading the shared latent z (no task-specific
# projection, no masking).
_base_ = '../synth_t2n.py'
model = dict(
    aux_heads=dict(
        relation=dict(projection=None, learner=dict(mask_ratio=0.0))))
