import math

import pytest
import torch
from mmseg.structures import SegDataSample
from mmengine.structures import PixelData

from trttt_mm.evaluation import MultiTaskMetric
from trttt_mm.evaluation.metrics.multi_task_metric import RMSE_MODES

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
    assert set(m) == {'semseg/mIoU', 'semseg/aAcc', 'semseg/mAcc',
                      'semseg/nonfinite'}
    assert m['semseg/nonfinite'] == 0


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
                      'depth/abs_rel', 'depth/nonfinite'}
    assert m['depth/nonfinite'] == 0


def test_depth_aligned_rmse_zero_for_affine_prediction():
    gt = torch.tensor([[1.0, 2.0, 0.0], [3.0, 4.0, NAN]])
    pred = 2 * gt + 1
    for mode, key in (('aligned', 'depth/rmse'), ('pooled',
                                                  'depth/rmse_aligned')):
        m = run(make_metric(rmse_mode=mode),
                [sample(gt_depth_map=gt, pred_depth_map=pred)])
        assert m[key] == pytest.approx(0.0, abs=1e-9)
        assert m['depth/rmse_pooled'] == pytest.approx(math.sqrt(13.5))


def test_aligned_rmse_pools_squared_errors_over_batches():
    # As evaluation/eval_scum.py: fit per batch, then sqrt(sum SSE / sum n).
    gt = torch.tensor([[1.0, 3.0]])
    # batch 1: two samples, 4 pixels, affine prediction: fitted exactly, SSE 0
    batch1 = [sample(gt_depth_map=gt, pred_depth_map=2 * gt + 1)] * 2
    # batch 2: 2 pixels, constant prediction: best fit = mean(gt) = 2, both
    # residuals are 1, SSE 2
    batch2 = [sample(gt_depth_map=gt, pred_depth_map=torch.full_like(gt, 5))]
    m = run(make_metric(rmse_mode='aligned'), batch1, batch2)
    # sqrt((0 + 2) / (4 + 2)) = 0.577, not (0 + 1) / 2 = 0.5 (the mean of
    # per-batch RMSEs) nor 1/3 (the mean of per-sample RMSEs)
    assert m['depth/rmse'] == pytest.approx(0.57735, abs=1e-5)
    assert m['depth/rmse'] == pytest.approx(math.sqrt(2 / 6))
    assert m['depth/rmse_aligned'] == m['depth/rmse']


def test_edge_aligned_rmse_pools_too():
    gt = torch.tensor([[0.0, 1.0]])
    batch1 = [sample(gt_edge_map=gt, pred_edge_map=0.5 * gt + 0.2)] * 2
    # constant 0.3: best fit = mean(gt) = 0.5, residuals 0.5, SSE 0.5
    batch2 = [sample(gt_edge_map=gt, pred_edge_map=torch.full_like(gt, .3))]
    m = run(make_metric(rmse_mode='aligned'), batch1, batch2)
    assert m['edge/rmse'] == pytest.approx(math.sqrt(0.5 / 6))


def test_depth_prediction_clamped_before_rmse():
    # Labels [2, 3, 0], predictions [-1, 3.5, -4]. The 0 label is invalid
    # depth here, so two pixels count; the predictions are clamped at 1e-9:
    # sqrt(((2 - 1e-9)^2 + 0.5^2) / 2) = sqrt(4.25 / 2) = 1.4577.
    # (S4T's evaluation/eval_depth.py masks only 255, so it would also count
    # the 0 label, clamped to 1e-9 like the prediction there: error 0, and
    # sqrt(4.25 / 3) = 1.190. Without the clamp it would be
    # sqrt((9 + 0.25) / 2) = 2.15.)
    m = run(make_metric(), [sample(gt_depth_map=[[2.0, 3.0, 0.0]],
                                   pred_depth_map=[[-1.0, 3.5, -4.0]])])
    assert m['depth/rmse_pooled'] == pytest.approx(1.4577, abs=1e-4)
    assert m['depth/rmse'] == pytest.approx(
        math.sqrt(((2 - 1e-9)**2 + .25) / 2))
    assert m['depth/abs_rel'] == pytest.approx(((2 - 1e-9) / 2 + .5 / 3) / 2)
    # the aligned RMSE fits the raw predictions (as eval_scum.py, no clamp):
    # two points are fitted exactly
    assert m['depth/rmse_aligned'] == pytest.approx(0.0, abs=1e-9)


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


def test_normal_median_of_even_count_is_midpoint():
    # numpy.median([10, 20]) = 15: the histogram median must not stop at the
    # lower middle value (10.01 before).
    gt = normal_map(*[(0, 0, 1)] * 2)
    p = normal_map(*[(math.sin(math.radians(a)), 0, math.cos(math.radians(a)))
                     for a in (10, 20)])
    m = run(make_metric(), [sample(gt_normal_map=gt, pred_normal_map=p)])
    assert m['normal/median_angle'] == pytest.approx(15, abs=0.01)
    m = run(make_metric(normal_bin_width=1.0),
            [sample(gt_normal_map=gt, pred_normal_map=p)])
    assert m['normal/median_angle'] == pytest.approx(15, abs=0.5)


