"""Metrics for multi-task dense prediction (semseg, depth, normal, edge)."""
import logging
import math
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from mmseg.registry import METRICS

from ...tasks import GT_FIELDS, IGNORE_VALUES, PRED_FIELDS, TASKS, check_tasks

#: Thresholds (degrees) of the ``normal/<t>`` keys: percent of valid pixels
#: whose angular error is strictly below ``t``.
NORMAL_THRESHOLDS: Tuple[Tuple[str, float], ...] = (('11.25', 11.25),
                                                    ('22.5', 22.5),
                                                    ('30', 30.0))

RMSE_MODES = ('pooled', 'aligned')

#: Depth predictions are clamped at this value before the plain RMSE and
#: abs_rel, as the multi-task reference depth evaluators do.
DEPTH_CLAMP = 1e-9

#: Angle (degrees) given to a pixel whose predicted normal is not finite.
NONFINITE_ANGLE = 180.0

# Float sums in the totals are exact integers in units of 2**-1074 (the
# smallest float64 subnormal): every finite float is an integer multiple of
# it, so adding them is exact and associative, and merging totals gives the
# same result whatever the grouping or order (then rounded once, correctly).
_EXACT_BITS = 1074
_EXACT_ONE = 1 << _EXACT_BITS

Exact = Union[int, float]  # an exact int, or a float when inf / nan


def _exact(x: float) -> Exact:
    """A float as an exact integer in units of 2**-1074 (non-finite as is)."""
    x = float(x)
    if not math.isfinite(x):
        return x
    num, den = x.as_integer_ratio()  # den is a power of two <= 2**1074
    return num << (_EXACT_BITS - den.bit_length() + 1)


def _add(a: Exact, b: Exact) -> Exact:
    """Sum of two exact values or counts (a non-finite float absorbs)."""
    a_float, b_float = isinstance(a, float), isinstance(b, float)
    if a_float and b_float:
        return a + b
    if a_float:
        return a
    if b_float:
        return b
    return a + b


def _value(x: Exact) -> float:
    """The float nearest to an exact value."""
    if isinstance(x, float):
        return x
    try:
        return x / _EXACT_ONE  # int / int: correctly rounded
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _to_tensor(value: Any) -> Optional[torch.Tensor]:
    """Turn a data-sample field (dict / PixelData / tensor / array) into a
    CPU tensor, or ``None`` when there is nothing."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get('data')
    elif isinstance(value, BaseDataElement):
        value = value.get('data')
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        value = torch.as_tensor(value)
    return value.detach().cpu()


def _get_field(data_sample: Any, name: str) -> Optional[torch.Tensor]:
    if isinstance(data_sample, dict):
        return _to_tensor(data_sample.get(name))
    return _to_tensor(getattr(data_sample, name, None))


def _as_chw(t: torch.Tensor) -> torch.Tensor:
    return t.unsqueeze(0) if t.dim() == 2 else t


def _norm3(x: torch.Tensor) -> torch.Tensor:
    """L2 norm over the first dim of a ``(C, N)`` tensor, channel by channel."""
    out = x[0] * x[0]
    for c in range(1, x.shape[0]):
        out = out + x[c] * x[c]
    return out.sqrt()


def _all_finite(x: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` mask: every channel of a ``(C, H, W)`` tensor is finite.

    Channel by channel: a reduction over dim 0 is much slower on the CPU.
    """
    out = torch.isfinite(x[0])
    for c in range(1, x.shape[0]):
        out &= torch.isfinite(x[c])
    return out


