# Compact TRL, the parameter half only (docs/methods.md): the
# shared patch embedding of ./compact_trl.py, with the default per-task
# decoder tokens (same tokens and FLOPs as the default, fewer parameters).
_base_ = './compact_trl.py'
model = dict(
    aux_heads=dict(relation=dict(learner=dict(decoder_tokens='per_task'))))
