# Table 3, row 3: TRL on the task-specific projections, no masking.
_base_ = '../synth_t2n.py'
model = dict(relation=dict(mask_ratio=0.0))
