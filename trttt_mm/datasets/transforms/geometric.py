"""Task-aware geometric transforms: every ground-truth map moves with the
image.

Resizing uses bilinear interpolation for the image and nearest for every map
(semantic ids stay ids, invalid depth 0 never blends with valid depth, edges
stay binary); normals are re-normalised. A flip mirrors every map and negates
the normals' component along the flip axis. A crop cuts every map with the
same box.
"""
from typing import Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform, RandomFlip, Resize
from mmcv.transforms.utils import cache_randomness

from mmseg.registry import TRANSFORMS
from trttt_mm.tasks import GT_KEYS

#: Results keys of the per-task ground-truth maps.
GT_MAP_KEYS: Tuple[str, ...] = tuple(GT_KEYS.values())
NORMAL_KEY = GT_KEYS['normal']


def present_gt_keys(results: dict) -> Tuple[str, ...]:
    """The ground-truth map keys present (and not None) in ``results``."""
    return tuple(k for k in GT_MAP_KEYS if results.get(k) is not None)


def renormalize_normals(normals: np.ndarray) -> np.ndarray:
    """Scale non-zero vectors to unit length; keep zero (invalid) vectors."""
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    return np.where(norm > 1e-6, normals / np.maximum(norm, 1e-6),
                    np.float32(0)).astype(np.float32)


def check_aligned(results: dict, where: str) -> None:
    """Raise if a ground-truth map's (H, W) differs from the image's."""
    img_hw = results['img'].shape[:2]
    wrong = {
        k: results[k].shape[:2]
        for k in present_gt_keys(results) if results[k].shape[:2] != img_hw
    }
    if wrong:
        raise ValueError(
            f'{where}: ground-truth maps {wrong} do not match the image '
            f'size {img_hw} (was the image resized alone, img_only=True, '
            'before the annotations were loaded?)')


@TRANSFORMS.register_module()
class MultiTaskResize(Resize):
    """``mmcv.Resize`` that also resizes every task's ground-truth map.

    ``scale``, ``scale_factor`` and ``keep_ratio`` mean what they mean in
    :class:`mmcv.transforms.Resize` (``scale`` is ``(w, h)``; with
    ``keep_ratio`` the image is rescaled to fit it). The image uses
    ``interpolation`` (bilinear); the maps use nearest and are resized to the
    new image size exactly, so they stay aligned; normals are re-normalised.
    Works inside ``RandomResize(resize_type='MultiTaskResize', ...)``.

    Updated keys: ``img``, ``img_shape``, ``scale``, ``scale_factor``,
    ``keep_ratio`` and the present ``gt_*_map`` keys (unless ``img_only``).

    Args:
        img_only: resize only the image and leave ground-truth maps as they
            are (test pipelines that evaluate at the original size; load the
            annotations after this transform).
        Others: see :class:`mmcv.transforms.Resize`.
    """

    def __init__(self,
                 scale: Optional[Union[int, Tuple[int, int]]] = None,
                 scale_factor: Optional[Union[float, Tuple[float,
                                                           float]]] = None,
                 keep_ratio: bool = False,
                 clip_object_border: bool = True,
                 backend: str = 'cv2',
                 interpolation: str = 'bilinear',
                 img_only: bool = False) -> None:
        if isinstance(scale, list):
            scale = tuple(scale)
        if isinstance(scale_factor, list):
            scale_factor = tuple(scale_factor)
        super().__init__(
            scale=scale,
            scale_factor=scale_factor,
            keep_ratio=keep_ratio,
            clip_object_border=clip_object_border,
            backend=backend,
            interpolation=interpolation)
        self.img_only = img_only

    def _resize_seg(self, results: dict) -> None:
        """Resize every ground-truth map to the new image size (nearest)."""
        if self.img_only:
            return
        h, w = results['img'].shape[:2]
        for key in present_gt_keys(results):
            gt = results[key]
            if gt.shape[:2] == (h, w):
                continue
            resized = mmcv.imresize(
                gt, (w, h), interpolation='nearest', backend=self.backend)
            if key == NORMAL_KEY:
                resized = renormalize_normals(resized)
            results[key] = resized

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'scale_factor={self.scale_factor}, '
                f'keep_ratio={self.keep_ratio}, backend={self.backend}, '
                f'interpolation={self.interpolation}, '
                f'img_only={self.img_only})')


