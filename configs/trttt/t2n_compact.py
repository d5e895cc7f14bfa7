# TR-TTT Taskonomy -> NYUD-v2 at paper scale with the compact TRL (beyond the
# paper; docs/methods.md): one patch-embedding conv shared by
# the four tasks' latents (+ task and position embeddings) and the tasks'
# tokens of each patch fused before the decoder. Projection + TRL add +10.8 %
# parameters to the ResNet-50 model (configs/trttt/t2n.py: +24.2 %).
_base_ = './t2n.py'
model = dict(
    aux_heads=dict(relation=dict(learner=dict(
        token_layout='per_task',
        share_patch_embed=True,
        decoder_tokens='fused'))))
