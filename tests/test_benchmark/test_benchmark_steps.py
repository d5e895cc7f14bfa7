"""trttt_mm.benchmark.steps: a unit's subprocesses and its record (the
commands here are small Python scripts standing in for the tools)."""
import json
import sys

import pytest

from trttt_mm.benchmark import steps as St
from trttt_mm.benchmark.units import read_done


def script(code):
    return [sys.executable, '-c', code]


def write_files(files):
    """A script that writes ``{path: json-able}``."""
    return script('import json\n' + ''.join(
        f'json.dump({v!r}, open({k!r}, "w"))\n' for k, v in files.items()))


def test_method_run_record(tmp_path):
    metrics = {'semseg/mIoU': 12.0, 'base/semseg/mIoU': 10.0,
               'delta/semseg/mIoU': 20.0, 'depth/rmse': 1.0,
               'delta_ttt': 20.0, 'ttt/steps': 4,
               'ttt/nonfinite_skips': 0}
    curve = dict(delta_ttt=[10.0, 30.0, 20.0], steps_per_batch=[2, 1, 1],
                 metrics=[{'semseg/mIoU': 11.0}] * 3,
                 base_metrics=[{'semseg/mIoU': 10.0}] * 3)
    out, cv = tmp_path / 'metrics.json', tmp_path / 'ttt_curve.json'
    info = dict(id='test/mixed/A/seed0', kind='test', method='A')
    spec = St.UnitSpec('test/mixed/A/seed0', 'test', dict(k=1),
                       str(tmp_path), info, dict(
                           info=info, cmd=write_files({str(out): metrics,
                                                       str(cv): curve}),
                           log=str(tmp_path / 'test.log'),
                           metrics_out=str(out), curve=str(cv),
                           overrides={'steps': 1}, passes=None,
                           batch_size=4, num_images=10, min_fraction=0.5))
    res = St.execute_unit(spec)
    assert res['status'] == 'done', res
    assert res['adapted'] == {'semseg/mIoU': 12.0, 'depth/rmse': 1.0}
    assert res['base'] == {'semseg/mIoU': 10.0}
    assert res['per_task'] == {'semseg/mIoU': 20.0}
    assert (res['delta_ttt'], res['steps'], res['nonfinite_skips']) == (
        20.0, 4, 0)
    assert [p['images'] for p in res['curve']] == [4, 8, 10]
    assert [p['steps'] for p in res['curve']] == [2, 3, 4]
    assert res['steps_per_batch'] == pytest.approx(4 / 3)
    # at least half of 3 batches: batch 2 (Δ 30) is the best step
    assert res['best_step']['batch'] == 2
    assert res['rc'] == 0 and res['wall_s'] > 0
    assert read_done(str(tmp_path), dict(k=1)) == res


def test_failures_are_records_with_the_log_tail(tmp_path):
    info = dict(kind='eval', source='plain')
    spec = St.UnitSpec('eval/x', 'eval', dict(k=2), str(tmp_path), info,
                       dict(info=info, cmd=script(
                           'import sys; print("bad thing"); sys.exit(3)'),
                           log=str(tmp_path / 'test.log'),
                           metrics_out=str(tmp_path / 'm.json')))
    res = St.execute_unit(spec)
    assert res['status'] == 'failed' and res['id'] == 'eval/x'
    assert 'exit code 3' in res['error'] and 'bad thing' in res['error']
    assert not (tmp_path / 'done.json').exists()
    # a run without Δ_TTT in its metrics
    out = tmp_path / 'metrics.json'
    spec = St.UnitSpec('test/y', 'test', dict(k=3), str(tmp_path),
                       dict(kind='test'), dict(
                           info={}, cmd=write_files({str(out): {'a': 1}}),
                           log=str(tmp_path / 't.log'), metrics_out=str(out),
                           curve=str(tmp_path / 'c.json'), overrides={},
                           batch_size=1, num_images=1, min_fraction=0.25))
    res = St.execute_unit(spec)
    assert res['status'] == 'failed' and 'no Δ_TTT' in res['error']
    # a result that cannot be read: named, the benchmark goes on
    spec.payload['batch_size'] = 'x'
    out.write_text(json.dumps({'delta_ttt': 1.0}))
    spec.payload['cmd'] = script('pass')
    (tmp_path / 'c.json').write_text(json.dumps({'delta_ttt': [1.0]}))
    res = St.execute_unit(spec)
    assert res['status'] == 'failed'
    assert 'in the benchmark, reading the results of test/y' in res['error']


