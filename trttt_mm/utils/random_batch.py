"""A random multi-task batch in the data pipeline's packed format, for
timing tools (no dataset needed)."""
from typing import Optional

import torch
from mmengine.structures import PixelData

from mmseg.structures import SegDataSample


def random_multitask_batch(n: int, h: int, w: int, num_classes: int,
                           generator: Optional[torch.Generator] = None,
                           sizes: Optional[list] = None) -> dict:
    """``dict(inputs=[uint8 (3, h, w)] * n, data_samples=[...])`` with
    random ground truth for every task: class ids in ``[0, num_classes)``,
    depth in [1, 2), unit normals and ~10 % edge pixels."""
    if min(n, h, w, num_classes) < 1:
        raise ValueError(f'random_multitask_batch: n, h, w and num_classes '
                         f'must be >= 1, got {(n, h, w, num_classes)}')
    g = generator if generator is not None else torch.Generator()
    inputs, samples = [], []
    # ``sizes``: one (h, w) per sample instead of n times (h, w)
    for h, w in (sizes if sizes is not None else [(h, w)] * n):
        inputs.append((torch.rand(3, h, w, generator=g) * 255).byte())
        ds = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
        ds.set_data(dict(
            gt_sem_seg=PixelData(data=torch.randint(
                0, num_classes, (1, h, w), generator=g)),
            gt_depth_map=PixelData(data=torch.rand(1, h, w, generator=g) + 1),
            gt_normal_map=PixelData(data=torch.nn.functional.normalize(
                torch.randn(3, h, w, generator=g), dim=0)),
            gt_edge_map=PixelData(
                data=(torch.rand(1, h, w, generator=g) > .9).float())))
        samples.append(ds)
    return dict(inputs=inputs, data_samples=samples)
