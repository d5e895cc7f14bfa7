"""tools/model_converters/s4t_to_trttt.py: a state dict with the released
S4T names and layouts (built here, shrunk) converts into our released-config
model, whose predictions then equal the released structure's; the CLI never
touches its input and refuses an existing output without --overwrite."""
import hashlib
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmseg.registry import MODELS
from config_helpers import TINY_RELATION
from s4t_reference import ReleasedS4T, noise_for_mask
from tool_helpers import load_tool

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TASKONOMY_ORDER = ['depth_zbuffer', 'edge_occlusion', 'normal',
                   'segment_semantic']
OURS = {'depth_zbuffer': 'depth', 'edge_occlusion': 'edge',
        'normal': 'normal', 'segment_semantic': 'semseg', 'semseg': 'semseg',
        'normals': 'normal', 'edge': 'edge'}
SHRINK = {
    'model.backbone.depth': 18,
    'model.backbone.init_cfg': None,
    'model.decode_head.in_channels': [64, 128, 256, 512],
    **TINY_RELATION,
    'model.aux_heads.relation.learner.mask_ratio': 0.5,
}
TRL = dict(img_size=32, patch=8, dim=16, depth=1, heads=2, dec_dim=16,
           dec_depth=1, dec_heads=2)


conv = load_tool('model_converters/s4t_to_trttt')


def _released(tasks, out_channels, seed=0):
    torch.manual_seed(seed)
    ref = ReleasedS4T(tasks, out_channels, 'resnet18', ch=8, trl=TRL,
                      mask_ratio=0.5)
    with torch.no_grad():  # BN statistics away from (0, 1)
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return ref.eval()


def _ours(setting='t2n', **extra):
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'trttt', 'released', f'{setting}.py'))
    cfg.merge_from_dict(dict(SHRINK, **extra))
    return MODELS.build(cfg.model).eval()


def _compare(ref, model, rel_tasks):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    learner = model.aux_heads.relation.learner
    mask = learner.make_mask(2, generator=torch.Generator().manual_seed(3))
    assert int(mask[0, 0].sum()) == 16 - int(16 * (1 - 0.5))
    with torch.no_grad():
        out = model.forward_branches(x, ('main', 'relation'), mask=mask)
        main, trl, aux = ref(x, noise_for_mask(mask[:, 0]))
    for r in rel_tasks:
        t = OURS[r]
        torch.testing.assert_close(out['main'][t], main[r], atol=1e-4,
                                   rtol=1e-4)
        torch.testing.assert_close(out['relation']['tp'][t], aux[r],
                                   atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(out['relation']['trl'][t], trl[r],
                                   atol=1e-4, rtol=1e-4)


def test_taskonomy_source_converts_and_predicts_the_same():
    outs = dict(depth_zbuffer=1, edge_occlusion=1, normal=3,
                segment_semantic=7)
    ref = _released(TASKONOMY_ORDER, outs)
    model = _ours('t2n')
    state = conv.released_state_dict(ref.checkpoint())
    assert conv.released_task_order(state) == TASKONOMY_ORDER
    converted, notes = conv.convert(state, model)
    assert list(converted) == list(model.state_dict())
    assert torch.equal(converted['loss_weighting.params'], torch.ones(4))
    assert any('loss_weighting.params' in n for n in notes)
    model.load_state_dict(converted, strict=True)
    # the task order differs (released: depth, edge, normal, semseg; ours:
    # semseg, depth, normal, edge): the blocks were reordered
    _compare(ref, model, TASKONOMY_ORDER)


def test_pascal_source_three_tasks():
    order = ['semseg', 'normals', 'edge']
    ref = _released(order, dict(semseg=6, normals=3, edge=1), seed=2)
    model = _ours('p2t')
    converted, _ = conv.convert(
        conv.released_state_dict(ref.checkpoint()), model)
    model.load_state_dict(converted, strict=True)
    _compare(ref, model, order)


def test_mismatches_are_named():
    outs = dict(depth_zbuffer=1, edge_occlusion=1, normal=3,
                segment_semantic=7)
    state = conv.released_state_dict(_released(TASKONOMY_ORDER,
                                               outs).checkpoint())
    with pytest.raises(conv.ConversionError, match="'joint'"):
        conv.convert(state, _ours(
            **{'model.aux_heads.relation.learner.token_layout': 'per_task'}))
    with pytest.raises(conv.ConversionError, match='cols_first'):
        conv.convert(state, _ours(**{
            'model.aux_heads.relation.learner.pos_embed_layout':
            'rows_first'}))
    extra = dict(state, **{'extra.weight': torch.zeros(1)})
    with pytest.raises(conv.ConversionError, match='extra.weight'):
        conv.convert(extra, _ours())
    with pytest.raises(conv.ConversionError, match='not the model'):
        conv.convert(state, _ours('p2t'))  # 3 tasks vs 4
    with pytest.raises(conv.ConversionError, match='no counterpart'):
        conv.convert(state, _ours(), released_tasks=['curvature'] * 4)


def _sha(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()


def test_cli_writes_a_checkpoint_the_config_loads(tmp_path, capsys):
    from trttt_mm.utils.checkpoint import (checkpoint_state_dict,
                                           load_weights, read_checkpoint)
    outs = dict(depth_zbuffer=1, edge_occlusion=1, normal=3,
                segment_semantic=7)
    ref = _released(TASKONOMY_ORDER, outs)
    src = str(tmp_path / 'checkpoint_60000.pth.tar')
    torch.save(ref.checkpoint(), src)
    digest = _sha(src)
    cfg = tmp_path / 'small_t2n.py'
    cfg.write_text(
        f"_base_ = [{osp.join(REPO, 'configs/trttt/released/t2n.py')!r}]\n")
    options = [f'{k}={v}'.replace(' ', '') for k, v in SHRINK.items()]
    dst = str(tmp_path / 'converted.pth')
    args = [src, dst, '--config', str(cfg), '--cfg-options'] + options
    assert conv.main(args) == 0
    assert 'wrote' in capsys.readouterr().out
    assert _sha(src) == digest
    ckpt = read_checkpoint(dst)
    assert ckpt['meta']['released_tasks'] == TASKONOMY_ORDER
    model = _ours('t2n')
    report = load_weights(model, checkpoint_state_dict(ckpt, dst), dst)
    assert report.complete
    _compare(ref, model, TASKONOMY_ORDER)
    # an existing output is refused without --overwrite, kept as it was
    before = _sha(dst)
    assert conv.main(args) == 1
    assert 'exists' in capsys.readouterr().err
    assert _sha(dst) == before
    assert conv.main(args + ['--overwrite']) == 0
    # never the input, even with --overwrite
    same = [src, src, '--config', str(cfg), '--overwrite',
            '--cfg-options'] + options
    assert conv.main(same) == 1
    assert 'never overwrites its input' in capsys.readouterr().err
    assert _sha(src) == digest
    missing = [str(tmp_path / 'nope.pth'), str(tmp_path / 'x.pth'),
               '--config', str(cfg)]
    assert conv.main(missing) == 1
    assert 'no checkpoint file' in capsys.readouterr().err