def _lstsq_fit(pred: torch.Tensor,
               gt: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Least-squares ``scale, shift`` of ``scale * pred + shift ≈ gt``.

    Both inputs are 1-D float64 tensors of the same (non-zero) length. A
    constant prediction gets ``scale = 0``, ``shift = mean(gt)`` (any
    least-squares solution leaves the same residual).
    """
    pred_mean, gt_mean = pred.mean(), gt.mean()
    dp = pred - pred_mean
    var = (dp * dp).sum()
    if var > 0:
        scale = (dp * (gt - gt_mean)).sum() / var
    else:
        scale = torch.zeros((), dtype=pred.dtype)
    return scale, gt_mean - scale * pred_mean


@METRICS.register_module()
class MultiTaskMetric(BaseMetric):
    """Evaluate semantic segmentation, depth, surface normals and edges.

    Each sample is reduced in :meth:`process`, on the CPU, to a small summary
    (a ``(C, C)`` int64 confusion matrix, float sums and counts, a sparse
    angle histogram), so collecting results across ranks is cheap. The
    summaries pool into fixed-size additive *totals* (:meth:`reduce`, then
    :meth:`merge` to add two totals at a cost that does not grow with the
    number of batches behind them), and :meth:`compute_from_totals` turns
    totals into the metrics; :meth:`compute_metrics` is
    ``compute_from_totals(reduce(results))``. Float sums are pooled exactly,
    so any grouping of the same samples gives the same metrics, bit for bit.

    Keys (without ``prefix``; with one, mmengine writes ``<prefix>/<key>``):

    - ``semseg/aAcc``, ``semseg/mIoU``, ``semseg/mAcc``: percent, from the
      confusion matrix pooled over the split. Ground-truth pixels equal to
      ``ignore_index`` (or outside ``[0, num_classes)``) never count.
      Per-class IoU / Acc are logged as a table.
    - ``depth/rmse`` (metres), ``depth/rmse_pooled``, ``depth/rmse_aligned``,
      ``depth/abs_rel``: over pixels whose ground truth is finite and > 0.
      ``rmse_pooled`` and ``abs_rel`` clamp the prediction at ``1e-9`` first.
    - ``normal/mean_angle``, ``normal/median_angle``, ``normal/rmse_angle``
      (degrees) and ``normal/11.25``, ``normal/22.5``, ``normal/30`` (percent
      of pixels under the threshold): angle ``2·atan2(‖p−g‖, ‖p+g‖)`` between
      the L2-normalised prediction and ground truth, over pixels whose ground
      truth is finite and not all-zero. The median is the median of the
      angles as ``numpy.median`` defines it (the mean of the two middle
      angles for an even count), each angle taken as the centre of its
      ``normal_bin_width``-degree histogram bin, so within half a bin width.
    - ``edge/rmse``, ``edge/rmse_pooled``, ``edge/rmse_aligned``: predicted
      probability against the {0, 1} ground truth over pixels not equal to
      255 (and finite).
    - ``<task>/nonfinite``, for every task evaluated: the number of valid
      ground-truth pixels whose prediction is not finite (semseg: any
      channel of ``seg_logits``, when the sample carries it, or a float
      ``pred_sem_seg`` value).

    RMSE variants (depth and edge): ``<task>/rmse_pooled`` is the root of the
    mean squared error over every valid pixel of the split;
    ``<task>/rmse_aligned`` follows the reference ``evaluation/eval_scum.py``:
    per evaluation batch (one :meth:`process` call) the raw prediction is
    fitted to the ground truth by a least-squares scale and shift over the
    batch's valid pixels, and the squared errors of the fitted prediction are
    pooled over all batches, ``sqrt(Σ SSE / Σ n)`` (no clamp, as there).
    Both are always written; ``<task>/rmse`` equals the one that
    ``rmse_mode`` names.

    Non-finite predictions (at valid ground-truth pixels) are counted in
    ``<task>/nonfinite``, trigger one warning per evaluation, and are never
    scored as good: a normal becomes a 180° error, a semseg pixel a miss of
    its ground-truth class (in no class's prediction column), and any
    non-finite depth or edge prediction makes that task's ``rmse``,
    ``rmse_pooled``, ``rmse_aligned`` and ``abs_rel`` NaN (no error value
    would be honest; the fit and the sums skip those pixels, so the other
    numbers stay well defined).

    A sample that lacks a task's prediction or ground truth is skipped for that
    task. A task seen in no sample writes no keys.

    Args:
        tasks: tasks to evaluate; ``None`` evaluates every task whose
            prediction and ground truth appear in the data samples.
        num_classes: number of semantic classes; ``None`` takes
            ``len(dataset_meta['classes'])``.
        ignore_index: ignored semseg label.
        absent_class_zero: count a class absent from both prediction and
            ground truth as IoU 0 in ``semseg/mIoU`` (the reference
            convention) instead of skipping it (mmseg's convention, default).
            ``semseg/mAcc`` always skips classes absent from the ground truth.
        rmse_mode: ``'pooled'`` or ``'aligned'``: which variant ``depth/rmse``
            and ``edge/rmse`` report.
        normal_bin_width: histogram bin width in degrees for the median angle.
        log_per_class: log the per-class IoU/Acc table on each evaluation.
        collect_device: ``'cpu'`` or ``'gpu'``, as in mmengine.
        prefix: prefix of every key; ``None`` writes ``semseg/mIoU`` etc.
        collect_dir: temporary directory for CPU collection, as in mmengine.
    """

    def __init__(self,
                 tasks: Optional[Sequence[str]] = None,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 absent_class_zero: bool = False,
                 rmse_mode: str = 'pooled',
                 normal_bin_width: float = 0.01,
                 log_per_class: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        self.tasks = None if tasks is None else check_tasks(
            tasks, 'MultiTaskMetric.tasks')
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(
                f'MultiTaskMetric: num_classes must be >= 1, got {num_classes}')
        self.num_classes = None if num_classes is None else int(num_classes)
        self.ignore_index = ignore_index
        self.absent_class_zero = bool(absent_class_zero)
        if rmse_mode not in RMSE_MODES:
            raise ValueError(f'MultiTaskMetric: rmse_mode must be one of '
                             f'{RMSE_MODES}, got {rmse_mode!r}')
        self.rmse_mode = rmse_mode
        self.log_per_class = bool(log_per_class)
        if not normal_bin_width > 0:
            raise ValueError('MultiTaskMetric: normal_bin_width must be > 0, '
                             f'got {normal_bin_width}')
        self.normal_bin_width = float(normal_bin_width)
        self._num_bins = int(math.ceil(180.0 / self.normal_bin_width)) + 1

    # ------------------------------------------------------------------ #
    # per-sample summaries
    # ------------------------------------------------------------------ #
    def _get_num_classes(self) -> int:
        if self.num_classes is not None:
            return self.num_classes
        classes = (self.dataset_meta or {}).get('classes')
        if not classes:
            raise ValueError(
                'MultiTaskMetric: semseg needs num_classes or '
                "dataset_meta['classes'], and neither is set")
        return len(classes)

    def _pair(self, data_sample: Any,
              task: str) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        pred = _get_field(data_sample, PRED_FIELDS[task])
        gt = _get_field(data_sample, GT_FIELDS[task])
        if pred is None or gt is None:
            return None
        pred, gt = _as_chw(pred), _as_chw(gt)
        if pred.shape != gt.shape:
            raise ValueError(
                f'MultiTaskMetric: {task} prediction {PRED_FIELDS[task]} has '
                f'shape {tuple(pred.shape)} but ground truth {GT_FIELDS[task]} '
                f'has shape {tuple(gt.shape)}')
        return pred, gt

    def _semseg_summary(self, pred: torch.Tensor, gt: torch.Tensor,
                        logits: Optional[torch.Tensor]) -> dict:
        num_classes = self._get_num_classes()
        bad = None  # pixels whose prediction is not finite
        if pred.is_floating_point():
            bad = ~torch.isfinite(pred.reshape(-1))
        if logits is not None and logits.is_floating_point():
            logits = _as_chw(logits)
            if logits.shape[1:] != pred.shape[1:]:
                raise ValueError(
                    f'MultiTaskMetric: semseg seg_logits has shape '
                    f'{tuple(logits.shape)} but pred_sem_seg has shape '
                    f'{tuple(pred.shape)}')
            lbad = ~_all_finite(logits).reshape(-1)
            bad = lbad if bad is None else bad | lbad
        gt = gt.reshape(-1).long()
        pred = pred.reshape(-1)
        valid = (gt != self.ignore_index) & (gt >= 0) & (gt < num_classes)
        gt, pred = gt[valid], pred[valid]
        nonfinite = 0
        missed = torch.zeros(num_classes, dtype=torch.int64)
        if bad is not None:
            bad = bad[valid]
            nonfinite = int(bad.sum())
            if nonfinite:
                missed = torch.bincount(gt[bad], minlength=num_classes)
                gt, pred = gt[~bad], pred[~bad]
        pred = pred.long()
        if pred.numel() and (pred.min() < 0 or pred.max() >= num_classes):
            raise ValueError(
                f'MultiTaskMetric: semseg prediction holds labels outside '
                f'[0, {num_classes}) (min {int(pred.min())}, max '
                f'{int(pred.max())})')
        confusion = torch.bincount(
            gt * num_classes + pred, minlength=num_classes**2)
        return dict(
            confusion=confusion.reshape(num_classes, num_classes),
            missed=missed,
            nonfinite=nonfinite)

    @staticmethod
    def _scalar_summary(task: str, pred: torch.Tensor, gt: torch.Tensor
                        ) -> Tuple[dict, torch.Tensor, torch.Tensor]:
        """Summary of a depth / edge sample, and its finite-prediction valid
        pixels ``(pred, gt)`` (float64, raw) for the per-batch fit."""
        if task == 'depth':
            valid = torch.isfinite(gt) & (gt > 0)
        else:
            valid = torch.isfinite(gt) & (gt != IGNORE_VALUES['edge'])
        p = pred[valid].double()
        g = gt[valid].double()
        finite = torch.isfinite(p)
        nonfinite = int(finite.numel() - int(finite.sum()))
        if nonfinite:
            p, g = p[finite], g[finite]
        err = (p.clamp_min(DEPTH_CLAMP) if task == 'depth' else p) - g
        summary = dict(
            count=int(valid.sum()),
            nonfinite=nonfinite,
            sse=float((err * err).sum()),
            aligned_sse=0.0)
        if task == 'depth':
            summary['abs_rel_sum'] = float((err.abs() / g).sum())
        return summary, p, g

    def _normal_summary(self, pred: torch.Tensor, gt: torch.Tensor) -> dict:
        # Channel-wise arithmetic instead of reductions over dim 0 (norm,
        # normalize, all/any), which are tens of times slower on the CPU.
        gt = gt.double()
        valid = _all_finite(gt)
        nonzero = torch.zeros(gt.shape[1:], dtype=torch.bool)
        for c in range(gt.shape[0]):
            nonzero |= gt[c] != 0
        valid &= nonzero
        g = gt[:, valid]
        p = pred.double()[:, valid]
        finite = _all_finite(p)
        nonfinite = int(finite.numel() - int(finite.sum()))
        g = g / _norm3(g)
        p = p / _norm3(p).clamp_min(1e-12)
        angle = torch.rad2deg(2 * torch.atan2(_norm3(p - g), _norm3(p + g)))
        if nonfinite:
            angle[~finite] = NONFINITE_ANGLE
        bins = (angle / self.normal_bin_width).floor().long().clamp_(
            0, self._num_bins - 1)
        hist = torch.bincount(bins, minlength=self._num_bins)
        idx = hist.nonzero().squeeze(1)
        summary = dict(
            angle_sum=float(angle.sum()),
            angle_sq_sum=float((angle * angle).sum()),
            count=int(angle.numel()),
            nonfinite=nonfinite,
            hist_idx=idx.int(),
            hist_count=hist[idx].int())
        for name, thr in NORMAL_THRESHOLDS:
            summary[f'under_{name}'] = int((angle < thr).sum())
        return summary

    # ------------------------------------------------------------------ #
    # BaseMetric interface
    # ------------------------------------------------------------------ #
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Reduce each sample of a batch to a summary in ``self.results``.

        The least-squares fit of ``rmse_aligned`` spans the whole batch; each
        sample's summary keeps its own pixels' squared residuals under that
        fit, so the batch's SSE survives collection across ranks.

        Args:
            data_batch: the batch from the dataloader (unused).
            data_samples: the model outputs, as dicts (what mmengine's
                ``Evaluator`` passes) or ``SegDataSample``s.

        Raises:
            ValueError: a prediction's shape differs from its ground truth's
                (naming the task), or semseg has no class count.
        """
        tasks = self.tasks if self.tasks is not None else TASKS
        summaries: List[dict] = []
        to_fit: Dict[str, list] = dict(depth=[], edge=[])
        for data_sample in data_samples:
            summary = {}
            for task in tasks:
                pair = self._pair(data_sample, task)
                if pair is None:
                    continue
                pred, gt = pair
                if task == 'semseg':
                    summary[task] = self._semseg_summary(
                        pred, gt, _get_field(data_sample, 'seg_logits'))
                elif task == 'normal':
                    summary[task] = self._normal_summary(pred, gt)
                else:
                    summary[task], p, g = self._scalar_summary(task, pred, gt)
                    if p.numel():
                        to_fit[task].append((len(summaries), p, g))
            summaries.append(summary)
        for task, entries in to_fit.items():
            if not entries:
                continue
            scale, shift = _lstsq_fit(
                torch.cat([e[1] for e in entries]),
                torch.cat([e[2] for e in entries]))
            for index, p, g in entries:
                residual = scale * p + shift - g
                summaries[index][task]['aligned_sse'] = float(
                    (residual * residual).sum())
        self.results.extend(summaries)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Pool the per-sample summaries into the flat metrics dict:
        ``compute_from_totals(reduce(results))``, with logging."""
        return self.compute_from_totals(self.reduce(results), log=True)

    # ------------------------------------------------------------------ #
    # incremental API: summaries -> totals -> metrics
    # ------------------------------------------------------------------ #
    def reduce(self, results: list) -> dict:
        """Pool per-sample summaries (items of ``self.results``) into totals.

        Totals are ``{task: {name: value}}`` of fixed size: semseg
        ``confusion`` ``(C, C)`` and ``missed`` ``(C,)`` int64 tensors; normal
        a dense int64 ``hist``; counts as ints; float sums (``sse``,
        ``aligned_sse``, ``abs_rel_sum``, ``angle_sum``, ``angle_sq_sum``) as
        exact integers in units of ``2**-1074`` (a float when inf / NaN).
        Every entry is additive, see :meth:`merge`.
        """
        totals: dict = {}
        for task in TASKS:
            parts = [r[task] for r in results if task in r]
            if not parts:
                continue
            total: dict = {}
            for name in parts[0]:
                if name in ('hist_idx', 'hist_count'):
                    continue
                values = [p[name] for p in parts]
                if isinstance(values[0], torch.Tensor):
                    total[name] = torch.stack(values).sum(0)
                elif isinstance(values[0], float):
                    acc: Exact = 0
                    for v in values:
                        acc = _add(acc, _exact(v))
                    total[name] = acc
                else:
                    total[name] = sum(int(v) for v in values)
            if task == 'normal':
                hist = torch.zeros(self._num_bins, dtype=torch.int64)
                hist.index_add_(
                    0, torch.cat([p['hist_idx'] for p in parts]).long(),
                    torch.cat([p['hist_count'] for p in parts]).long())
                total['hist'] = hist
            totals[task] = total
        return totals

    @staticmethod
    def merge(a: dict, b: dict) -> dict:
        """Elementwise sum of two totals (either may be ``{}``).

        Neither input is modified. The cost depends only on the totals' fixed
        size (classes, histogram bins), not on how many batches they hold.
        """
        out: dict = {}
        for task in list(a) + [t for t in b if t not in a]:
            ta, tb = a.get(task), b.get(task)
            if ta is None or tb is None:
                src = ta if tb is None else tb
                out[task] = {
                    k: (v.clone() if isinstance(v, torch.Tensor) else v)
                    for k, v in src.items()
                }
                continue
            merged = {}
            for name in list(ta) + [n for n in tb if n not in ta]:
                if name not in tb:
                    va = ta[name]
                    merged[name] = va.clone() if isinstance(
                        va, torch.Tensor) else va
                elif name not in ta:
                    vb = tb[name]
                    merged[name] = vb.clone() if isinstance(
                        vb, torch.Tensor) else vb
                elif isinstance(ta[name], torch.Tensor):
                    merged[name] = ta[name] + tb[name]
                else:
                    merged[name] = _add(ta[name], tb[name])
            out[task] = merged
        return out

    def compute_from_totals(self, totals: dict,
                            log: bool = False) -> Dict[str, float]:
        """The flat metrics dict from totals (:meth:`reduce` /
        :meth:`merge`).

        Args:
            totals: ``{task: {...}}`` as :meth:`reduce` returns.
            log: log warnings (tasks without samples or valid pixels,
                non-finite predictions) and the per-class table; off by
                default so that a running monitor stays quiet.
        """
        seen = [t for t in TASKS if t in totals]
        if self.tasks is not None:
            missing = [t for t in self.tasks if t not in seen]
            if missing and log:
                print_log(
                    f'MultiTaskMetric: no sample carried {missing}; '
                    'they get no metrics',
                    logger='current',
                    level=logging.WARNING)
            seen = [t for t in self.tasks if t in seen]
        metrics: Dict[str, float] = OrderedDict()
        for task in seen:
            total = totals[task]
            if task == 'semseg':
                metrics.update(self._semseg_metrics(total, log))
            elif task == 'normal':
                metrics.update(self._normal_metrics(total, log))
            else:
                metrics.update(self._scalar_metrics(task, total, log))
        bad = {t: totals[t].get('nonfinite', 0) for t in seen}
        bad = {t: n for t, n in bad.items() if n}
        if bad and log:
            print_log(
                'MultiTaskMetric: non-finite predictions at valid pixels '
                f'{bad}; scored as wrong (normal 180°, semseg a miss) or NaN '
                '(depth / edge RMSE and abs_rel)',
                logger='current',
                level=logging.WARNING)
        return dict(metrics)

    # ------------------------------------------------------------------ #
    # totals -> metrics
    # ------------------------------------------------------------------ #
    def _semseg_metrics(self, total: dict, log: bool) -> Dict[str, float]:
        conf = total['confusion'].double().numpy()
        missed = total['missed'].double().numpy()
        tp = np.diag(conf)
        gt_count = conf.sum(1) + missed
        pred_count = conf.sum(0)
        union = gt_count + pred_count - tp
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = np.where(union > 0, tp / union, np.nan)
            acc = np.where(gt_count > 0, tp / gt_count, np.nan)
            all_pixels = gt_count.sum()
            a_acc = tp.sum() / all_pixels if all_pixels > 0 else float('nan')
        miou_terms = np.nan_to_num(iou, nan=0.0) \
            if self.absent_class_zero else iou
        metrics = {
            'semseg/aAcc': float(a_acc * 100),
            'semseg/mIoU': _nanmean(miou_terms) * 100,
            'semseg/mAcc': _nanmean(acc) * 100,
            'semseg/nonfinite': int(total['nonfinite']),
        }
        if log and self.log_per_class:
            self._log_class_table(iou, acc)
        return metrics

    def _log_class_table(self, iou: np.ndarray, acc: np.ndarray) -> None:
        try:
            from prettytable import PrettyTable
        except ImportError:  # pragma: no cover - prettytable ships with mmseg
            return
        classes = (self.dataset_meta or {}).get('classes')
        if not classes or len(classes) != len(iou):
            classes = [str(i) for i in range(len(iou))]
        table = PrettyTable()
        table.add_column('Class', list(classes))
        table.add_column('IoU', [_fmt(v) for v in iou])
        table.add_column('Acc', [_fmt(v) for v in acc])
        print_log('per class results (semseg):', logger='current')
        print_log('\n' + table.get_string(), logger='current')

    def _scalar_metrics(self, task: str, total: dict,
                        log: bool) -> Dict[str, float]:
        count = total['count']
        nan = float('nan')
        if count == 0 and log:
            print_log(
                f'MultiTaskMetric: {task} has no valid pixel; its metrics '
                'are NaN',
                logger='current',
                level=logging.WARNING)
        ok = count > 0 and total['nonfinite'] == 0
        pooled = math.sqrt(_value(total['sse']) / count) if ok else nan
        aligned = math.sqrt(_value(total['aligned_sse']) /
                            count) if ok else nan
        metrics = {
            f'{task}/rmse': pooled if self.rmse_mode == 'pooled' else aligned,
            f'{task}/rmse_pooled': pooled,
            f'{task}/rmse_aligned': aligned,
        }
        if task == 'depth':
            metrics['depth/abs_rel'] = _value(
                total['abs_rel_sum']) / count if ok else nan
        metrics[f'{task}/nonfinite'] = int(total['nonfinite'])
        return metrics

    def _normal_metrics(self, total: dict, log: bool) -> Dict[str, float]:
        count = total['count']
        if count == 0:
            if log:
                print_log(
                    'MultiTaskMetric: normal has no valid pixel; its metrics '
                    'are NaN',
                    logger='current',
                    level=logging.WARNING)
            nan = float('nan')
            metrics = {
                'normal/mean_angle': nan,
                'normal/median_angle': nan,
                'normal/rmse_angle': nan
            }
            metrics.update({f'normal/{n}': nan for n, _ in NORMAL_THRESHOLDS})
            metrics['normal/nonfinite'] = int(total['nonfinite'])
            return metrics
        metrics = {
            'normal/mean_angle': _value(total['angle_sum']) / count,
            'normal/median_angle': self._hist_median(total['hist'], count),
            'normal/rmse_angle': math.sqrt(
                _value(total['angle_sq_sum']) / count),
        }
        for name, _ in NORMAL_THRESHOLDS:
            metrics[f'normal/{name}'] = total[f'under_{name}'] / count * 100
        metrics['normal/nonfinite'] = int(total['nonfinite'])
        return metrics

    def _hist_median(self, hist: torch.Tensor, count: int) -> float:
        """Median angle from the histogram (``numpy.median``'s definition).

        The order statistics of rank ``(n+1)//2`` and ``n//2 + 1`` (1-based;
        the same one for odd ``n``) are each taken as the centre of their
        bin, capped at 180°, and averaged: exact to half a bin width.
        """
        cum = hist.cumsum(0).double()
        ranks = torch.tensor([(count + 1) // 2, count // 2 + 1],
                             dtype=torch.float64)
        bins = torch.searchsorted(cum, ranks).clamp_(max=self._num_bins - 1)
        centres = ((bins.double() + 0.5) * self.normal_bin_width).clamp_(
            max=180.0)
        return float(centres.mean())


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float('nan')


def _fmt(value: float) -> str:
    return 'nan' if np.isnan(value) else f'{value * 100:.2f}'
