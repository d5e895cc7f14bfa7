# TR-TTT on the synthetic Taskonomy -> NYUD-v2 shift, CPU demo scale.
_base_ = [
    '../_base_/models/mtl_resnet_small.py',
    '../_base_/datasets/synth_t2n.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_demo.py',
]
model = dict(
    projection=dict(type='TaskProjectionNeck', latent_channels=32),
    relation=dict(
        type='TaskRelationLearner',
        input_size=32,
        patch_size=4,
        embed_dim=64,
        depth=4,
        decoder_depth=2,
        num_heads=4,
        mask_strategy='same',
        mask_ratio=0.8,
        token_layout='per_task'),
    loss_weights=dict(tp=0.01, trl=0.01))
# Defaults for `tools/test.py ... --tta-hook NAME`.
ttt = dict(
    TRTTTHook=dict(
        steps=10,
        optimizer=dict(type='SGD', lr=2e-5, weight_decay=1e-6, momentum=0.0),
        loss_scale=0.01,
        params='all',
        norm_mode='train',
        reset='online',
        eval_source=True))
