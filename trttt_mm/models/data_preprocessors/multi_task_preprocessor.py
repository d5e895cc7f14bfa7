"""Batching for multi-task samples: normalise, pad, and pad every ground truth
with that task's own invalid value so padding can never pass for data."""
import math
from numbers import Number
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import PixelData

from mmseg.registry import MODELS

from ...tasks import GT_FIELDS, IGNORE_VALUES, stack_gts  # noqa: F401


@MODELS.register_module()
class MultiTaskDataPreProcessor(BaseDataPreprocessor):
    """Normalise images and pad images and every task's ground truth.

    Args:
        mean / std: Per-channel normalisation (after optional BGR→RGB).
        bgr_to_rgb: Swap the channel order of the inputs.
        size_divisor: Pad height and width up to a multiple of this.
        size: Pad to this fixed (h, w) instead (must be ≥ every image).
        pad_val: Padding value of the image (after normalisation: 0).
    """

    def __init__(self,
                 mean: Optional[Sequence[Number]] = None,
                 std: Optional[Sequence[Number]] = None,
                 bgr_to_rgb: bool = True,
                 size_divisor: int = 32,
                 size: Optional[Sequence[int]] = None,
                 pad_val: float = 0.0,
                 non_blocking: bool = False):
        super().__init__(non_blocking)
        if (mean is None) != (std is None):
            raise ValueError('mean and std must be given together')
        self._enable_normalize = mean is not None
        if self._enable_normalize:
            self.register_buffer('mean', torch.tensor(mean).view(-1, 1, 1),
                                 False)
            self.register_buffer('std', torch.tensor(std).view(-1, 1, 1),
                                 False)
        self.bgr_to_rgb = bgr_to_rgb
        self.size_divisor = size_divisor
        self.size = tuple(size) if size is not None else None
        self.pad_val = pad_val

    def _target_size(self, shapes: List[tuple]) -> tuple:
        max_h = max(s[0] for s in shapes)
        max_w = max(s[1] for s in shapes)
        if self.size is not None:
            if max_h > self.size[0] or max_w > self.size[1]:
                raise ValueError(f'image of size {(max_h, max_w)} is larger '
                                 f'than the fixed pad size {self.size}')
            return self.size
        d = max(int(self.size_divisor or 1), 1)
        return (int(math.ceil(max_h / d) * d), int(math.ceil(max_w / d) * d))

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        data_samples = data.get('data_samples', None)
        if isinstance(inputs, torch.Tensor) and inputs.dim() == 4:
            inputs = list(inputs)
        processed = []
        for img in inputs:
            img = img.float()
            if self.bgr_to_rgb and img.shape[0] == 3:
                img = img[[2, 1, 0], ...]
            if self._enable_normalize:
                img = (img - self.mean) / self.std
            processed.append(img)
        shapes = [tuple(img.shape[1:]) for img in processed]
        th, tw = self._target_size(shapes)
        batch = []
        for img in processed:
            h, w = img.shape[1:]
            batch.append(F.pad(img, (0, tw - w, 0, th - h),
                               value=self.pad_val))
        inputs = torch.stack(batch)
        if data_samples is not None:
            for ds, (h, w) in zip(data_samples, shapes):
                ds.set_metainfo(dict(
                    img_shape=(h, w),
                    pad_shape=(th, tw),
                    batch_input_shape=(th, tw),
                    padding_size=[0, tw - w, 0, th - h]))
                for task, field in GT_FIELDS.items():
                    if field not in ds:
                        continue
                    gt = getattr(ds, field).data
                    gh, gw = gt.shape[-2:]
                    if not training:
                        # Test-time ground truth stays at the original size;
                        # the metric compares it with de-padded predictions.
                        continue
                    if (gh, gw) != (h, w):
                        raise ValueError(
                            f'{field} of {ds.metainfo.get("img_path")} has '
                            f'shape {(gh, gw)} but the image is {(h, w)}')
                    padded = F.pad(gt, (0, tw - w, 0, th - h),
                                   value=IGNORE_VALUES[task])
                    ds.set_data({field: PixelData(data=padded)})
        return dict(inputs=inputs, data_samples=data_samples)
