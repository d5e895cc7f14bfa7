"""trttt_mm.benchmark.cost: the command, its output, the cost table."""
import pytest

from trttt_mm.benchmark import cost as C


def test_command_and_output():
    cmd = C.cost_command('py', 'cfg.py', 'TRTTTHook', 8, 64, 96, 2)
    assert cmd == ['py', 'tools/analysis/benchmark_ttt_step.py', 'cfg.py',
                   '--hook', 'TRTTTHook', '--batch-size', '8', '--height',
                   '64', '--width', '96', '--repeats', '2']
    text = 'log line\n{"a": 1}\nnoise\n{"ttt_step_s": 0.5,\n "ratio": 2}'
    assert C.parse_cost_output(text) == {'ttt_step_s': 0.5, 'ratio': 2}
    with pytest.raises(ValueError):
        C.parse_cost_output('no json here')


def test_cost_table_numbers():
    tests = [dict(id=f'test/mixed/A/seed{s}', kind='test', method='A',
                  status='done', steps_per_batch=spb, num_images=16,
                  wall_s=w, max_rss_mib=rss)
             for s, spb, w, rss in ((0, 10, 4.0, 500.0), (1, 10, 8.0, 700.0))]
    results = {r['id']: r for r in tests}
    results['cost/A'] = dict(id='cost/A', kind='cost', status='done',
                             micro=dict(ttt_step_s=0.25, plain_fwd_bwd_s=0.1,
                                        ratio=2.5,
                                        peak_mem_mib_after_ttt=800.4))
    results['cost/B'] = dict(id='cost/B', kind='cost', status='failed')
    text = C.cost_table(results, ['A', 'B'], 8)
    a = next(x for x in text.splitlines() if x.startswith('| A '))
    # adaptation: 8 / (10 x 0.25) = 3.2 images/s; run: mean(16/4, 16/8) = 3
    assert a == ('| A | 10 | 0.2500 | 0.1000 | 2.50 | 3.2 | 3.00 | 800 / '
                 '700 |')
    b = next(x for x in text.splitlines() if x.startswith('| B '))
    assert b == ('| B (step not measured: see failed units) | — | — | — | '
                 '— | — | — | — / — |')