def test_a_diverged_run_is_a_finished_record_without_delta(tmp_path):
    """Non-finite adapted predictions (more than the unadapted model's) and
    no Δ_TTT: a finished run that diverged, cached like any other (not a
    failure retried on every invocation); Δ_TTT None and no protocol reads
    it."""
    from trttt_mm.benchmark.protocols import protocol_view
    metrics = {'semseg/mIoU': 0.5, 'depth/rmse': 1e30,
               'semseg/nonfinite': 10.0, 'depth/nonfinite': 40.0,
               'base/semseg/nonfinite': 0.0, 'base/depth/nonfinite': 0.0,
               'ttt/steps': 2.0, 'ttt/nonfinite_skips': 2.0}
    assert St.diverged(metrics)
    assert not St.diverged({'semseg/nonfinite': 3.0,
                            'base/semseg/nonfinite': 3.0})
    assert not St.diverged({'semseg/mIoU': 1.0})
    out = tmp_path / 'metrics.json'
    info = dict(id='val/mixed/A/seed0/lr=1', kind='val', method='A')
    spec = St.UnitSpec(info['id'], 'test', dict(k=9), str(tmp_path), info,
                       dict(info=info, cmd=write_files({str(out): metrics}),
                            log=str(tmp_path / 't.log'),
                            metrics_out=str(out),
                            curve=str(tmp_path / 'c.json'),
                            overrides={'optimizer': {'lr': 1.0}},
                            batch_size=8, num_images=32,
                            min_fraction=0.25))
    res = St.execute_unit(spec)
    assert res['status'] == 'done' and res['diverged'] is True
    assert res['delta_ttt'] is None and res['best_step'] is None
    assert res['nonfinite'] == {'semseg/nonfinite': 10.0,
                                'depth/nonfinite': 40.0}
    assert res['nonfinite_skips'] == 2.0
    assert read_done(str(tmp_path), dict(k=9)) == res
    assert protocol_view(res, 'last') is None
    assert protocol_view(res, 'best') is None


def test_source_steps_and_missing_checkpoint(tmp_path):
    ckpt = tmp_path / 'iter_2.pth'
    info = dict(kind='source', source='plain', seed=0, config='c.py')
    spec = St.UnitSpec('source/plain/seed0', 'source', dict(k=4),
                       str(tmp_path), info, dict(
                           info=info, checkpoint=str(ckpt), steps=[dict(
                               step='train', iters=2,
                               log=str(tmp_path / 'train.log'),
                               cmd=script(f'open({str(ckpt)!r}, "w")'))]))
    res = St.execute_unit(spec)
    assert res['status'] == 'done'
    assert res['checkpoint'] == str(ckpt)
    assert [s['step'] for s in res['steps']] == ['train']
    assert res['steps'][0]['iters'] == 2
    ckpt.unlink()
    spec.payload['steps'][0]['cmd'] = script('pass')
    res = St.execute_unit(spec)
    assert res['status'] == 'failed' and 'no checkpoint' in res['error']


def test_cost_reads_the_last_json(tmp_path):
    info = dict(kind='cost', method='A', hook='H')
    spec = St.UnitSpec('cost/A', 'cost', dict(k=5), str(tmp_path), info,
                       dict(info=info, log=str(tmp_path / 'cost.log'),
                            cmd=script('print("x"); print(\'{"ratio": 2}\')')))
    res = St.execute_unit(spec)
    assert res['status'] == 'done' and res['micro'] == {'ratio': 2}
    spec.payload['cmd'] = script('print("no json")')
    res = St.execute_unit(spec)
    assert res['status'] == 'failed' and 'no JSON result' in res['error']
