"""tools/analysis/compare_released_step.py: its arguments are refused with
clear errors, its parts do what the comparison relies on (targets in the
released layout, the released masking fed a given noise, alternating
repeats, the profile difference), and, where a work tree of the released
code is given (TRTTT_S4T_REPO), the whole comparison runs and the two
agree."""
import json
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch

from tool_helpers import load_tool

tool = load_tool('analysis/compare_released_step')


def _fake_repo(path):
    """A folder with the released files' names (empty): enough for the
    argument checks, which run before anything is imported."""
    for f in tool.RELEASED_FILES + (tool.DEFAULT_RELEASED_CONFIG, ):
        p = path / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text('')
    return str(path)


def _run(capsys, *argv):
    rc = tool.main(list(argv))
    return rc, capsys.readouterr().err


def test_missing_repo_is_named(tmp_path, capsys):
    missing = str(tmp_path / 'no_such_checkout')
    rc, err = _run(capsys, '--released-repo', missing)
    assert rc == 1
    assert missing in err and 'no such folder' in err
    assert tool.RELEASED in err


def test_repo_that_is_a_file_or_lacks_the_released_files(tmp_path, capsys):
    f = tmp_path / 'file'
    f.write_text('x')
    rc, err = _run(capsys, '--released-repo', str(f))
    assert rc == 1 and 'is not a folder' in err
    empty = tmp_path / 'empty'
    empty.mkdir()
    rc, err = _run(capsys, '--released-repo', str(empty))
    assert rc == 1
    assert 'models/TTT_MT.py' in err and 'losses/loss_schemes.py' in err
    repo = _fake_repo(tmp_path / 'repo')
    rc, err = _run(capsys, '--released-repo', repo, '--released-config',
                   'configs/S4T/ttt/other.yml')
    assert rc == 1 and "'configs/S4T/ttt/other.yml'" in err


@pytest.mark.parametrize('args, message', [
    (['--height', '100'], '--height must be a positive multiple of 32'),
    (['--width', '0'], '--width must be a positive multiple of 32'),
    (['--repeats', '0'], '--repeats must be >= 1'),
    (['--batch-size', '0'], '--batch-size must be >= 1'),
    (['--steps', '0'], '--steps must be >= 1'),
    (['--profile-top', '-1'], '--profile-top must be >= 0'),
    (['--device', 'tpu'], "--device must be 'cpu' or 'cuda[:i]'"),
    (['--config', 'configs/trttt/released/nope.py'],
     "--config: no such file 'configs/trttt/released/nope.py'"),
])
def test_bad_arguments_are_named(tmp_path, capsys, args, message):
    repo = _fake_repo(tmp_path / 'repo')
    rc, err = _run(capsys, '--released-repo', repo, *args)
    assert rc == 1
    assert message in err


def test_out_folder_must_exist(tmp_path, capsys):
    repo = _fake_repo(tmp_path / 'repo')
    out = str(tmp_path / 'missing' / 'r.json')
    rc, err = _run(capsys, '--released-repo', repo, '--out', out)
    assert rc == 1 and '--out' in err and out in err


def test_missing_packages_are_named(tmp_path, capsys, monkeypatch):
    assert tool.missing_packages({'json': 'json'}) == []
    assert tool.missing_packages(
        {'no_such_module_trttt': 'no-such-package'}) == ['no-such-package']
    monkeypatch.setattr(tool, 'EXTRA_PACKAGES',
                        {'no_such_module_trttt': 'einops'})
    repo = _fake_repo(tmp_path / 'repo')
    rc, err = _run(capsys, '--released-repo', repo)
    assert rc == 1
    assert "['einops']" in err and 'pip install einops' in err
    assert 'not dependencies of trttt_mm' in err


