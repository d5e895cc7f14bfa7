# The paper-scale TR-TTT model: the ResNetV1c-50 multi-task model plus the
# task projection (TP) and the task relation learner (TRL) (DESIGN section 9),
# and the test-time defaults for `tools/test.py ... --tta-hook TRTTTHook`.
_base_ = ['./mtl_r50.py']
model = dict(
    projection=dict(type='TaskProjectionNeck', latent_channels=64),
    relation=dict(
        type='TaskRelationLearner',
        input_size=256,
        patch_size=16,
        embed_dim=64,
        depth=4,
        decoder_depth=2,
        num_heads=4,
        mask_strategy='same',
        mask_ratio=0.8,
        token_layout='per_task'),
    loss_weights=dict(tp=0.01, trl=0.01))
ttt = dict(
    TRTTTHook=dict(
        steps=40,
        optimizer=dict(type='SGD', lr=2e-5, weight_decay=1e-6, momentum=0.0),
        loss_scale=0.01,
        params='all',
        norm_mode='train',
        reset='online',
        eval_source=True))
