"""Writers for the on-disk layouts of the community dataset packages.

Each writer stores rendered views byte-for-byte in the encoding of the real
package (see ``shared/DESIGN.md`` section 8), so the dataset classes read the
synthetic benchmark with exactly the code paths they use for the real data.

* :class:`TaskonomyWriter` -- omnidata Taskonomy layout::

      taskonomy/<domain>/taskonomy/<building>/
          point_<P>_view_0_domain_<domain>.png
      taskonomy/splits/{train,val}.txt          (building names, one a line)

  ``rgb`` 8-bit RGB; ``depth_zbuffer`` 16-bit, metres * 512, 65535 = invalid;
  ``normal`` 8-bit RGB, ``n = 2 v / 255 - 1``; ``edge_occlusion`` 16-bit,
  0 = no edge and 65535 (``TASKONOMY_EDGE_VALUE``) = occlusion edge;
  ``segment_semantic`` 8-bit, 0 = uncertain (unused), 1 = background, class
  ids chair 3, couch 4, bed 6, dining table 7, toilet 8, sink 13,
  refrigerator 14.
* :class:`NYUDv2Writer` -- ATRC NYUD-v2 layout::

      NYUDv2/images/<id>.png  depth/<id>.npy  normals/<id>.png
      NYUDv2/segmentation/<id>.png  edge/<id>.png  gt_sets/{train,val}.txt

  ids are zero-padded to 4 digits (train first, then val); depth float32
  metres with 0 = invalid; segmentation one-based NYU-40 (0 = unlabelled);
  edges 0 / 255.
* :class:`PascalWriter` -- PASCAL_MT layout::

      PASCAL_MT/JPEGImages/<id>.jpg  ImageSets/Context/{train,val}.txt
      PASCAL_MT/semseg/VOC12/<id>.png  normals_distill/<id>.png
      PASCAL_MT/pascal-context/trainval/<id>.mat   (key ``LabelMap``)

  ids ``2008_000001``...; VOC ids chair 9, dining table 11, sofa 18, else 0;
  ``LabelMap`` uint16 PASCAL-Context (459-class) ids, 0 = unlabelled
  (used for the refrigerator, whose id is not in our fact list).
"""
import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np

from .raycast import GeometryMaps
from .sampling import CLASSES

# --------------------------------------------------------------------------
# label tables (generator class name -> dataset id)
# --------------------------------------------------------------------------
TASKONOMY_SEG_IDS: Dict[str, int] = {
    'wall': 1, 'floor': 1, 'ceiling': 1, 'window': 1, 'cabinet': 1,
    'picture': 1, 'chair': 3, 'sofa': 4, 'bed': 6, 'table': 7, 'toilet': 8,
    'sink': 13, 'refrigerator': 14
}
#: One-based NYU-40 ids (0 = unlabelled).
NYU40_IDS: Dict[str, int] = {
    'wall': 1, 'floor': 2, 'cabinet': 3, 'bed': 4, 'chair': 5, 'sofa': 6,
    'table': 7, 'window': 9, 'picture': 11, 'ceiling': 22,
    'refrigerator': 24, 'toilet': 33, 'sink': 34
}
#: PASCAL VOC ids (0 = background); only chair, table and sofa exist here.
VOC_IDS: Dict[str, int] = {'chair': 9, 'table': 11, 'sofa': 18}
#: PASCAL-Context LabelMap ids (from the shared fact list; 0 = unlabelled).
PASCAL_CONTEXT_IDS: Dict[str, int] = {
    'wall': 440, 'floor': 158, 'ceiling': 68, 'window': 454, 'bed': 18,
    'chair': 72, 'sofa': 368, 'table': 397, 'toilet': 408, 'sink': 357,
    'cabinet': 46, 'picture': 287, 'refrigerator': 0
}

TASKONOMY_DEPTH_SCALE = 512.0
TASKONOMY_DEPTH_INVALID = 65535
TASKONOMY_EDGE_VALUE = 65535
TASKONOMY_DOMAINS = ('rgb', 'depth_zbuffer', 'normal', 'edge_occlusion',
                     'segment_semantic')


def label_lut(ids: Dict[str, int], dtype=np.uint8) -> np.ndarray:
    """Lookup table from generator class index to dataset id."""
    return np.array([ids.get(c, 0) for c in CLASSES], dtype=dtype)


