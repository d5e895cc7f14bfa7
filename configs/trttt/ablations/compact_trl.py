# Compact TRL (beyond the paper; docs/methods.md): per-task
# tokens embedded by ONE patch conv shared by all tasks (+ task and position
# embeddings), and the tasks' tokens of each patch fused before the decoder,
# which then runs over one token per patch. The rest is the demo model.
_base_ = '../synth_t2n.py'
model = dict(
    aux_heads=dict(relation=dict(learner=dict(
        token_layout='per_task',
        share_patch_embed=True,
        decoder_tokens='fused'))))
