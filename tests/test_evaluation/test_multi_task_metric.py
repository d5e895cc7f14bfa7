import math

import pytest
import torch
from mmseg.structures import SegDataSample
from mmengine.structures import PixelData

from trttt_mm.evaluation import MultiTaskMetric

NAN = float('nan')


def sample(**fields):
    """A data sample as mmengine's Evaluator passes it (``to_dict()``)."""
    ds = SegDataSample()
    for name, value in fields.items():
        value = torch.as_tensor(value)
        if value.dim() == 2:
            value = value[None]
        ds.set_field(PixelData(data=value), name)
    return ds.to_dict()


def make_metric(classes=('a', 'b'), **kwargs):
    metric = MultiTaskMetric(**kwargs)
    metric.dataset_meta = dict(classes=classes)
    return metric


def run(metric, *batches):
    n = 0
    for batch in batches:
        metric.process({}, batch)
        n += len(batch)
    return metric.evaluate(n)


# --------------------------------------------------------------------- semseg
SEG_GT = [[0, 0, 0], [1, 1, 255]]
SEG_PRED = [[0, 0, 1], [1, 0, 1]]
# confusion (rows gt, cols pred) = [[2, 1], [1, 1]]:
# IoU0 = 2 / (3 + 3 - 2) = 1/2, IoU1 = 1 / (2 + 2 - 1) = 1/3
# aAcc = 3/5, Acc0 = 2/3, Acc1 = 1/2


def test_semseg_by_hand():
    m = run(make_metric(), [sample(gt_sem_seg=SEG_GT, pred_sem_seg=SEG_PRED)])
    assert m['semseg/mIoU'] == pytest.approx((1 / 2 + 1 / 3) / 2 * 100)
    assert m['semseg/aAcc'] == pytest.approx(60.0)
    assert m['semseg/mAcc'] == pytest.approx((2 / 3 + 1 / 2) / 2 * 100)
    assert set(m) == {'semseg/mIoU', 'semseg/aAcc', 'semseg/mAcc'}


def test_semseg_ignore_never_counts():
    pred = [[0, 0, 1], [1, 0, 0]]  # only the ignored pixel's prediction moved
    m = run(make_metric(), [sample(gt_sem_seg=SEG_GT, pred_sem_seg=pred)])
    assert m['semseg/mIoU'] == pytest.approx((1 / 2 + 1 / 3) / 2 * 100)
    assert m['semseg/aAcc'] == pytest.approx(60.0)
    # a custom ignore index
    gt = [[0, 0, 0], [1, 1, 1]]
    m = run(make_metric(ignore_index=1), [sample(gt_sem_seg=gt,
                                                 pred_sem_seg=pred)])
    assert m['semseg/aAcc'] == pytest.approx(100 * 2 / 3)


def test_semseg_absent_class_zero():
    sam = [sample(gt_sem_seg=SEG_GT, pred_sem_seg=SEG_PRED)]
    skip = run(make_metric(classes=('a', 'b', 'c')), sam)
    zero = run(make_metric(classes=('a', 'b', 'c'), absent_class_zero=True),
               sam)
    assert skip['semseg/mIoU'] == pytest.approx((1 / 2 + 1 / 3) / 2 * 100)
    assert zero['semseg/mIoU'] == pytest.approx((1 / 2 + 1 / 3) / 3 * 100)
    assert zero['semseg/mAcc'] == pytest.approx(skip['semseg/mAcc'])


def test_semseg_pooled_over_split():
    a = sample(gt_sem_seg=[[0, 0]], pred_sem_seg=[[0, 0]])
    b = sample(gt_sem_seg=[[1, 1]], pred_sem_seg=[[1, 0]])
    m = run(make_metric(), [a], [b])
    # pooled confusion [[2, 0], [1, 1]]: IoU0 = 2/3, IoU1 = 1/2
    assert m['semseg/mIoU'] == pytest.approx((2 / 3 + 1 / 2) / 2 * 100)