@TRANSFORMS.register_module()
class MultiTaskRandomFlip(RandomFlip):
    """``mmcv.RandomFlip`` that flips every task's ground-truth map.

    A horizontal flip negates the x component of the normals, a vertical
    flip the y component (a diagonal flip both). Records ``flip`` and
    ``flip_direction``.

    Args:
        prob: flip probability (float, or one per direction).
        direction: ``'horizontal'`` (default), ``'vertical'``,
            ``'diagonal'`` or a list of them.
    """

    _NEGATE = {'horizontal': (0, ), 'vertical': (1, ), 'diagonal': (0, 1)}

    def __init__(self,
                 prob: Optional[Union[float, Sequence[float]]] = None,
                 direction: Union[str, Sequence[str]] = 'horizontal') -> None:
        if isinstance(prob, int) and not isinstance(prob, bool):
            prob = float(prob)
        if isinstance(prob, tuple):
            prob = list(prob)
        if isinstance(direction, tuple):
            direction = list(direction)
        super().__init__(prob=prob, direction=direction)

    def _flip(self, results: dict) -> None:
        direction = results['flip_direction']
        results['img'] = np.ascontiguousarray(
            mmcv.imflip(results['img'], direction=direction))
        for key in present_gt_keys(results):
            flipped = np.ascontiguousarray(
                mmcv.imflip(results[key], direction=direction))
            if key == NORMAL_KEY:
                flipped = flipped.copy()
                for axis in self._NEGATE[direction]:
                    flipped[..., axis] *= -1
                flipped[flipped == 0] = 0  # no negative zeros
            results[key] = flipped

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'direction={self.direction})')


@TRANSFORMS.register_module()
class MultiTaskRandomCrop(BaseTransform):
    """Random crop of the image and every ground-truth map with one box.

    Like mmseg's ``RandomCrop``: an image smaller than ``crop_size`` is
    cropped to its own size along that side. With ``cat_max_ratio < 1`` and
    a semantic map present, up to 10 boxes are drawn until no single class
    covers more than ``cat_max_ratio`` of the labelled pixels.

    Updated keys: ``img``, ``img_shape``, present ``gt_*_map`` keys.
    Added key: ``crop_bbox`` ``(y1, y2, x1, x2)``.

    Args:
        crop_size: ``(h, w)`` or an int for a square.
        cat_max_ratio: largest share one class may cover in the crop.
        ignore_index: semantic value not counted by ``cat_max_ratio``.
    """

    def __init__(self,
                 crop_size: Union[int, Tuple[int, int]],
                 cat_max_ratio: float = 1.0,
                 ignore_index: int = 255) -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        crop_size = tuple(crop_size)
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError('crop_size must be a positive int or (h, w), '
                             f'got {crop_size}')
        self.crop_size = crop_size
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    @cache_randomness
    def crop_bbox(self, img_hw: Tuple[int, int]) -> Tuple[int, int, int, int]:
        """Draw a crop box ``(y1, y2, x1, x2)`` inside an image of ``img_hw``.
        """
        margin_h = max(img_hw[0] - self.crop_size[0], 0)
        margin_w = max(img_hw[1] - self.crop_size[1], 0)
        y1 = np.random.randint(0, margin_h + 1)
        x1 = np.random.randint(0, margin_w + 1)
        return (y1, y1 + min(self.crop_size[0], img_hw[0]), x1,
                x1 + min(self.crop_size[1], img_hw[1]))

    @staticmethod
    def crop(arr: np.ndarray, bbox: Tuple[int, int, int, int]) -> np.ndarray:
        y1, y2, x1, x2 = bbox
        return np.ascontiguousarray(arr[y1:y2, x1:x2, ...])

    def transform(self, results: dict) -> dict:
        check_aligned(results, type(self).__name__)
        img_hw = results['img'].shape[:2]
        bbox = self.crop_bbox(img_hw)
        seg = results.get(GT_KEYS['semseg'])
        if self.cat_max_ratio < 1.0 and seg is not None:
            for _ in range(10):
                labels, counts = np.unique(
                    self.crop(seg, bbox), return_counts=True)
                counts = counts[labels != self.ignore_index]
                if len(counts) > 1 and (counts.max() / counts.sum() <
                                        self.cat_max_ratio):
                    break
                bbox = self.crop_bbox(img_hw)
        results['img'] = self.crop(results['img'], bbox)
        for key in present_gt_keys(results):
            results[key] = self.crop(results[key], bbox)
        results['img_shape'] = results['img'].shape[:2]
        results['crop_bbox'] = bbox
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'cat_max_ratio={self.cat_max_ratio}, '
                f'ignore_index={self.ignore_index})')
