# Table 4 / Fig. 4: masking strategy 'task'.
_base_ = '../synth_t2n.py'
model = dict(
    aux_heads=dict(relation=dict(learner=dict(
        mask_strategy='task'))))
