# Fig. 5: mask ratio 0.5 with the 'same' strategy.
_base_ = '../synth_t2n.py'
model = dict(
    aux_heads=dict(relation=dict(learner=dict(
        mask_strategy='same', mask_ratio=0.5))))