# ----------------------------------------------------------------------- edge
def test_edge_rmse_ignores_255():
    gt = [[0.0, 1.0], [255.0, 1.0]]
    pred = [[0.5, 0.5], [0.9, 1.0]]
    m = run(make_metric(), [sample(gt_edge_map=gt, pred_edge_map=pred)])
    assert m['edge/rmse'] == pytest.approx(math.sqrt(0.5 / 3))
    assert set(m) == {'edge/rmse', 'edge/rmse_pooled', 'edge/rmse_aligned',
                      'edge/nonfinite'}


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
                      'depth/abs_rel', 'depth/nonfinite'}


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
                      'nyud/semseg/mAcc', 'nyud/semseg/nonfinite'}


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


# ------------------------------------------------------ non-finite predictions
INF = float('inf')


def warnings_during(fn):
    """Run ``fn`` and return the warning messages mmengine's logger got."""
    import logging
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine')
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                records.append(record.getMessage())

    handler = Collect()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        result = fn()
    finally:
        logger.removeHandler(handler)
    return result, records


def test_nonfinite_normal_is_180_degrees_not_zero():
    gt = normal_map((0, 0, 1), (0, 0, 1), (0, 0, 0))  # last pixel invalid
    p = normal_map((0, 0, 1), (NAN, 0, 0), (NAN, NAN, NAN))
    m = run(make_metric(), [sample(gt_normal_map=gt, pred_normal_map=p)])
    assert m['normal/nonfinite'] == 1  # the invalid-gt pixel does not count
    assert m['normal/mean_angle'] == pytest.approx(90.0)
    assert m['normal/11.25'] == pytest.approx(50.0)
    # all NaN: every angle is 180, the median is not ~0 (histogram bin 0)
    p = normal_map((NAN, 0, 0), (0, INF, 0), (0, 0, 1))
    m = run(make_metric(), [sample(gt_normal_map=gt, pred_normal_map=p)])
    assert m['normal/nonfinite'] == 2
    assert m['normal/median_angle'] == pytest.approx(180.0)
    assert m['normal/mean_angle'] == pytest.approx(180.0)
    assert m['normal/30'] == 0.0


def test_nonfinite_semseg_logits_count_as_a_miss():
    gt = torch.tensor([[0, 1, 255]])
    pred = torch.tensor([[0, 1, 1]])  # argmax says right, but ...
    logits = torch.tensor([[[5.0, 0.0, NAN]], [[0.0, NAN, 1.0]]])  # ... NaN
    s = sample(gt_sem_seg=gt, pred_sem_seg=pred)
    s['seg_logits'] = dict(data=logits)
    m = run(make_metric(), [s])
    # confusion [[1, 0], [0, 0]], class 1 missed once (in no pred column):
    # IoU0 = 1/1, IoU1 = 0/1; the ignored pixel's NaN does not count
    assert m['semseg/nonfinite'] == 1
    assert m['semseg/mIoU'] == pytest.approx(50.0)
    assert m['semseg/aAcc'] == pytest.approx(50.0)
    assert m['semseg/mAcc'] == pytest.approx(50.0)
    # a float label map with a NaN never becomes a class id
    m = run(make_metric(), [sample(gt_sem_seg=[[0, 1]],
                                   pred_sem_seg=torch.tensor([[0.0, NAN]]))])
    assert m['semseg/nonfinite'] == 1
    assert m['semseg/aAcc'] == pytest.approx(50.0)


def test_seg_logits_shape_must_match():
    s = sample(gt_sem_seg=[[0, 1]], pred_sem_seg=[[0, 1]])
    s['seg_logits'] = dict(data=torch.zeros(2, 1, 3))
    with pytest.raises(ValueError, match='seg_logits'):
        make_metric().process({}, [s])


@pytest.mark.parametrize('bad', [NAN, INF, -INF])
def test_nonfinite_depth_and_edge_make_rmse_nan(bad):
    # -inf would become 1e-9 under the clamp: it must still count
    depth = sample(gt_depth_map=[[1.0, 2.0, 0.0]],
                   pred_depth_map=[[1.0, bad, bad]])  # last: invalid gt
    edge = sample(gt_edge_map=[[0.0, 1.0, 255.0]],
                  pred_edge_map=[[0.0, bad, bad]])
    for mode in RMSE_MODES:
        m = run(make_metric(rmse_mode=mode), [depth, edge])
        assert m['depth/nonfinite'] == 1 and m['edge/nonfinite'] == 1
        for key in ('depth/rmse', 'depth/rmse_pooled', 'depth/rmse_aligned',
                    'depth/abs_rel', 'edge/rmse', 'edge/rmse_pooled',
                    'edge/rmse_aligned'):
            assert math.isnan(m[key]), key
    # a finite sample in the same batch keeps its own numbers finite elsewhere
    m = run(make_metric(), [sample(gt_depth_map=[[1.0]],
                                   pred_depth_map=[[2.0]])])
    assert m['depth/rmse'] == 1.0 and m['depth/nonfinite'] == 0


