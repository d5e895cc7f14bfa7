"""Per-batch cost of the running metrics over a long stream.

    python tools/analysis/benchmark_monitor.py [--batches 1000] [--batch-size 8]
        [--height 64] [--width 80] [--classes 7] [--quadratic-until 200]
        [--out FILE.json]

Feeds synthetic predictions of every task (random but valid maps) to the
running metrics of :class:`TTTMonitorHook` (``MultiTaskMetric.reduce`` /
``merge`` / ``compute_from_totals``) and times the work per batch (process,
merge, read the metrics). For comparison it also times the previous approach
(re-computing the metrics over every result so far at each batch) for the
first ``--quadratic-until`` batches. Prints one JSON object: the mean time per
batch in windows of 100 batches for both.
"""
import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import torch  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402


def make_batch(g, n, h, w, c):
    from mmseg.structures import SegDataSample
    out = []
    for _ in range(n):
        ds = SegDataSample()
        logits = torch.randn(c, h, w, generator=g)
        normal = torch.nn.functional.normalize(torch.randn(3, h, w,
                                                           generator=g), dim=0)
        gt_n = torch.nn.functional.normalize(torch.randn(3, h, w,
                                                         generator=g), dim=0)
        ds.set_data(dict(
            seg_logits=PixelData(data=logits),
            pred_sem_seg=PixelData(data=logits.argmax(0, keepdim=True)),
            gt_sem_seg=PixelData(data=torch.randint(0, c, (1, h, w),
                                                    generator=g)),
            pred_depth_map=PixelData(data=torch.rand(1, h, w, generator=g)),
            gt_depth_map=PixelData(data=torch.rand(1, h, w, generator=g)),
            pred_normal_map=PixelData(data=normal),
            gt_normal_map=PixelData(data=gt_n),
            pred_edge_map=PixelData(data=torch.rand(1, h, w, generator=g)),
            gt_edge_map=PixelData(data=(torch.rand(1, h, w, generator=g)
                                        > .9).float())))
        out.append(ds)
    return out


def windows(times, size=100):
    return [round(sum(times[i:i + size]) / len(times[i:i + size]) * 1e3, 3)
            for i in range(0, len(times), size)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--batches', type=int, default=1000)
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--height', type=int, default=64)
    p.add_argument('--width', type=int, default=80)
    p.add_argument('--classes', type=int, default=7)
    p.add_argument('--quadratic-until', type=int, default=200)
    p.add_argument('--out', default=None)
    args = p.parse_args(argv)
    import trttt_mm  # noqa: F401
    from trttt_mm.engine.hooks.monitor_hook import _Running
    from trttt_mm.evaluation import MultiTaskMetric

    g = torch.Generator().manual_seed(0)
    batches = [make_batch(g, args.batch_size, args.height, args.width,
                          args.classes) for _ in range(20)]
    metric = MultiTaskMetric(num_classes=args.classes, log_per_class=False)
    running = _Running(metric)
    incremental = []
    for i in range(args.batches):
        b = batches[i % len(batches)]
        t = time.perf_counter()
        running.add(None, b)
        running.compute()
        incremental.append(time.perf_counter() - t)
    old = MultiTaskMetric(num_classes=args.classes, log_per_class=False)
    quadratic = []
    for i in range(args.quadratic_until):
        b = batches[i % len(batches)]
        t = time.perf_counter()
        old.process(None, b)
        old.compute_metrics(list(old.results))
        quadratic.append(time.perf_counter() - t)
    result = dict(
        batches=args.batches, batch=[args.batch_size, args.height,
                                     args.width], classes=args.classes,
        threads=torch.get_num_threads(),
        incremental_ms_per_batch_by_100=windows(incremental),
        recompute_all_ms_per_batch_by_100=windows(quadratic),
        incremental_first_last_ratio=round(
            windows(incremental)[-1] / windows(incremental)[0], 3))
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == '__main__':
    main()