def test_semseg_num_classes_and_errors():
    metric = MultiTaskMetric(num_classes=2)  # no dataset_meta needed
    m = run(metric, [sample(gt_sem_seg=SEG_GT, pred_sem_seg=SEG_PRED)])
    assert m['semseg/aAcc'] == pytest.approx(60.0)
    with pytest.raises(ValueError, match='num_classes'):
        MultiTaskMetric().process(
            {}, [sample(gt_sem_seg=SEG_GT, pred_sem_seg=SEG_PRED)])
    with pytest.raises(ValueError, match='outside'):
        make_metric().process({}, [sample(gt_sem_seg=[[0]],
                                          pred_sem_seg=[[2]])])


# ---------------------------------------------------------------------- depth
def test_depth_rmse_skips_invalid_and_nan():
    gt = [[1.0, 2.0], [0.0, NAN]]
    pred = [[2.0, 2.0], [5.0, 7.0]]
    m = run(make_metric(), [sample(gt_depth_map=gt, pred_depth_map=pred)])
    assert m['depth/rmse'] == pytest.approx(math.sqrt(0.5))
    assert m['depth/rmse_pooled'] == pytest.approx(math.sqrt(0.5))
    assert m['depth/abs_rel'] == pytest.approx(0.5)
    assert set(m) == {'depth/rmse', 'depth/rmse_pooled', 'depth/rmse_aligned',
                      'depth/abs_rel'}


def test_depth_aligned_rmse_zero_for_affine_prediction():
    gt = torch.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, NAN]])
    pred = 2 * gt + 1
    for mode, key in (('aligned', 'depth/rmse'), ('pooled',
                                                  'depth/rmse_aligned')):
        m = run(make_metric(rmse_mode=mode),
                [sample(gt_depth_map=gt, pred_depth_map=pred)])
        assert m[key] == pytest.approx(0.0, abs=1e-9)
        assert m['depth/rmse_pooled'] == pytest.approx(math.sqrt(13.5))


def test_aligned_rmse_is_a_mean_over_batches():
    gt = torch.tensor([[1.0, 3.0]])
    batch1 = [sample(gt_depth_map=gt, pred_depth_map=2 * gt + 1)] * 2
    # constant prediction: best fit = mean(gt) = 2, RMSE 1
    batch2 = [sample(gt_depth_map=gt, pred_depth_map=torch.full_like(gt, 5))]
    m = run(make_metric(rmse_mode='aligned'), batch1, batch2)
    assert m['depth/rmse'] == pytest.approx(0.5)  # not 1/3 (per sample)


# --------------------------------------------------------------------- normal
def normal_map(*vectors):
    return torch.tensor(vectors, dtype=torch.float32).T.reshape(3, 1, -1)


@pytest.mark.parametrize('pred, angle', [((0, 0, 5), 0.0), ((1, 0, 0), 90.0),
                                         ((0, 0, -1), 180.0)])
def test_normal_angle(pred, angle):
    gt = normal_map((0, 0, 1), (0, 0, 1), (0, 0, 0))  # last pixel invalid
    p = normal_map(pred, pred, (1, 0, 0))
    m = run(make_metric(), [sample(gt_normal_map=gt, pred_normal_map=p)])
    assert m['normal/mean_angle'] == pytest.approx(angle, abs=1e-6)
    assert m['normal/median_angle'] == pytest.approx(angle, abs=0.01)
    assert m['normal/rmse_angle'] == pytest.approx(angle, abs=1e-6)
    assert m['normal/11.25'] == (100.0 if angle == 0 else 0.0)


def test_normal_median_and_thresholds():
    gt = normal_map(*[(0, 0, 1)] * 3)
    p = normal_map(*[(math.sin(math.radians(a)), 0, math.cos(math.radians(a)))
                     for a in (10, 20, 40)])
    m = run(make_metric(), [sample(gt_normal_map=gt * 2, pred_normal_map=p)])
    assert m['normal/mean_angle'] == pytest.approx(70 / 3, abs=1e-4)
    assert m['normal/median_angle'] == pytest.approx(20, abs=0.01)
    assert m['normal/11.25'] == pytest.approx(100 / 3)
    assert m['normal/22.5'] == pytest.approx(200 / 3)
    assert m['normal/30'] == pytest.approx(200 / 3)


