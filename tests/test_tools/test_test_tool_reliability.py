"""tools/test.py refuses wrong checkpoints, bad output paths and config typos
before they cost a run (or a file), and every run keeps its own log dir."""
import json
import os
import os.path as osp
import time

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope

import trttt_mm  # noqa: F401
from mmseg.registry import HOOKS, MODELS
from trttt_mm.utils import claim_run_dir
from trttt_mm.utils.checkpoint import (MISSING_KEYS_INFO,
                                       CheckpointMismatchError,
                                       checkpoint_state_dict, load_weights)

import toy_data  # noqa: F401  (registers ToyMultiTaskDataset)
from model_helpers import small_model_cfg
from tool_helpers import load_tool

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
RUNTIME = osp.join(ROOT, 'configs', '_base_', 'default_runtime.py')
SEEN = []  # what RecordLoadHook saw in before_test, one dict per run


@HOOKS.register_module(force=True)
class RecordLoadHook(Hook):
    """Records, when the test starts, the message hub's missing keys and
    the first weight of the backbone (to tell loaded from initial weights)."""

    def before_test(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        SEEN.append(dict(
            missing=runner.message_hub.get_info(MISSING_KEYS_INFO),
            weight=next(iter(model.backbone.parameters())).detach().clone(),
            log_dir=runner.log_dir))


TOOL = load_tool('test')


def write_config(folder, model=None, ttt=None):
    model = model or small_model_cfg(True, True)
    ttt = ttt or dict(TRTTTHook=dict(steps=1))
    path = osp.join(folder, 'tiny.py')
    with open(path, 'w') as f:
        f.write(f'''_base_ = [{RUNTIME!r}]
model = {model!r}
test_dataloader = dict(
    batch_size=2, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ToyMultiTaskDataset', num=2))
test_evaluator = dict(type='MultiTaskMetric')
test_cfg = dict(type='TestLoop')
custom_hooks = [dict(type='PlainCheckpointHook'), dict(type='RecordLoadHook')]
ttt = {ttt!r}
''')
    return path


def save_model(path, seed=0, **model_kw):
    init_default_scope('mmseg')
    torch.manual_seed(seed)
    model = MODELS.build(small_model_cfg(True, True, **model_kw))
    state = model.state_dict()
    torch.save(dict(state_dict=state, meta=dict(iter=1)), path)
    return state


@pytest.fixture
def setup(tmp_path):
    SEEN.clear()
    cfg = write_config(str(tmp_path))
    ckpt = str(tmp_path / 'good.pth')
    state = save_model(ckpt, seed=123)
    return cfg, ckpt, state, tmp_path


def run(cfg, ckpt, tmp_path, *extra, out=None):
    out = out or str(tmp_path / 'metrics.json')
    TOOL.main([cfg, ckpt, '--work-dir', str(tmp_path / 'work'),
               '--metrics-out', out, *extra])
    return out


# 1. checkpoints ------------------------------------------------------------

def test_matching_checkpoint_is_loaded_before_the_test_starts(setup):
    cfg, ckpt, state, tmp = setup
    out = run(cfg, ckpt, tmp)
    assert SEEN[-1]['missing'] == []
    first = next(k for k in state if k.startswith('backbone.'))
    assert torch.equal(SEEN[-1]['weight'], state[first])
    assert 'semseg/mIoU' in json.load(open(out))


@pytest.mark.parametrize('kind, message', [
    ('other_model', 'missing in the checkpoint'),
    ('shapes', 'shape mismatch'),
    ('unexpected', 'unexpected in the checkpoint'),
])
def test_wrong_checkpoint_is_an_error_naming_the_keys(setup, kind, message):
    cfg, _, state, tmp = setup
    bad = str(tmp / f'{kind}.pth')
    if kind == 'other_model':  # the same model without its relation learner
        init_default_scope('mmseg')
        other = MODELS.build(small_model_cfg(True, False)).state_dict()
        torch.save(dict(state_dict=other), bad)
    elif kind == 'shapes':  # five classes instead of three
        save_model(bad, decode_head=dict(
            small_model_cfg()['decode_head'], num_classes=5))
    else:
        torch.save(dict(state_dict=dict(state, **{
            'extra.weight': torch.zeros(2)})), bad)
    with pytest.raises(SystemExit) as err:
        run(cfg, bad, tmp)
    text = str(err.value)
    assert message in text and bad in text and '--partial-load' in text
    assert not osp.exists(tmp / 'metrics.json')
    assert SEEN == []  # no test hook ran


def test_error_lists_ten_keys_and_counts(setup):
    cfg, _, _, tmp = setup
    bad = str(tmp / 'linear.pth')
    torch.save(torch.nn.Sequential(*[torch.nn.Linear(2, 2)
                                     for _ in range(12)]).state_dict(), bad)
    with pytest.raises(SystemExit) as err:
        run(cfg, bad, tmp)
    text = str(err.value)
    assert 'unexpected in the checkpoint (24):' in text
    assert '... and 14 more' in text


def test_partial_load_is_explicit_and_recorded(setup):
    cfg, _, state, tmp = setup
    partial = str(tmp / 'partial.pth')
    # the weights a model without the relation learner has (the TR-TTT
    # branch then keeps its initial values)
    init_default_scope('mmseg')
    without = MODELS.build(small_model_cfg(True, False)).state_dict()
    kept = {k: v for k, v in state.items() if k in without}
    assert 0 < len(kept) < len(state)
    torch.save(dict(state_dict=kept), partial)
    with pytest.raises(SystemExit, match='missing in the checkpoint'):
        run(cfg, partial, tmp)
    run(cfg, partial, tmp, '--partial-load')
    missing = SEEN[-1]['missing']
    assert missing == sorted(k for k in state if k not in kept)
    first = next(k for k in state if k.startswith('backbone.'))
    assert torch.equal(SEEN[-1]['weight'], state[first])


def test_hook_refuses_branches_missing_from_a_partial_checkpoint(setup):
    """--partial-load plus --tta-hook TRTTTHook: the TR-TTT head would be
    randomly initialised, so the hook refuses to adapt (and report) it."""
    cfg, _, state, tmp = setup
    partial = str(tmp / 'no_trl.pth')
    kept = {k: v for k, v in state.items()
            if not k.startswith('aux_heads.relation.')}
    torch.save(dict(state_dict=kept), partial)
    with pytest.raises(RuntimeError, match='not in the checkpoint'):
        run(cfg, partial, tmp, '--partial-load', '--tta-hook', 'TRTTTHook')
    assert not osp.exists(tmp / 'metrics.json')


def test_not_a_checkpoint_is_named(setup):
    cfg, _, _, tmp = setup
    junk = tmp / 'junk.pth'
    junk.write_text('{"semseg/mIoU": 1.0}')
    with pytest.raises(SystemExit, match='cannot read checkpoint'):
        run(cfg, str(junk), tmp)


def test_state_dict_helpers():
    lin = torch.nn.Linear(2, 3)
    ddp = {'module.' + k: v for k, v in lin.state_dict().items()}
    state = checkpoint_state_dict(dict(state_dict=ddp))
    assert set(state) == {'weight', 'bias'}
    assert load_weights(lin, state, 'x').not_loaded == []
    with pytest.raises(CheckpointMismatchError, match='none of its weights'):
        load_weights(lin, {'w': torch.zeros(1)}, 'x', partial=True)


# 2. --metrics-out and log dirs --------------------------------------------

def test_metrics_out_never_overwrites_other_files(setup):
    cfg, ckpt, _, tmp = setup
    precious = tmp / 'model.pth'
    precious.write_bytes(b'\x80\x02not json' * 100)
    with pytest.raises(SystemExit, match='not a metrics JSON'):
        run(cfg, ckpt, tmp, out=str(precious))
    assert precious.read_bytes() == b'\x80\x02not json' * 100
    notes = tmp / 'notes.json'
    notes.write_text('{"a": {"nested": 1}}')
    with pytest.raises(SystemExit, match='refusing to overwrite'):
        run(cfg, ckpt, tmp, out=str(notes))
    assert SEEN == []  # refused before the run
    earlier = tmp / 'earlier.json'
    earlier.write_text('{"semseg/mIoU": 0.5, "ttt/curve": [1, 2]}')
    run(cfg, ckpt, tmp, out=str(earlier))  # an earlier metrics file is fine
    assert json.load(open(earlier))['semseg/mIoU'] != 0.5


def test_metrics_out_bad_paths_fail_before_the_run(setup):
    cfg, ckpt, _, tmp = setup
    with pytest.raises(SystemExit, match='is a directory'):
        run(cfg, ckpt, tmp, out=str(tmp))
    blocker = tmp / 'file'
    blocker.write_text('x')
    with pytest.raises(SystemExit, match='is not a directory'):
        run(cfg, ckpt, tmp, out=str(blocker / 'sub' / 'm.json'))
    assert SEEN == []


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes anywhere')
def test_metrics_out_read_only_dir_fails_before_the_run(setup):
    cfg, ckpt, _, tmp = setup
    ro = tmp / 'ro'
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(SystemExit, match='not writable'):
            run(cfg, ckpt, tmp, out=str(ro / 'm.json'))
    finally:
        ro.chmod(0o700)
    assert SEEN == []


def test_claim_run_dir_is_unique(tmp_path):
    names = [claim_run_dir(str(tmp_path), '20250101_000000')
             for _ in range(3)]
    assert names == ['20250101_000000', '20250101_000000_1',
                     '20250101_000000_2']


def test_runs_in_the_same_second_keep_their_own_log_dir(setup, monkeypatch):
    import mmengine.runner.runner as runner_mod

    class FrozenTime:
        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def time():
            return 1.7e9

    monkeypatch.setattr(runner_mod, 'time', FrozenTime())
    cfg, ckpt, _, tmp = setup
    run(cfg, ckpt, tmp)
    run(cfg, ckpt, tmp, '--tta-hook', 'TRTTTHook')
    first, second = SEEN[0]['log_dir'], SEEN[1]['log_dir']
    assert first != second and second == first + '_1'
    a = json.load(open(osp.join(first, 'metrics.json')))
    b = json.load(open(osp.join(second, 'metrics.json')))
    assert 'ttt/steps' not in a and b['ttt/steps'] == 1


# 3. config errors ----------------------------------------------------------

def test_typo_in_ttt_hook_name_is_an_error(setup):
    cfg, ckpt, _, tmp = setup
    with pytest.raises(SystemExit) as err:
        run(cfg, ckpt, tmp, '--cfg-options', 'ttt.TRTTHook.steps=1')
    text = str(err.value)
    assert "'TRTTHook'" in text and 'TRTTTHook' in text.split('valid')[1]
    assert SEEN == []
    typo_cfg = write_config(str(tmp), ttt=dict(TENTHOOK=dict(steps=1)))
    with pytest.raises(SystemExit, match='TENTHOOK'):
        run(typo_cfg, ckpt, tmp)
    # a registered hook that is no test-time hook is refused too
    with pytest.raises(SystemExit, match='PlainCheckpointHook'):
        run(cfg, ckpt, tmp, '--cfg-options', 'ttt.PlainCheckpointHook.x=1')


def test_valid_ttt_names_are_test_time_hooks():
    from trttt_mm.engine.hooks import BaseTTTHook
    names = TOOL.valid_ttt_names()
    assert 'TRTTTHook' in names
    for name in names:
        cls = HOOKS.get(name)
        assert issubclass(cls, BaseTTTHook) or name == 'TTTMonitorHook'
