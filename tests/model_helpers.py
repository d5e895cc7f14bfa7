"""Tiny multi-task models and batches shared by the tests."""
import torch
from mmengine.structures import PixelData

from mmseg.structures import SegDataSample

TASKS = ('semseg', 'depth', 'normal', 'edge')


def small_model_cfg(projection=True, relation=True, tasks=TASKS,
                    head_kw=None, **kw):
    cfg = dict(
        type='MultiTaskEncoderDecoder',
        data_preprocessor=dict(
            type='MultiTaskDataPreProcessor', mean=[0, 0, 0], std=[1, 1, 1],
            bgr_to_rgb=False, size_divisor=32),
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                      base_channels=8, out_indices=(0, 1, 2, 3)),
        decode_head=dict(type='MultiTaskHead', in_channels=[8, 16, 32, 64],
                         channels=16, head_channels=8, tasks=tasks,
                         num_classes=3))
    if relation:
        head = dict(
            type='TaskRelationHead',
            projection=dict(type='TaskProjectionNeck', latent_channels=8)
            if projection else None,
            learner=dict(type='TaskRelationLearner', input_size=16,
                         patch_size=4, embed_dim=16, depth=1,
                         decoder_depth=1, num_heads=2, mask_ratio=0.5))
        head.update(head_kw or {})
        cfg['aux_heads'] = dict(relation=head)
    cfg.update(kw)
    return cfg


def make_batch(n=2, h=40, w=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append((torch.rand(3, h, w, generator=g) * 255).to(torch.uint8))
        ds = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        seg = torch.randint(0, 3, (1, h, w), generator=g)
        seg[:, :2] = 255
        normal = torch.nn.functional.normalize(
            torch.randn(3, h, w, generator=g), dim=0)
        ds.set_data(dict(
            gt_sem_seg=PixelData(data=seg),
            gt_depth_map=PixelData(data=torch.rand(1, h, w, generator=g) + .5),
            gt_normal_map=PixelData(data=normal),
            gt_edge_map=PixelData(
                data=(torch.rand(1, h, w, generator=g) > .8).float())))
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)


def assert_base_and_delta(metrics, healthy=True):
    """A test-time run with ``eval_source`` reports the base metrics, and
    Δ_TTT exactly when it is defined: not when a primary base metric is 0
    (a tiny, briefly trained model can score mIoU 0: the relative change
    divides by zero) or an adapted one is not finite (a tiny model that an
    adaptation step blew up predicts NaN, which the metric counts in
    ``<task>/nonfinite``).

    With ``healthy`` (the default) the run must also have been free of
    faults: no update rolled back for a non-finite loss, gradient or weight
    (``ttt/nonfinite_skips == 0``) and no non-finite prediction
    (``<task>/nonfinite == 0`` for every task it scores), so a model that
    diverges fails the test instead of passing with counted NaNs. Pass
    ``healthy=False`` only for a run that may diverge."""
    import math

    from trttt_mm.evaluation import PRIMARY_KEYS
    if healthy:
        assert metrics.get('ttt/nonfinite_skips') == 0, (
            'updates rolled back for non-finite values: '
            f'{metrics.get("ttt/nonfinite_skips")}')
        counts = {k: v for k, v in metrics.items()
                  if k.endswith('/nonfinite') and not k.startswith(
                      ('base/', 'delta/'))}
        assert counts and not any(counts.values()), (
            f'non-finite predictions: {counts}')
    base = {k: metrics[f'base/{k}'] for k in PRIMARY_KEYS
            if f'base/{k}' in metrics}
    assert 'base/semseg/mIoU' in metrics and base, sorted(metrics)
    adapted = [metrics[k] for k in PRIMARY_KEYS if k in metrics]
    if all(v != 0 for v in base.values()) and all(
            math.isfinite(v) for v in adapted):
        assert 'delta_ttt' in metrics
    else:
        assert 'delta_ttt' not in metrics
        if not all(math.isfinite(v) for v in adapted):
            assert sum(metrics[f'{t}/nonfinite'] for t in (
                'semseg', 'depth', 'normal', 'edge')) > 0
