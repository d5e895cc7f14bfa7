"""Source statistics: one pass fills the heads' buffers, checkpoints keep them."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmseg.registry import MODELS

import trttt_mm  # noqa: F401
from trttt_mm.engine.hooks import collect_source_stats

from model_helpers import make_batch, small_model_cfg

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _stats_model():
    cfg = small_model_cfg(False, False)
    cfg['aux_heads'] = dict(stats=dict(type='FeatureStatsHead', in_index=-1))
    return MODELS.build(cfg)


def test_collect_matches_a_direct_computation():
    model = _stats_model()
    batches = [make_batch(n=3, h=32, w=32, seed=s) for s in range(3)]
    head = model.aux_heads['stats']
    assert not head.stats_ready()
    info = collect_source_stats(model, batches)
    assert info == dict(heads=['stats'], batches=3)
    assert head.stats_ready() and int(head.stats_count) == 9
    # the same numbers by hand
    model.eval()
    with torch.no_grad():
        feats = torch.cat([
            model.extract_feat(model.data_preprocessor(b, False)['inputs'])
            [-1].mean(dim=(2, 3)) for b in batches
        ]).double()
    assert torch.allclose(head.stats_mean, feats.mean(0), atol=1e-6)
    assert torch.allclose(head.stats_cov, torch.cov(feats.t()), atol=1e-6)
    # the statistics live in the state dict: a checkpoint is self-contained
    other = _stats_model()
    other.load_state_dict(model.state_dict())
    assert torch.equal(other.aux_heads['stats'].stats_cov, head.stats_cov)
    assert other.aux_heads['stats'].stats_ready()


def test_collect_errors():
    plain = MODELS.build(small_model_cfg(False, False))
    with pytest.raises(ValueError, match='no auxiliary head'):
        collect_source_stats(plain, [make_batch()])
    with pytest.raises(ValueError, match='no batch'):
        collect_source_stats(_stats_model(), [])
    with pytest.raises(ValueError, match='nope'):
        collect_source_stats(_stats_model(), [make_batch()], heads=['nope'])


def test_source_stats_on_the_demo_model(tmp_path):
    """The demo config plus a statistics head: the tool fills it from the
    training data (a small synthetic benchmark) and writes a new checkpoint
    that loads strictly; the input checkpoint is untouched."""
    import runpy
    import subprocess
    import sys
    from trttt_mm.datasets.synthetic.benchmark import generate_benchmark
    data = tmp_path / 'synth'
    generate_benchmark(str(data), num_train=6, num_val=2, num_target_train=2,
                       num_target_val=2, height=48, width=64, progress=False)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/trttt/synth_t2n.py'))
    cfg.model.aux_heads['stats'] = dict(type='FeatureStatsHead', in_index=-1)
    for split in ('train_dataloader', ):
        cfg[split].dataset.data_root = str(data / 'taskonomy')
        cfg[split].batch_size = 4
    cfg_path = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_path))
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(seed=0)), ckpt)
    before = ckpt.read_bytes()
    out = tmp_path / 'model_stats.pth'
    tool = osp.join(ROOT, 'tools/analysis/source_stats.py')
    subprocess.run([sys.executable, tool, str(cfg_path), str(ckpt), '--out',
                    str(out)], check=True, cwd=ROOT)
    assert ckpt.read_bytes() == before
    loaded = torch.load(out, weights_only=True)
    assert loaded['meta']['source_stats']['batches'] == 2  # 6 images / 4
    assert float(loaded['state_dict']['aux_heads.stats.stats_count']) == 6
    model.load_state_dict(loaded['state_dict'])  # strict
    # --out is never overwritten silently (the tool's main, in-process)
    main = runpy.run_path(tool)['main']
    with pytest.raises(SystemExit, match='exists; pass --overwrite'):
        main([str(cfg_path), str(ckpt), '--out', str(out)])
    assert float(torch.load(out, weights_only=True)['state_dict'][
        'aux_heads.stats.stats_count']) == 6


def test_source_stats_partial_load(tmp_path):
    """--partial-load has tools/test.py's meaning: without it a checkpoint
    that does not fit is an error that names the keys (and the option);
    with it the weights that fit are loaded, the statistics filled, and the
    keys that were not loaded are recorded in the new checkpoint."""
    from trttt_mm.datasets.synthetic import generate_benchmark
    from tool_helpers import load_tool
    data = str(tmp_path / 'synth')
    generate_benchmark(data, seed=1, num_train=4, num_val=2,
                       num_target_train=2, num_target_val=2, height=32,
                       width=48, images_per_building=4, progress=False)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/trttt/synth_t2n.py'))
    cfg.model.aux_heads['stats'] = dict(type='FeatureStatsHead', in_index=-1)
    cfg.train_dataloader.dataset.data_root = osp.join(data, 'taskonomy')
    cfg.train_dataloader.batch_size = 2
    cfg_path = str(tmp_path / 'cfg.py')
    cfg.dump(cfg_path)
    state = MODELS.build(cfg.model).state_dict()
    dropped = sorted(k for k in state if k.startswith('decode_head.'))[:2]
    for key in dropped:
        del state[key]
    state['old_branch.weight'] = torch.zeros(2)
    ckpt = str(tmp_path / 'model.pth')
    torch.save(dict(state_dict=state, meta=dict()), ckpt)
    tool = load_tool('analysis/source_stats')
    out = str(tmp_path / 'out.pth')
    with pytest.raises(SystemExit) as err:
        tool.main([cfg_path, ckpt, '--out', out])
    assert 'does not match the model' in str(err.value)
    assert dropped[0] in str(err.value) and '--partial-load' in str(err.value)
    assert not osp.exists(out)
    assert tool.main([cfg_path, ckpt, '--out', out, '--partial-load']) == 0
    saved = torch.load(out, weights_only=True)
    meta = saved['meta']['source_stats']
    assert meta['not_loaded'] == dropped
    assert meta['ignored_checkpoint_keys'] == ['old_branch.weight']
    assert float(saved['state_dict']['aux_heads.stats.stats_count']) == 4
