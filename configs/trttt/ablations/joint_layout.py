# The released code's TRL token layout: one token per patch holding every
# task's latent (only the 'same' masking strategy is meaningful there), and its
# test-time protocol: adapt on the first target batch only, then evaluate.
_base_ = '../synth_t2n.py'
model = dict(
    aux_heads=dict(
        relation=dict(
            learner=dict(token_layout='joint', mask_strategy='same'))))
ttt = dict(TRTTTHook=dict(reset='single_batch'))
