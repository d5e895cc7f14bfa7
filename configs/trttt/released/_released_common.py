# What every configs/trttt/released/ setting shares: the released code's TRL
# (joint tokens, its mask count and sin-cos layout) on the torchvision
# ResNet-50, and its test-time protocol: adapt on the first target batch only
# (reset='single_batch'), 40 SGD steps (lr 2e-5, wd 1e-6, momentum 0) on all
# parameters with the norm layers in train mode, the 'released' loss.
# docs/methods.md, "TR-TTT: paper, released code and this project" lists
# every choice with its source. A setting's config adds the data of
# configs/_base_/settings/<setting>.py.
_base_ = ['../../_base_/methods/trttt.py']
model = dict(
    aux_heads=dict(
        relation=dict(
            learner=dict(
                token_layout='joint',
                mask_strategy='same',
                mask_ratio=0.8,
                mask_count='released',
                pos_embed_layout='cols_first'))))
ttt = dict(
    TRTTTHook=dict(
        loss='released',
        loss_scale=0.01,
        steps=40,
        optimizer=dict(type='SGD', lr=2e-5, weight_decay=1e-6, momentum=0.0),
        params='all',
        norm_mode='train',
        reset='single_batch'))
