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
    import subprocess
    import sys
    data = tmp_path / 'synth'
    subprocess.run([
        sys.executable, osp.join(ROOT, 'tools/data/make_synthetic.py'),
        '--out', str(data), '--num-train', '6', '--num-val', '2',
        '--num-target-train', '2', '--num-target-val', '2', '--height', '48',
        '--width', '64', '--quiet'
    ], check=True, cwd=ROOT)
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
    # --out is never overwritten silently
    proc = subprocess.run([sys.executable, tool, str(cfg_path), str(ckpt),
                           '--out', str(out)], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode != 0 and 'exists' in proc.stderr
