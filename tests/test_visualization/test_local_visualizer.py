"""MultiTaskLocalVisualizer: every task alone and all four, padded and
odd-sized images, invalid pixels, shared depth range, backends."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import VISUALIZERS
from mmseg.structures import SegDataSample

import trttt_mm  # noqa: F401
from trttt_mm.visualization import (INVALID_COLOR, MultiTaskLocalVisualizer,
                                    PanelLayout)
from trttt_mm.visualization.task_maps import (colormap_lut, hatch_mask)

CLASSES = ('wall', 'floor', 'chair')
PALETTE = [[200, 10, 10], [10, 200, 10], [10, 10, 200]]
MAGENTA = np.array(INVALID_COLOR, np.uint8)


def vis(**kw):
    kw.setdefault('scale', 1)
    v = MultiTaskLocalVisualizer(**kw)
    v.dataset_meta = dict(classes=CLASSES, palette=PALETTE)
    return v


def image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3),
                                                dtype=np.uint8)


def sample(metainfo=None, **fields):
    ds = SegDataSample(metainfo=metainfo or {})
    ds.set_data({k: PixelData(data=torch.as_tensor(v))
                 for k, v in fields.items()})
    return ds


def cell(panel, layout, row, col):
    return panel[layout.cell(row, col)]


def assert_hatched(cell_img, invalid):
    """Invalid pixels carry the hatch: magenta on the stripes, else black."""
    stripes = hatch_mask(invalid.shape)
    assert (cell_img[invalid & stripes] == MAGENTA).all()
    assert (cell_img[invalid & ~stripes] == 0).all()


def test_registered_in_mmseg_visualizers():
    assert VISUALIZERS.get('MultiTaskLocalVisualizer') is \
        MultiTaskLocalVisualizer


def test_semseg_alone_blends_the_palette_and_hatches_ignore():
    h, w = 5, 7
    img = image(h, w)
    gt = np.array([[0, 1, 2, 255, 0, 1, 2]] * h)
    pred = np.array([[2, 1, 0, 0, 0, 1, 2]] * h)
    v = vis(alpha=0.5)
    panel, layout = v.draw_panel(img, sample(gt_sem_seg=gt[None],
                                             pred_sem_seg=pred[None]))
    assert layout.columns == ('input', 'semseg')
    assert layout.rows == ('gt', 'pred')
    assert (cell(panel, layout, 'gt', 'input') == img).all()
    pal = np.array(PALETTE, float)
    want = np.rint(img * 0.5 + pal[pred] * 0.5).astype(np.uint8)
    assert (cell(panel, layout, 'pred', 'semseg') == want).all()
    g = cell(panel, layout, 'gt', 'semseg')
    valid = gt != 255
    want_gt = np.rint(img * 0.5 + pal[np.where(valid, gt, 0)] * 0.5)
    assert (g[valid] == want_gt[valid]).all()
    assert_hatched(g, ~valid)


def test_semseg_needs_class_names_and_a_matching_palette():
    v = MultiTaskLocalVisualizer(scale=1)
    ds = sample(pred_sem_seg=np.zeros((1, 4, 4), np.int64))
    with pytest.raises(ValueError, match='class names'):
        v.draw_panel(image(4, 4), ds)
    v.dataset_meta = dict(classes=CLASSES, palette=PALETTE[:2])
    with pytest.raises(ValueError, match='one RGB colour per class'):
        v.draw_panel(image(4, 4), ds)
    # classes without a palette: one is made
    v.dataset_meta = dict(classes=CLASSES)
    panel, _ = v.draw_panel(image(4, 4), ds)
    assert panel.dtype == np.uint8


def test_depth_alone_shares_the_range_of_gt_and_prediction():
    h, w = 4, 6
    gt = np.linspace(1.0, 3.0, h * w).reshape(1, h, w).astype(np.float32)
    gt[0, 0, :2] = 0.0  # invalid
    pred = gt.copy()
    pred[0, 0, :2] = 5.0  # the prediction reaches 5 m where GT has none
    pred[0, -1, -1] = 0.5
    v = vis()
    panel, layout = v.draw_panel(image(h, w), sample(gt_depth_map=gt,
                                                     pred_depth_map=pred))
    lut = colormap_lut('viridis')
    g, p = (cell(panel, layout, r, 'depth') for r in ('gt', 'pred'))
    lo, hi = 0.5, 5.0  # valid GT and prediction together
    t = np.clip((pred[0] - lo) / (hi - lo), 0, 1)
    assert (p == lut[np.rint(t * 255).astype(int)]).all()
    assert (p[0, 0] == lut[255]).all() and (p[-1, -1] == lut[0]).all()
    # one colour scale: equal depths have equal colours in both rows
    same = (gt[0] == pred[0]) & (gt[0] > 0)
    assert same.sum() > 10 and (g[same] == p[same]).all()
    assert_hatched(g, gt[0] == 0)
    # a fixed range overrides the automatic one
    v = vis(depth_range=(0.0, 10.0))
    panel, layout = v.draw_panel(image(h, w), sample(pred_depth_map=pred))
    assert (cell(panel, layout, 'pred', 'depth')[0, 0] ==
            lut[int(np.rint(0.5 * 255))]).all()


def test_normal_alone_is_rgb_of_half_n_plus_one():
    n = np.zeros((3, 3, 4), np.float32)
    n[2, 0, :] = 1.0                     # (0, 0, 1)
    n[0, 1, :] = 1.0                     # (1, 0, 0)
    n[1, 2, :2] = -1.0                   # (0, -1, 0); [2, 2:] all-zero
    v = vis()
    panel, layout = v.draw_panel(image(3, 4), sample(gt_normal_map=n,
                                                     pred_normal_map=n))
    g, p = (cell(panel, layout, r, 'normal') for r in ('gt', 'pred'))
    assert (g[0] == [128, 128, 255]).all()
    assert (g[1] == [255, 128, 128]).all()
    assert (g[2, :2] == [128, 0, 128]).all()
    invalid = np.zeros((3, 4), bool)
    invalid[2, 2:] = True
    assert_hatched(g, invalid)
    # a zero predicted vector is a prediction, not invalid
    assert (p[2, 2:] == [128, 128, 128]).all()


def test_edge_alone_is_grey_with_255_invalid():
    e = np.array([[0.0, 1.0, 255.0, 0.5]], np.float32)[None]
    v = vis()
    panel, layout = v.draw_panel(image(1, 4), sample(gt_edge_map=e,
                                                     pred_edge_map=np.clip(
                                                         e, 0, 1)))
    g = cell(panel, layout, 'gt', 'edge')
    assert (g[0, 0] == 0).all() and (g[0, 1] == 255).all()
    assert (g[0, 3] == 128).all()
    assert_hatched(g, np.array([[False, False, True, False]]))
    p = cell(panel, layout, 'pred', 'edge')
    assert (p[0, 2] == 255).all()


def four_task_sample(h, w, seed=0, base=False, metainfo=None, pad=(0, 0)):
    """GT (padded by ``pad`` with each task's invalid value) and
    predictions at the image size."""
    rng = np.random.default_rng(seed)
    ph, pw = h + pad[0], w + pad[1]
    seg = np.full((1, ph, pw), 255, np.int64)
    seg[:, :h, :w] = rng.integers(0, 3, (1, h, w))
    depth = np.zeros((1, ph, pw), np.float32)
    depth[:, :h, :w] = rng.uniform(1, 4, (1, h, w))
    normal = np.zeros((3, ph, pw), np.float32)
    normal[2, :h, :w] = 1.0
    edge = np.full((1, ph, pw), 255.0, np.float32)
    edge[:, :h, :w] = rng.integers(0, 2, (1, h, w))
    fields = dict(gt_sem_seg=seg, gt_depth_map=depth, gt_normal_map=normal,
                  gt_edge_map=edge,
                  pred_sem_seg=rng.integers(0, 3, (1, h, w)),
                  pred_depth_map=rng.uniform(1, 4, (1, h, w)).astype(
                      np.float32),
                  pred_normal_map=normal[:, :h, :w] * 0.0 + np.array(
                      [0.6, 0.0, 0.8], np.float32)[:, None, None],
                  pred_edge_map=rng.uniform(0, 1, (1, h, w)).astype(
                      np.float32))
    if base:
        for k in [k for k in fields if k.startswith('pred_')]:
            fields['base_' + k] = fields[k].copy()
    return sample(metainfo, **fields)


@pytest.mark.parametrize('hw', [(33, 47), (1, 1), (64, 96)])
def test_all_four_tasks_any_size(hw):
    h, w = hw
    v = vis(scale=None)  # automatic scale: short side >= 128
    panel, layout = v.draw_panel(image(h, w), four_task_sample(h, w))
    assert layout.columns == ('input', 'semseg', 'depth', 'normal', 'edge')
    assert layout.scale == int(np.ceil(128 / min(h, w)))
    ch, cw = layout.cell_hw
    assert (ch, cw) == (h * layout.scale, w * layout.scale)
    assert panel.shape[1] == layout.width
    assert panel.shape[0] > layout.grid_height  # the legend below
    # every cell of the grid is filled with its map
    for r in layout.rows:
        for t in layout.columns[1:]:
            assert cell(panel, layout, r, t).shape == (ch, cw, 3)


def test_scaled_cells_are_exact_nearest_upscales():
    h, w = 5, 3
    ds = four_task_sample(h, w)
    p1, l1 = vis(scale=1).draw_panel(image(h, w), ds)
    p3, l3 = vis(scale=3).draw_panel(image(h, w), ds)
    for r in l1.rows:
        for c in l1.columns:
            small = cell(p1, l1, r, c)
            big = cell(p3, l3, r, c)
            assert (big == small.repeat(3, 0).repeat(3, 1)).all()


def test_padded_ground_truth_is_cut_to_the_image():
    h, w = 13, 17
    plain = four_task_sample(h, w, metainfo=dict(img_shape=(h, w)))
    padded = four_task_sample(h, w, metainfo=dict(img_shape=(h, w),
                                                  pad_shape=(32, 32)),
                              pad=(32 - h, 32 - w))
    a, la = vis().draw_panel(image(h, w), plain)
    b, lb = vis().draw_panel(image(h, w), padded)
    assert la == lb
    assert (a == b).all()


def test_resized_ground_truth_is_brought_to_the_image_size():
    # a pipeline that resized the input: GT at img_shape, image at ori size
    seg = np.array([[0, 1], [2, 0]])[None]
    ds = sample(dict(img_shape=(2, 2), ori_shape=(4, 4)), gt_sem_seg=seg)
    panel, layout = vis(alpha=1.0).draw_panel(image(4, 4), ds)
    want = np.array(PALETTE)[seg[0].repeat(2, 0).repeat(2, 1)]
    assert (cell(panel, layout, 'gt', 'semseg') == want).all()


def test_a_map_that_does_not_fit_is_named():
    ds = sample(pred_depth_map=np.ones((1, 3, 9), np.float32))
    with pytest.raises(ValueError, match=r'pred_depth_map.*\(3, 9\).*'
                       r'\(4, 4\)'):
        vis().draw_panel(image(4, 4), ds)
    ds = sample(pred_normal_map=np.ones((1, 4, 4), np.float32))
    with pytest.raises(ValueError, match='pred_normal_map.*3 channel'):
        vis().draw_panel(image(4, 4), ds)


def test_before_and_after_differ_exactly_where_predictions_differ():
    h, w = 12, 10
    ds = four_task_sample(h, w, base=True)
    region = np.zeros((h, w), bool)
    region[3:7, 2:5] = True
    pred = ds.pred_sem_seg.data.clone()
    pred[0][torch.from_numpy(region)] = (pred[0][torch.from_numpy(
        region)] + 1) % 3
    ds.pred_sem_seg = PixelData(data=pred)
    edge = ds.pred_edge_map.data.clone()
    edge[0][torch.from_numpy(region)] = 1.0 - edge[0][torch.from_numpy(
        region)]
    ds.pred_edge_map = PixelData(data=edge)
    v = vis(scale=2)
    panel, layout = v.draw_panel(image(h, w), ds)
    assert layout.rows == ('gt', 'base', 'pred')
    up = region.repeat(2, 0).repeat(2, 1)
    for task in ('semseg', 'edge'):
        before = cell(panel, layout, 'base', task).astype(int)
        after = cell(panel, layout, 'pred', task).astype(int)
        differs = (before != after).any(-1)
        assert (differs == up).all(), task
    for task in ('depth', 'normal'):  # equal predictions, equal cells
        assert (cell(panel, layout, 'base', task) ==
                cell(panel, layout, 'pred', task)).all()


def test_non_finite_predictions_are_hatched():
    d = np.full((1, 4, 4), 2.0, np.float32)
    d[0, 1, 1] = np.nan
    d[0, 2, 3] = np.inf
    v = vis()
    panel, layout = v.draw_panel(image(4, 4), sample(pred_depth_map=d))
    invalid = ~np.isfinite(d[0])
    assert_hatched(cell(panel, layout, 'pred', 'depth'), invalid)


def test_task_subsets_and_row_switches():
    ds = four_task_sample(6, 8, base=True)
    v = vis(tasks=('depth', 'edge'))
    _, layout = v.draw_panel(image(6, 8), ds)
    assert layout.columns == ('input', 'depth', 'edge')
    _, layout = vis().draw_panel(image(6, 8), ds, draw_gt=False)
    assert layout.rows == ('base', 'pred')
    _, layout = vis().draw_panel(image(6, 8), ds, draw_pred=False)
    assert layout.rows == ('gt', )
    # a sample with predictions only: no empty ground-truth row
    only_pred = sample(pred_depth_map=np.ones((1, 6, 8), np.float32))
    _, layout = vis().draw_panel(image(6, 8), only_pred)
    assert layout.rows == ('pred', ) and layout.columns == ('input',
                                                            'depth')


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='unknown task'):
        MultiTaskLocalVisualizer(tasks=('semseg', 'albedo'))
    with pytest.raises(ValueError, match='colormap'):
        MultiTaskLocalVisualizer(depth_cmap='no_such_map')
    with pytest.raises(ValueError, match='depth_range'):
        MultiTaskLocalVisualizer(depth_range=(3.0, 1.0))
    with pytest.raises(ValueError, match='scale'):
        MultiTaskLocalVisualizer(scale=0)
    with pytest.raises(ValueError, match='alpha'):
        MultiTaskLocalVisualizer(alpha=1.5)
    with pytest.raises(KeyError, match='no row'):
        PanelLayout((4, 4), 1, ('input', 'depth'), ('pred', )).cell(
            'gt', 'depth')


def test_add_datasample_goes_to_the_backends(tmp_path):
    v = MultiTaskLocalVisualizer(
        vis_backends=[dict(type='LocalVisBackend')], save_dir=str(tmp_path),
        scale=1)
    v.dataset_meta = dict(classes=CLASSES, palette=PALETTE)
    h, w = 9, 11
    ds = four_task_sample(h, w, base=True)
    v.add_datasample('test_x.png', image(h, w), ds, step=3)
    path = osp.join(tmp_path, 'vis_data', 'vis_image', 'test_x.png_3.png')
    saved = cv2.imread(path)[..., ::-1]
    panel, _ = v.draw_panel(image(h, w), ds)
    assert (saved == panel).all()
    # out_file instead of the backends; store=False records nothing
    out = str(tmp_path / 'one.png')
    v.add_datasample('other', image(h, w), ds, out_file=out)
    assert (cv2.imread(out)[..., ::-1] == panel).all()
    v.add_datasample('none', image(h, w), ds, store=False)
    assert sorted(p.name for p in (tmp_path / 'vis_data' /
                                   'vis_image').iterdir()) == [
                                       'test_x.png_3.png']
