# Table 3, row 3: TRL on the task-specific projections, no masking.
_base_ = '../synth_t2n.py'
model = dict(
    aux_heads=dict(relation=dict(learner=dict(
        mask_ratio=0.0))))
