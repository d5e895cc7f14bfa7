# Compact TRL, the parameter half only (docs/methods.md): the
# shared patch embedding, with the default per-task decoder tokens (same
# tokens and FLOPs as the default, fewer parameters).
_base_ = '../synth_t2n.py'
model = dict(
    aux_heads=dict(relation=dict(learner=dict(
        token_layout='per_task',
        share_patch_embed=True,
        decoder_tokens='per_task'))))