# ----------------------------------------------------------------------- edge
def test_edge_rmse_ignores_255():
    gt = [[0.0, 1.0], [255.0, 1.0]]
    pred = [[0.5, 0.5], [0.9, 1.0]]
    m = run(make_metric(), [sample(gt_edge_map=gt, pred_edge_map=pred)])
    assert m['edge/rmse'] == pytest.approx(math.sqrt(0.5 / 3))
    assert set(m) == {'edge/rmse', 'edge/rmse_pooled', 'edge/rmse_aligned'}


# ---------------------------------------------------------- samples and tasks
def test_samples_missing_tasks_and_task_filter():
    seg = sample(gt_sem_seg=SEG_GT, pred_sem_seg=SEG_PRED)
    # prediction of depth without ground truth: depth is skipped there
    seg_only = sample(
        gt_sem_seg=SEG_GT, pred_sem_seg=SEG_PRED, pred_depth_map=[[1.0] * 3] * 2)
    depth = sample(gt_depth_map=[[1.0, 2.0]], pred_depth_map=[[2.0, 2.0]])
    m = run(make_metric(), [seg, depth], [seg_only])
    assert m['depth/rmse'] == pytest.approx(math.sqrt(0.5))
    assert m['semseg/aAcc'] == pytest.approx(60.0)
    m = run(make_metric(tasks=['depth', 'normal']), [seg, depth])
    assert set(m) == {'depth/rmse', 'depth/rmse_pooled', 'depth/rmse_aligned',
                      'depth/abs_rel'}


def test_accepts_data_sample_objects():
    ds = SegDataSample()
    ds.gt_depth_map = PixelData(data=torch.tensor([[[1.0, 2.0]]]))
    ds.pred_depth_map = PixelData(data=torch.tensor([[[2.0, 2.0]]]))
    m = run(make_metric(), [ds])
    assert m['depth/rmse'] == pytest.approx(math.sqrt(0.5))


def test_shape_mismatch_names_task_and_shapes():
    bad = sample(gt_depth_map=torch.ones(1, 2, 3), pred_depth_map=torch.ones(
        1, 2, 2))
    with pytest.raises(ValueError, match=r'depth.*\(1, 2, 2\).*\(1, 2, 3\)'):
        make_metric().process({}, [bad])


def test_arguments_validated():
    with pytest.raises(ValueError, match='rmse_mode'):
        MultiTaskMetric(rmse_mode='mean')
    with pytest.raises(ValueError, match='unknown task'):
        MultiTaskMetric(tasks=['depht'])


def test_prefix_and_registry():
    from mmseg.registry import METRICS
    metric = METRICS.build(dict(type='MultiTaskMetric', prefix='nyud'))
    metric.dataset_meta = dict(classes=('a', 'b'))
    m = run(metric, [sample(gt_sem_seg=SEG_GT, pred_sem_seg=SEG_PRED)])
    assert set(m) == {'nyud/semseg/mIoU', 'nyud/semseg/aAcc',
                      'nyud/semseg/mAcc'}


def test_per_class_table_can_be_silenced(caplog):
    import torch
    from mmengine.logging import MMLogger
    from trttt_mm.evaluation.metrics import MultiTaskMetric
    MMLogger.get_instance('mmengine')

    def run(flag):
        m = MultiTaskMetric(tasks=('semseg', ), num_classes=2,
                            log_per_class=flag)
        m.dataset_meta = dict(classes=('a', 'b'))
        gt = torch.tensor([[[0, 1]]])
        m.process({}, [dict(pred_sem_seg=dict(data=gt.clone()),
                            gt_sem_seg=dict(data=gt))])
        return m.compute_metrics(m.results)

    import io
    import logging
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        assert run(False)['semseg/mIoU'] == 100.0
        assert 'per class results' not in stream.getvalue()
        run(True)
        assert 'per class results' in stream.getvalue()
    finally:
        logger.removeHandler(handler)
