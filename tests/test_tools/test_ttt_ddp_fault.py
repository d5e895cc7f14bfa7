"""A non-finite loss on one rank only: every rank skips and restores together
(no rank waits in DDP's all-reduce for a backward that never comes)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from trttt_mm.datasets.synthetic import generate_benchmark

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TESTS = osp.join(ROOT, 'tests')


@pytest.mark.dist
def test_nonfinite_on_one_rank_is_collective(tmp_path):
    data = str(tmp_path / 'synth')
    generate_benchmark(data, seed=1, num_train=4, num_val=2,
                       num_target_train=2, num_target_val=8, height=48,
                       width=64, images_per_building=4, progress=False)
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(
        f"_base_ = [{osp.join(ROOT, 'configs/trttt/synth_t2n.py')!r}]\n"
        "custom_imports = dict(imports=['trttt_mm', 'fault_hooks'], "
        'allow_failed_imports=False)\n'
        f'test_dataloader = dict(batch_size=2, dataset=dict('
        f"data_root={data + '/NYUDv2'!r}))\n")
    # a source checkpoint: the untrained model (weights do not matter here)
    ckpt = str(tmp_path / 'src.pth')
    subprocess.run([
        sys.executable, '-c',
        'import torch, trttt_mm; from mmengine.config import Config; '
        'from mmengine.registry import init_default_scope; '
        "init_default_scope('mmseg'); from mmseg.registry import MODELS; "
        f'm = MODELS.build(Config.fromfile({str(cfg)!r}).model); '
        f"torch.save(dict(state_dict=m.state_dict()), {ckpt!r})"
    ], check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=f'{ROOT}:{TESTS}'))
    out = str(tmp_path / 'metrics.json')
    env = dict(os.environ, PYTHONPATH=f'{ROOT}:{TESTS}', OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    cmd = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_port=29519', osp.join(ROOT, 'tools', 'test.py'), str(cfg),
        ckpt, '--launcher', 'pytorch', '--tta-hook', 'NaNOnRankOneHook',
        '--work-dir', str(tmp_path / 'work'), '--metrics-out', out,
        '--cfg-options', 'ttt.NaNOnRankOneHook.steps=2'
    ]
    # Without a collective decision rank 0 waits in the all-reduce until the
    # process-group timeout (30 minutes on gloo): the timeout here catches it.
    res = subprocess.run(cmd, capture_output=True, text=True, env=env,
                         timeout=240, cwd=ROOT)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-3000:]
    metrics = json.load(open(out))
    # 8 images, 2 ranks x batch 2: 2 batches per rank, each rolled back
    assert metrics['ttt/nonfinite_skips'] == 2
    assert metrics['ttt/steps'] == 0
    assert 'a fault on another rank' in log  # rank 0 says why it skipped
