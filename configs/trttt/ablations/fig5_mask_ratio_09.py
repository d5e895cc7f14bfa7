# Fig. 5: mask ratio 0.9 with the 'same' strategy.
_base_ = '../synth_t2n.py'
model = dict(relation=dict(mask_strategy='same', mask_ratio=0.9))