def test_nonfinite_warns_once_per_evaluation():
    metric = make_metric()
    batch = [sample(gt_depth_map=[[1.0, 2.0]], pred_depth_map=[[NAN, NAN]],
                    gt_normal_map=normal_map((0, 0, 1)),
                    pred_normal_map=normal_map((NAN, 0, 0)))] * 3
    m, warned = warnings_during(lambda: run(metric, batch, batch))
    assert m['depth/nonfinite'] == 12 and m['normal/nonfinite'] == 6
    assert len([w for w in warned if 'non-finite' in w]) == 1
    # a clean evaluation does not warn
    clean = [sample(gt_depth_map=[[1.0]], pred_depth_map=[[1.0]])]
    _, warned = warnings_during(lambda: run(make_metric(), clean))
    assert not [w for w in warned if 'non-finite' in w]


def test_primary_keys_keep_their_directions():
    from trttt_mm.evaluation import PRIMARY_KEYS, delta_ttt, metric_direction
    m = run(make_metric(classes=("a", "b", "c")), all_task_batch(0, 2))
    assert all(k in m for k in PRIMARY_KEYS)
    for k in PRIMARY_KEYS:
        metric_direction(k)
    assert delta_ttt(m, m)['delta_ttt'] == 0.0


# --------------------------------------------------------- incremental totals
def all_task_batch(seed, size):
    g = torch.Generator().manual_seed(seed)
    batch = []
    for _ in range(size):
        seg_gt = torch.randint(0, 3, (4, 5), generator=g)
        seg_gt[0, 0] = 255
        normal_gt = torch.randn(3, 4, 5, generator=g)
        normal_gt[:, 0, 1] = 0
        edge_gt = (torch.rand(4, 5, generator=g) > 0.5).float()
        edge_gt[1, 1] = 255
        depth_gt = torch.rand(4, 5, generator=g) * 5
        depth_gt[2, 2] = 0
        batch.append(sample(
            gt_sem_seg=seg_gt,
            pred_sem_seg=torch.randint(0, 3, (4, 5), generator=g),
            gt_depth_map=depth_gt,
            pred_depth_map=torch.randn(4, 5, generator=g) * 3 + 2,
            gt_normal_map=normal_gt,
            pred_normal_map=torch.randn(3, 4, 5, generator=g),
            gt_edge_map=edge_gt,
            pred_edge_map=torch.rand(4, 5, generator=g)))
    return batch


def totals_shape(totals):
    return {t: {k: (tuple(v.shape) if isinstance(v, torch.Tensor) else
                    type(v).__name__) for k, v in d.items()}
            for t, d in totals.items()}


@pytest.mark.parametrize('mode', RMSE_MODES)
def test_merged_batch_totals_equal_compute_metrics(mode):
    metric = make_metric(classes=('a', 'b', 'c'), rmse_mode=mode,
                         log_per_class=False)
    running = {}
    shapes = []
    for i in range(5):
        start = len(metric.results)
        metric.process({}, all_task_batch(i, 1 + i % 3))
        running = metric.merge(running, metric.reduce(metric.results[start:]))
        shapes.append(totals_shape(running))
        # the running metrics after each batch are the metrics of the prefix
        assert metric.compute_from_totals(running) == \
            metric.compute_metrics(metric.results)
    final = metric.compute_metrics(metric.results)
    assert metric.compute_from_totals(running) == final  # exactly
    assert final == metric.compute_from_totals(metric.reduce(metric.results))
    assert set(final) >= {'semseg/mIoU', 'depth/rmse', 'normal/mean_angle',
                          'edge/rmse', 'normal/nonfinite'}
    assert all(math.isfinite(v) for v in final.values())
    # totals have a fixed size: merging does not grow with the batch count
    assert all(s == shapes[0] for s in shapes)
    # grouping and order do not matter (the float sums are pooled exactly)
    res = metric.results
    other = metric.merge(metric.reduce(res[::-1][:4]),
                         metric.reduce(res[::-1][4:]))
    assert metric.compute_from_totals(other) == final


def test_merge_with_empty_and_inputs_untouched():
    metric = make_metric(classes=('a', 'b', 'c'))
    metric.process({}, all_task_batch(7, 2))
    totals = metric.reduce(metric.results)
    assert metric.reduce([]) == {}
    assert metric.merge({}, {}) == {}
    expected = metric.compute_from_totals(totals)
    assert metric.compute_from_totals(metric.merge({}, totals)) == expected
    assert metric.compute_from_totals(metric.merge(totals, {})) == expected
    before = totals['semseg']['confusion'].clone()
    doubled = metric.merge(totals, totals)
    assert torch.equal(totals['semseg']['confusion'], before)
    assert torch.equal(doubled['semseg']['confusion'], 2 * before)
    assert doubled['depth']['count'] == 2 * totals['depth']['count']
    # the same samples twice: same means, RMSEs and percentages
    again = metric.compute_from_totals(doubled)
    for key, value in expected.items():
        if key.endswith('nonfinite'):
            continue
        assert again[key] == pytest.approx(value), key
    # tasks present in only one side are kept
    part = metric.merge({'depth': totals['depth']}, {'edge': totals['edge']})
    assert set(part) == {'depth', 'edge'}
