"""An in-memory multi-task dataset for runner-level tests (no files)."""
import torch
from mmengine.dataset import BaseDataset
from mmengine.structures import PixelData

from mmseg.registry import DATASETS
from mmseg.structures import SegDataSample


@DATASETS.register_module(force=True)
class ToyMultiTaskDataset(BaseDataset):
    """Random images with consistent multi-task ground truth."""

    METAINFO = dict(classes=('a', 'b', 'c'))

    def __init__(self, num=6, h=32, w=32, seed=0, shift=0.0, **kwargs):
        self.num, self.h, self.w, self.seed, self.shift = num, h, w, seed, shift
        super().__init__(serialize_data=False, **kwargs)

    def load_data_list(self):
        return [dict(idx=i) for i in range(self.num)]

    def prepare_data(self, idx):
        g = torch.Generator().manual_seed(self.seed * 1000 + idx)
        h, w = self.h, self.w
        seg = torch.randint(0, 3, (1, h, w), generator=g)
        img = (seg.float() * 60 + 30 + self.shift +
               torch.rand(3, h, w, generator=g) * 30).clamp(0, 255)
        ds = SegDataSample(metainfo=dict(img_path=f'toy_{idx}.png',
                                         img_shape=(h, w), ori_shape=(h, w)))
        normal = torch.zeros(3, h, w)
        normal[2] = 1.0
        ds.set_data(dict(
            gt_sem_seg=PixelData(data=seg),
            gt_depth_map=PixelData(data=1.0 + seg.float()),
            gt_normal_map=PixelData(data=normal),
            gt_edge_map=PixelData(data=torch.zeros(1, h, w))))
        return dict(inputs=img.to(torch.uint8), data_samples=ds)