def encode_normals(normal: np.ndarray) -> np.ndarray:
    """Unit normals ``(H, W, 3)`` -> uint8 RGB: ``round((n + 1) / 2 * 255)``.
    """
    return np.round((np.clip(normal, -1, 1) + 1) / 2 * 255).astype(np.uint8)


def decode_normals(png_rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> normals ``2 v / 255 - 1`` (not re-normalised)."""
    return png_rgb.astype(np.float32) * (2 / 255.0) - 1


def encode_taskonomy_depth(depth: np.ndarray,
                           valid: np.ndarray) -> np.ndarray:
    """Metres -> uint16 ``round(d * 512)`` (max 65534), 65535 = invalid."""
    v = np.clip(np.round(depth * TASKONOMY_DEPTH_SCALE), 0,
                TASKONOMY_DEPTH_INVALID - 1).astype(np.uint16)
    v[~valid] = TASKONOMY_DEPTH_INVALID
    return v


def _imwrite(path: str, img: np.ndarray, params: Sequence[int] = ()):
    """Write with OpenCV; 3-channel inputs are RGB and stored as such."""
    import cv2
    if img.ndim == 3 and img.shape[2] == 3:
        img = np.ascontiguousarray(img[..., ::-1])  # RGB -> BGR for cv2
    if not cv2.imwrite(path, img, list(params)):
        raise OSError(f'cv2.imwrite failed for {path}')


#: Fixed text of the 116-byte ``.mat`` header (scipy would write the time).
MAT_DESCRIPTION = (b'MATLAB 5.0 MAT-file Platform: posix, written by '
                   b'trttt_mm.datasets.synthetic')
_MAT_HEADER_TEXT = 116


def _savemat(path: str, mdict: dict):
    """``scipy.io.savemat`` (compressed) with a fixed header text, so that
    the file's bytes depend only on ``mdict`` (scipy stamps the creation
    time into the header)."""
    import io

    from scipy.io import savemat
    buf = io.BytesIO()
    savemat(buf, mdict, do_compression=True)
    data = buf.getvalue()
    with open(path, 'wb') as f:
        f.write(MAT_DESCRIPTION.ljust(_MAT_HEADER_TEXT, b'\x00'))
        f.write(data[_MAT_HEADER_TEXT:])


def building_name(i: int) -> str:
    """0 -> synthA, 25 -> synthZ, 26 -> synthAA, ..."""
    s = ''
    i += 1
    while i > 0:
        i, r = divmod(i - 1, 26)
        s = chr(ord('A') + r) + s
    return 'synth' + s


# --------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------
class LayoutWriter:
    """Base class: ``write(split, index, rgb, geom)`` then ``finalize()``.

    Attributes:
        name: layout name (``taskonomy``, ``nyudv2``, ``pascal``).
        dirname: top-level folder inside the output directory.
        domain: appearance domain rendered into this layout.
    """
    name = ''
    dirname = ''
    domain = ''

    def __init__(self, out_dir: str, counts: Dict[str, int]):
        self.root = osp.join(out_dir, self.dirname)
        self.counts = dict(counts)

    def sample_id(self, split: str, index: int) -> str:
        raise NotImplementedError

    def group(self, split: str, index: int) -> str:
        """Images that share room colours (a Taskonomy building)."""
        return f'{split}/{index}'

    def prepare(self):
        raise NotImplementedError

    def write(self, split: str, index: int, rgb: np.ndarray,
              geom: GeometryMaps):
        raise NotImplementedError

    def finalize(self) -> Dict:
        raise NotImplementedError

    def is_complete(self) -> bool:
        raise NotImplementedError

    def files(self) -> List[str]:
        """Every file this writer writes, as ``/``-separated paths relative
        to :attr:`root` (the generator's manifest of the layout folder)."""
        raise NotImplementedError

    def _ids(self, split: str) -> List[str]:
        return [self.sample_id(split, i) for i in range(self.counts[split])]


class TaskonomyWriter(LayoutWriter):
    """Omnidata Taskonomy layout, buildings of ``images_per_building``."""
    name = 'taskonomy'
    dirname = 'taskonomy'
    domain = 'source'

    def __init__(self, out_dir, counts, images_per_building: int = 40):
        super().__init__(out_dir, counts)
        self.per_building = int(images_per_building)
        self.buildings: Dict[str, List[str]] = {}
        offset = 0
        for split in ('train', 'val'):
            n = -(-self.counts[split] // self.per_building)
            self.buildings[split] = [
                building_name(offset + b) for b in range(n)
            ]
            offset += n

    def group(self, split, index):
        return self.buildings[split][index // self.per_building]

    def sample_id(self, split, index):
        return (f'{self.group(split, index)}/'
                f'point_{index % self.per_building}_view_0')

    def path(self, domain: str, split: str, index: int) -> str:
        b, stem = self.sample_id(split, index).split('/')
        return osp.join(self.root, domain, 'taskonomy', b,
                        f'{stem}_domain_{domain}.png')

    def prepare(self):
        for split in ('train', 'val'):
            for b in self.buildings[split]:
                for d in TASKONOMY_DOMAINS:
                    os.makedirs(
                        osp.join(self.root, d, 'taskonomy', b), exist_ok=True)
        os.makedirs(osp.join(self.root, 'splits'), exist_ok=True)
        self._seg_lut = label_lut(TASKONOMY_SEG_IDS)

    def write(self, split, index, rgb, geom):
        _imwrite(self.path('rgb', split, index), rgb)
        _imwrite(
            self.path('depth_zbuffer', split, index),
            encode_taskonomy_depth(geom.depth, geom.depth_valid))
        _imwrite(
            self.path('normal', split, index), encode_normals(geom.normal))
        _imwrite(
            self.path('edge_occlusion', split, index),
            geom.edge.astype(np.uint16) * np.uint16(TASKONOMY_EDGE_VALUE))
        _imwrite(
            self.path('segment_semantic', split, index),
            self._seg_lut[geom.cls])

    def finalize(self):
        for split in ('train', 'val'):
            with open(osp.join(self.root, 'splits', f'{split}.txt'), 'w') as f:
                f.write(''.join(b + '\n' for b in self.buildings[split]))
        return dict(
            root=self.root, domain=self.domain, counts=self.counts,
            buildings=self.buildings, images_per_building=self.per_building)

    def files(self):
        out = []
        for split in ('train', 'val'):
            for i in range(self.counts[split]):
                b, stem = self.sample_id(split, i).split('/')
                out.extend(f'{d}/taskonomy/{b}/{stem}_domain_{d}.png'
                           for d in TASKONOMY_DOMAINS)
            out.append(f'splits/{split}.txt')
        return out

    def is_complete(self):
        for split in ('train', 'val'):
            if not osp.isfile(osp.join(self.root, 'splits', f'{split}.txt')):
                return False
            if self.counts[split] and not all(
                    osp.isfile(self.path(d, split, self.counts[split] - 1))
                    for d in TASKONOMY_DOMAINS):
                return False
        n = sum(
            len(os.listdir(osp.join(self.root, 'rgb', 'taskonomy', b)))
            for s in ('train', 'val') for b in self.buildings[s])
        return n == sum(self.counts.values())


class NYUDv2Writer(LayoutWriter):
    """ATRC NYUD-v2 layout; ids 0000.. (train first, then val)."""
    name = 'nyudv2'
    dirname = 'NYUDv2'
    domain = 'target'
    folders = ('images', 'depth', 'normals', 'segmentation', 'edge',
               'gt_sets')

    def __init__(self, out_dir: str, counts: Dict[str, int],
                 family=None):
        """``family``: a :class:`~.families.ShiftFamily` whose target this
        writer holds (its folder, domain and writer name); None: the
        original target (``NYUDv2/``, domain ``target``)."""
        if family is not None:
            self.name = family.layout
            self.dirname = family.dirname
            self.domain = family.domain
        super().__init__(out_dir, counts)

    def sample_id(self, split, index):
        offset = 0 if split == 'train' else self.counts['train']
        return f'{offset + index:04d}'

    def prepare(self):
        for d in self.folders:
            os.makedirs(osp.join(self.root, d), exist_ok=True)
        self._lut = label_lut(NYU40_IDS)

    def write(self, split, index, rgb, geom):
        i = self.sample_id(split, index)
        _imwrite(osp.join(self.root, 'images', f'{i}.png'), rgb)
        depth = np.where(geom.depth_valid, geom.depth, 0).astype(np.float32)
        np.save(osp.join(self.root, 'depth', f'{i}.npy'), depth)
        _imwrite(
            osp.join(self.root, 'normals', f'{i}.png'),
            encode_normals(geom.normal))
        _imwrite(
            osp.join(self.root, 'segmentation', f'{i}.png'),
            self._lut[geom.cls])
        _imwrite(
            osp.join(self.root, 'edge', f'{i}.png'),
            geom.edge.astype(np.uint8) * np.uint8(255))

    def finalize(self):
        for split in ('train', 'val'):
            with open(osp.join(self.root, 'gt_sets', f'{split}.txt'),
                      'w') as f:
                f.write(''.join(i + '\n' for i in self._ids(split)))
        return dict(root=self.root, domain=self.domain, counts=self.counts)

    def files(self):
        out = []
        for split in ('train', 'val'):
            for i in self._ids(split):
                out.extend([
                    f'images/{i}.png', f'depth/{i}.npy', f'normals/{i}.png',
                    f'segmentation/{i}.png', f'edge/{i}.png'
                ])
            out.append(f'gt_sets/{split}.txt')
        return out

    def is_complete(self):
        if not all(
                osp.isfile(osp.join(self.root, 'gt_sets', f'{s}.txt'))
                for s in ('train', 'val')):
            return False
        n = sum(self.counts.values())
        return all(
            len(os.listdir(osp.join(self.root, d))) == n
            for d in self.folders[:-1])


class PascalWriter(LayoutWriter):
    """PASCAL_MT layout (PASCAL-Context multi-task package)."""
    name = 'pascal'
    dirname = 'PASCAL_MT'
    domain = 'pascal'
    folders = ('JPEGImages', 'ImageSets/Context', 'semseg/VOC12',
               'normals_distill', 'pascal-context/trainval')
    jpeg_quality = 90

    def sample_id(self, split, index):
        offset = 0 if split == 'train' else self.counts['train']
        return f'2008_{offset + index + 1:06d}'

    def prepare(self):
        for d in self.folders:
            os.makedirs(osp.join(self.root, d), exist_ok=True)
        self._voc = label_lut(VOC_IDS)
        self._ctx = label_lut(PASCAL_CONTEXT_IDS, dtype=np.uint16)

    def write(self, split, index, rgb, geom):
        import cv2
        i = self.sample_id(split, index)
        _imwrite(
            osp.join(self.root, 'JPEGImages', f'{i}.jpg'), rgb,
            (cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality))
        _imwrite(
            osp.join(self.root, 'semseg', 'VOC12', f'{i}.png'),
            self._voc[geom.cls])
        _imwrite(
            osp.join(self.root, 'normals_distill', f'{i}.png'),
            encode_normals(geom.normal))
        _savemat(
            osp.join(self.root, 'pascal-context', 'trainval', f'{i}.mat'),
            {'LabelMap': self._ctx[geom.cls]})

    def finalize(self):
        for split in ('train', 'val'):
            with open(
                    osp.join(self.root, 'ImageSets', 'Context',
                             f'{split}.txt'), 'w') as f:
                f.write(''.join(i + '\n' for i in self._ids(split)))
        return dict(root=self.root, domain=self.domain, counts=self.counts)

    def files(self):
        out = []
        for split in ('train', 'val'):
            for i in self._ids(split):
                out.extend([
                    f'JPEGImages/{i}.jpg', f'semseg/VOC12/{i}.png',
                    f'normals_distill/{i}.png',
                    f'pascal-context/trainval/{i}.mat'
                ])
            out.append(f'ImageSets/Context/{split}.txt')
        return out

    def is_complete(self):
        if not all(
                osp.isfile(
                    osp.join(self.root, 'ImageSets', 'Context', f'{s}.txt'))
                for s in ('train', 'val')):
            return False
        n = sum(self.counts.values())
        return all(
            len(os.listdir(osp.join(self.root, d))) == n
            for d in ('JPEGImages', 'semseg/VOC12', 'normals_distill',
                      'pascal-context/trainval'))


WRITERS = {w.name: w for w in (TaskonomyWriter, NYUDv2Writer, PascalWriter)}
