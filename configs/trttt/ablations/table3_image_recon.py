# Table 3, row 4: TRL with masking on the shared latent, predicting the
# reconstructed input image instead of the task labels (test-time loss: the
# reconstruction error).
_base_ = '../synth_t2n.py'
model = dict(
    aux_heads=dict(relation=dict(projection=None, trl_target='image')))
