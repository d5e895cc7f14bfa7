"""Launch faults named clearly: resuming from a truncated checkpoint, the
distributed scripts without (or with a bad) process count, and a process
of ``--launcher pytorch`` whose peers never come."""
import os
import os.path as osp
import socket
import stat
import subprocess
import sys
import time

import pytest
import torch

from trttt_mm.datasets.synthetic import generate_benchmark
from trttt_mm.utils.launch import rendezvous_message, rendezvous_timeout
from tool_helpers import load_tool

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'trttt', 'synth_t2n.py')
TINY = [
    'model.backbone.stem_channels=8', 'model.backbone.base_channels=8',
    'model.decode_head.in_channels=[8,16,32,64]',
    'model.decode_head.channels=16', 'model.decode_head.head_channels=8',
]


# ------------------------------------------------------------ --resume
def test_resume_from_a_truncated_checkpoint_names_the_file(tmp_path):
    data = str(tmp_path / 'synth')
    generate_benchmark(data, seed=1, num_train=4, num_val=2,
                       num_target_train=2, num_target_val=2, height=32,
                       width=48, images_per_building=4, progress=False)
    opts = [
        'train_cfg.max_iters=2', 'train_cfg.val_interval=100',
        'param_scheduler.0.end=2', 'train_dataloader.batch_size=2',
        f'train_dataloader.dataset.data_root={data}/taskonomy',
        f'val_dataloader.dataset.data_root={data}/taskonomy',
        f'test_dataloader.dataset.data_root={data}/NYUDv2', *TINY
    ]
    work = tmp_path / 'work'
    work.mkdir()
    # a checkpoint cut in half, as an interrupted save leaves it
    ckpt = work / 'iter_2.pth'
    torch.save(dict(state_dict={'w': torch.zeros(1000)}, meta=dict(iter=2)),
               ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:ckpt.stat().st_size // 2])
    (work / 'last_checkpoint').write_text(str(ckpt))
    with pytest.raises(SystemExit) as err:
        load_tool('train').main([CONFIG, '--work-dir', str(work), '--resume',
                                 '--cfg-options', *opts])
    msg = str(err.value)
    assert str(ckpt) in msg and 'cannot read checkpoint' in msg
    assert 'truncated' in msg and 'last_checkpoint' in msg


# ------------------------------------------------------------ dist_*.sh
@pytest.fixture
def fake_bin(tmp_path):
    """A folder with a ``torchrun`` that prints its arguments, and an
    ``nvidia-smi`` listing ``$FAKE_GPUS`` GPUs, first on PATH."""
    folder = tmp_path / 'bin'
    folder.mkdir()
    (folder / 'torchrun').write_text('#!/bin/sh\necho "torchrun $*"\n')
    (folder / 'nvidia-smi').write_text(
        '#!/bin/sh\ni=0\nwhile [ $i -lt "${FAKE_GPUS:-0}" ]; do\n'
        '  echo "GPU $i: NVIDIA (UUID: GPU-$i)"; i=$((i+1))\ndone\n')
    for name in ('torchrun', 'nvidia-smi'):
        path = folder / name
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return folder


def run_script(fake_bin, script, *args, gpus=0):
    env = dict(os.environ, PATH=f'{fake_bin}:{os.environ["PATH"]}',
               FAKE_GPUS=str(gpus))
    return subprocess.run(['bash', osp.join(ROOT, 'tools', script), *args],
                          capture_output=True, text=True, env=env,
                          timeout=60)


def test_dist_scripts_default_the_process_count(fake_bin):
    res = run_script(fake_bin, 'dist_test.sh', 'cfg.py', 'ckpt.pth',
                     '--work-dir', 'w')
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == (
        'torchrun --nproc_per_node=1 --master_port=29500 tools/test.py '
        'cfg.py ckpt.pth --launcher pytorch --work-dir w')
    assert 'no GPU found: starting 1 process' in res.stderr
    res = run_script(fake_bin, 'dist_train.sh', 'cfg.py', gpus=3)
    assert res.returncode == 0, res.stderr
    assert '--nproc_per_node=3 ' in res.stdout
    assert 'starting 3 processes, one per GPU' in res.stderr
    res = run_script(fake_bin, 'dist_train.sh', 'cfg.py', '2', '--amp')
    assert res.stdout.strip() == (
        'torchrun --nproc_per_node=2 --master_port=29500 tools/train.py '
        'cfg.py --launcher pytorch --amp')


@pytest.mark.parametrize('script,args,message', [
    ('dist_test.sh', ['cfg.py', 'ckpt.pth', 'two'],
     "must be a positive integer (one process per GPU, or CPU processes "
     "without one), got 'two'"),
    ('dist_train.sh', ['cfg.py', '0'], "got '0'"),
    ('dist_test.sh', ['cfg.py'], 'CONFIG and CHECKPOINT are required'),
    ('dist_train.sh', [], 'CONFIG is missing'),
])
def test_dist_scripts_check_their_arguments(fake_bin, script, args,
                                            message):
    res = run_script(fake_bin, script, *args)
    assert res.returncode == 2
    assert message in res.stderr and 'torchrun' not in res.stdout


# ------------------------------------------------------------ rendezvous
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_rendezvous_timeout_and_message():
    from mmengine.config import Config
    assert rendezvous_timeout(Config(dict())) == 1800.0  # torch's default
    assert rendezvous_timeout(
        Config(dict(env_cfg=dict(dist_cfg=dict(timeout=7))))) == 7.0
    for bad in (0, -1, 'soon', True):
        with pytest.raises(ValueError, match='env_cfg.dist_cfg.timeout must'):
            rendezvous_timeout(
                Config(dict(env_cfg=dict(dist_cfg=dict(timeout=bad)))))
    msg = rendezvous_message(1, 4, 'h:1', 60)
    assert msg.startswith('--launcher pytorch: rank 1 of 4 waits for all 4 '
                          'processes to join at h:1 (gives up after 60 s')


@pytest.mark.slow
def test_a_lone_process_of_two_says_what_it_waits_for(tmp_path):
    """WORLD_SIZE=2 set by hand, one process: it says what it waits for and
    for how long, and gives up after the configured timeout."""
    port = free_port()
    env = dict(os.environ, RANK='0', LOCAL_RANK='0', WORLD_SIZE='2',
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
               OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    env.pop('TORCHELASTIC_RUN_ID', None)
    start = time.time()
    res = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), CONFIG,
         '--launcher', 'pytorch', '--work-dir', str(tmp_path),
         '--cfg-options', 'env_cfg.dist_cfg.timeout=3'],
        capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    elapsed = time.time() - start
    assert res.returncode != 0
    assert (f'rank 0 of 2 waits for all 2 processes to join at '
            f'127.0.0.1:{port} (gives up after 3 s') in res.stderr
    assert 'WORLD_SIZE was not set by torchrun' in res.stderr
    assert 'did not form within 3 s' in res.stderr
    assert 'Traceback' not in res.stderr
    assert elapsed < 60
