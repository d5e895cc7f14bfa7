# The paper-scale TR-TTT model: the ResNetV1c-50 multi-task model plus TR-TTT's
# auxiliary branch `relation` (TaskRelationHead: the task projection (TP) and
# the task relation learner (TRL), DESIGN section 9).
_base_ = ['./mtl_r50.py']
model = dict(
    aux_heads=dict(
        relation=dict(
            type='TaskRelationHead',
            projection=dict(type='TaskProjectionNeck', latent_channels=64),
            learner=dict(
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
            loss_weights=dict(tp=0.01, trl=0.01))))
