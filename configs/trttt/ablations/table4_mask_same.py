# Table 4 / Fig. 4: masking strategy 'same'.
_base_ = '../synth_t2n.py'
model = dict(relation=dict(mask_strategy='same'))
