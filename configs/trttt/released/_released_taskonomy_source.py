# A Taskonomy source as the released code trains it (S4T
# losses/loss_schemes.py MTLoss_S4T_taskonomy_v2): every task's main + TP +
# TRL losses are summed and the sums uncertainty-weighted (Kendall et al.
# 2018; learned, in the optimizer and the checkpoint), with no fixed task
# weights and lambda_TP = lambda_TRL = 1; edges are continuous occlusion-edge
# strengths (the settings' configs load them with edge_threshold=None)
# regressed with L1 after the released rescale (v / 409.6 * 2 - 1 of the
# 16-bit value) and a Gaussian blur (sigma 4, data/dataset_taskonomy.py).
_base_ = ['./_released_common.py']
model = dict(
    loss_weighting=dict(type='UncertaintyWeighting'),
    decode_head=dict(
        losses=dict(
            semseg=dict(type='mmseg.CrossEntropyLoss', loss_weight=1.0,
                        avg_non_ignore=True, loss_name='loss_semseg'),
            depth=dict(type='DepthL1Loss', loss_weight=1.0),
            normal=dict(type='NormalL1Loss', loss_weight=1.0),
            edge=dict(type='ContinuousEdgeL1Loss', loss_weight=1.0,
                      target_scale=2 * 65535 / 409.6, target_shift=-1.0,
                      blur_sigma=4.0))),
    aux_heads=dict(relation=dict(loss_weights=dict(tp=1.0, trl=1.0))))