def test_released_modules_leave_after_the_build(tmp_path):
    import sys
    pkg = tmp_path / 'repo' / 'trttt_fake_released'
    pkg.mkdir(parents=True)
    (pkg / '__init__.py').write_text('')
    (pkg / 'part.py').write_text('VALUE = 3\n')
    (pkg / 'sub').mkdir()  # a namespace package (no __init__.py)
    (pkg / 'sub' / 'leaf.py').write_text('')
    before = list(sys.path)
    with tool.released_imports(str(tmp_path / 'repo')):
        sys.path.insert(0, str(tmp_path / 'repo'))
        from trttt_fake_released import part
        import trttt_fake_released.sub.leaf  # noqa: F401
        assert part.VALUE == 3
    assert sys.path == before
    assert not [m for m in sys.modules if m.startswith('trttt_fake_rel')]
    assert part.VALUE == 3  # what was built keeps its modules


def test_released_targets():
    depth = torch.tensor([[[[0.0, 1.5]]]])  # (1, 1, 1, 2)
    normal = torch.zeros(1, 3, 1, 2)
    normal[0, :, 0, 1] = torch.tensor([0.0, 0.0, 1.0])  # one valid pixel
    semseg = torch.tensor([[[[3.0, 255.0]]]])
    edge = torch.tensor([[[[1.0, 255.0]]]])
    gts = dict(semseg=semseg, depth=depth, normal=normal, edge=edge)
    task_of = dict(semseg='semseg', depth='depth', normals='normal',
                   edge='edge')
    out = tool.released_targets(gts, ['semseg', 'depth', 'normals', 'edge'],
                                task_of)
    assert list(out) == ['semseg', 'depth', 'normals', 'edge']
    assert out['depth'].tolist() == [[[[255.0, 1.5]]]]
    assert out['normals'][0, :, 0, 0].tolist() == [255.0] * 3
    assert out['normals'][0, :, 0, 1].tolist() == [0.0, 0.0, 1.0]
    assert torch.equal(out['semseg'], semseg)
    assert torch.equal(out['edge'], edge)
    with pytest.raises(tool.ToolError, match="no ground truth for 'normal'"):
        tool.released_targets(dict(semseg=semseg), ['normals'], task_of)


def test_released_masking_gets_the_given_noise():
    module = SimpleNamespace(torch=torch)
    noise = torch.arange(6.0).reshape(2, 3)
    with tool.released_masking(module, noise):
        assert torch.equal(module.torch.rand(2, 3, device='cpu'), noise)
        assert torch.equal(module.torch.rand((2, 3)), noise)
        assert module.torch.zeros(2).tolist() == [0.0, 0.0]  # torch's own
        with pytest.raises(tool.ToolError, match=r'\(2, 4\)'):
            module.torch.rand(2, 4)
    assert module.torch is torch


def test_noise_keeps_exactly_the_visible_tokens():
    g = torch.Generator().manual_seed(1)
    mask = torch.zeros(3, 16, dtype=torch.bool)
    for row in mask:
        row[torch.randperm(16, generator=g)[:12]] = True  # 4 kept
    noise = tool.noise_for(mask)
    kept = noise.argsort(dim=1)[:, :4]  # the released rule: lowest noise
    for b in range(3):
        assert sorted(kept[b].tolist()) == \
            torch.nonzero(~mask[b]).flatten().tolist()


def test_alternate_rotates_the_order():
    calls = []
    fns = {k: (lambda k=k: calls.append(k)) for k in 'abc'}
    synced = []
    times = tool.alternate(fns, 4, 'cpu', sync=synced.append)
    assert calls[:3] == ['a', 'b', 'c']  # warm-up
    assert calls[3:] == list('abc' 'bca' 'cab' 'abc')
    assert set(times) == {'wall', 'cpu'}
    for kind in ('wall', 'cpu'):
        assert {k: len(v) for k, v in times[kind].items()} == dict(
            a=4, b=4, c=4)
        assert all(t >= 0 for v in times[kind].values() for t in v)
    assert synced == ['cpu'] * (1 + 12)  # after the warm-up, each call


