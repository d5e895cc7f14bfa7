"""Packing of a multi-task sample into ``inputs`` + ``SegDataSample``."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform, to_tensor
from mmengine.structures import PixelData

from mmseg.registry import TRANSFORMS
from mmseg.structures import SegDataSample
from trttt_mm.tasks import GT_FIELDS, GT_KEYS, PATH_KEYS, TASKS

DEFAULT_META_KEYS = ('img_path', 'img_id', 'sample_idx') + tuple(
    PATH_KEYS[t] for t in TASKS) + ('ori_shape', 'img_shape', 'pad_shape',
                                    'scale_factor', 'flip', 'flip_direction',
                                    'tasks', 'reduce_zero_label')


@TRANSFORMS.register_module()
class PackMultiTaskInputs(BaseTransform):
    """Pack the image and every present ground-truth map.

    Output: ``inputs`` ``(3, H, W)`` tensor of the image's dtype (uint8 from
    the loaders) and ``data_samples``, a ``SegDataSample`` with ``PixelData``
    fields (only for the maps present):

    - ``gt_sem_seg`` ``(1, H, W) long`` (255 = ignore),
    - ``gt_depth_map`` ``(1, H, W) float32`` metres (0 = invalid),
    - ``gt_normal_map`` ``(3, H, W) float32`` (all-zero = invalid),
    - ``gt_edge_map`` ``(1, H, W) float32`` in {0, 1} (255 = ignore),

    and the metainfo keys of ``meta_keys`` found in the results
    (``reduce_zero_label`` defaults to ``False``).

    Args:
        meta_keys: results keys copied into the sample's metainfo.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        packed = dict()
        if 'img' in results:
            img = results['img']
            if img.ndim < 3:
                img = img[..., None]
            packed['inputs'] = to_tensor(
                np.ascontiguousarray(img.transpose(2, 0, 1)))

        sample = SegDataSample()
        seg = results.get(GT_KEYS['semseg'])
        if seg is not None:
            sample.set_data({
                GT_FIELDS['semseg']:
                PixelData(data=to_tensor(seg[None].astype(np.int64)))
            })
        for task in ('depth', 'edge'):
            arr = results.get(GT_KEYS[task])
            if arr is not None:
                sample.set_data({
                    GT_FIELDS[task]:
                    PixelData(data=to_tensor(
                        np.ascontiguousarray(arr[None], dtype=np.float32)))
                })
        normal = results.get(GT_KEYS['normal'])
        if normal is not None:
            sample.set_data({
                GT_FIELDS['normal']:
                PixelData(data=to_tensor(
                    np.ascontiguousarray(
                        normal.transpose(2, 0, 1), dtype=np.float32)))
            })

        meta = {k: results[k] for k in self.meta_keys if k in results}
        if 'reduce_zero_label' in self.meta_keys:
            meta.setdefault('reduce_zero_label', False)
        sample.set_metainfo(meta)
        packed['data_samples'] = sample
        return packed

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