def test_profile_diff():
    ours = {'conv': [10.0, 2], 'norm': [5.0, 100], 'add': [1.0, 3]}
    theirs = {'conv': [12.0, 2], 'copy': [4.0, 7]}
    res = tool.profile_diff(ours, theirs, 2)
    assert res['ours_total_self_ms'] == 16.0
    assert res['theirs_total_self_ms'] == 16.0
    assert [r['op'] for r in res['ours_top']] == ['conv', 'norm']
    assert [r['op'] for r in res['theirs_top']] == ['conv', 'copy']
    diffs = res['largest_differences']
    assert [d['op'] for d in diffs] == ['norm', 'copy']
    assert diffs[0]['diff_ms'] == 5.0 and diffs[0]['theirs_calls'] == 0
    assert diffs[1]['diff_ms'] == -4.0 and diffs[1]['ours_ms'] == 0.0


def test_agreement_threshold():
    tool._agree('x', dict(max_abs_diff=1e-5, max_abs=2.0))
    tool._agree('x', dict(max_abs_diff=5e-3, max_abs=100.0))
    with pytest.raises(tool.ToolError, match='x: ours and the released'):
        tool._agree('x', dict(max_abs_diff=1e-3, max_abs=1.0))
    with pytest.raises(tool.ToolError, match='shapes differ'):
        tool._max_diff(torch.zeros(2), torch.zeros(3))


RELEASED_REPO = os.environ.get('TRTTT_S4T_REPO')
MISSING = tool.missing_packages()


@pytest.mark.slow
@pytest.mark.skipif(
    not RELEASED_REPO or not osp.isdir(RELEASED_REPO),
    reason='set TRTTT_S4T_REPO to a work tree of wooseong97/S4T-mtl@99641e2')
@pytest.mark.skipif(bool(MISSING),
                    reason=f'the released code needs {MISSING}')
def test_against_the_released_code(tmp_path, capsys):
    out = tmp_path / 'r.json'
    rc = tool.main(['--released-repo', RELEASED_REPO, '--height', '64',
                    '--width', '96', '--repeats', '1', '--profile-top', '3',
                    '--out', str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    res = json.loads(out.read_text())
    assert json.loads(printed) == res
    assert res['batch'] == [2, 3, 64, 96]
    agree = res['agreement']
    assert set(agree['main_eval']) == {'semseg', 'depth', 'normals', 'edge'}
    total = agree['losses']['total']
    assert total['ours'] == pytest.approx(total['released'], rel=1e-4)
    assert res['ratio'] == pytest.approx(
        res['ours_hook_s'] / res['theirs_step_s'], rel=0.01)
    assert res['cpu_ratio'] == pytest.approx(
        res['cpu_s']['ours_hook'] / res['cpu_s']['theirs'], rel=0.01)
    assert len(res['samples_s']['wall']['theirs']) == 1
    assert len(res['profile']['ours_hook_vs_theirs']['largest_differences']
               ) == 3


@pytest.mark.slow
@pytest.mark.skipif(
    not RELEASED_REPO or not osp.isdir(RELEASED_REPO),
    reason='set TRTTT_S4T_REPO to a work tree of wooseong97/S4T-mtl@99641e2')
@pytest.mark.skipif(bool(MISSING),
                    reason=f'the released code needs {MISSING}')
def test_a_wrong_conversion_stops_before_timing(capsys, monkeypatch):
    conv = tool._load_tool('model_converters', 's4t_to_trttt')
    convert = conv.convert

    def off_by_a_bit(state, model, *args, **kwargs):
        out, notes = convert(state, model, *args, **kwargs)
        out['decode_head.decoders.semseg.0.bias'] = \
            out['decode_head.decoders.semseg.0.bias'] + 0.01
        return out, notes

    monkeypatch.setattr(conv, 'convert', off_by_a_bit)
    monkeypatch.setattr(tool, 'alternate', lambda *a, **k: pytest.fail(
        'timed although the outputs disagree'))
    rc = tool.main(['--released-repo', RELEASED_REPO, '--height', '64',
                    '--width', '96', '--repeats', '1'])
    err = capsys.readouterr().err
    assert rc == 1
    assert "main prediction 'semseg' (eval mode)" in err
    assert 'disagree' in err
