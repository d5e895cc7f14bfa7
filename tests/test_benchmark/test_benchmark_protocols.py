"""trttt_mm.benchmark.protocols: the stream curve, best step, protocol
views, the common reference and the paired comparison."""
import pytest

from trttt_mm.benchmark import protocols as P


def _curve(deltas, steps):
    metrics = [{'semseg/mIoU': 10.0 + d, 'depth/rmse': 1.0} for d in deltas]
    base = [{'semseg/mIoU': 10.0, 'depth/rmse': 1.0} for _ in deltas]
    return dict(steps_per_batch=steps, delta_ttt=deltas, metrics=metrics,
                base_metrics=base)


def run(method, seed, delta, family='mixed', kind='test', miou=None):
    """A finished method run record (``best_step`` one point better)."""
    miou = 10.0 + delta if miou is None else miou
    return dict(id=f'{kind}/{family}/{method}/seed{seed}', kind=kind,
                method=method, seed=seed, family=family, status='done',
                adapted={'semseg/mIoU': miou, 'depth/rmse': 1.0 - delta / 100,
                         'normal/mean_angle': 30.0, 'edge/rmse': 0.4},
                base={'semseg/mIoU': 10.0}, per_task={},
                delta_ttt=delta, steps_per_batch=1.0,
                best_step=dict(delta_ttt=delta + 1, adapted={
                    'semseg/mIoU': miou + 1}, per_task={}, base={}),
                curve=[dict(batch=1, images=8, steps=1, delta_ttt=delta)])


def test_curve_points_and_best_step():
    pts = P.curve_points(_curve([9.0, 1.0, 4.0, 2.0], [2, 2, 0, 2]), 8, 30)
    assert [p['images'] for p in pts] == [8, 16, 24, 30]
    assert [p['steps'] for p in pts] == [2, 4, 4, 6]
    # mIoU 10 -> 19: +90 %
    assert pts[0]['per_task']['semseg/mIoU'] == pytest.approx(90.0)
    assert pts[0]['adapted'] == {'semseg/mIoU': 19.0, 'depth/rmse': 1.0}
    # 25 % of 4 batches: every prefix may win, the first one does
    assert P.best_step(pts, 0.25)['batch'] == 1
    # at least half of the stream: batch 3 (Δ 4.0) beats batch 4 (2.0)
    best = P.best_step(pts, 0.5)
    assert (best['batch'], best['delta_ttt'], best['steps'],
            best['min_batch']) == (3, 4.0, 4, 2)
    assert P.best_step([], 0.25) is None
    # ties: the earliest batch
    tie = P.curve_points(_curve([1.0, 3.0, 3.0], [1, 1, 1]), 4)
    assert P.best_step(tie, 0.25)['batch'] == 2
    # a statistics-only method records no step: its passes count
    pts = P.curve_points(_curve([1.0, 2.0], [0, 0]), 4, None, passes=3)
    assert [p['steps'] for p in pts] == [3, 6]
    # no Δ_TTT anywhere: no best step
    none = P.curve_points(dict(delta_ttt=[None, None]), 4)
    assert P.best_step(none, 0.25) is None


def test_protocol_views():
    r = run('A', 0, 2.0)
    assert P.protocol_view(r, 'last')['delta_ttt'] == 2.0
    assert P.protocol_view(r, 'selected')['delta_ttt'] == 2.0
    assert P.protocol_view(r, 'best')['delta_ttt'] == 3.0
    assert P.protocol_view(dict(r, status='failed'), 'last') is None
    assert P.protocol_view(dict(r, best_step=None), 'best') is None
    assert P.run_kind('selected') == 'selected'
    assert P.run_kind('best') == P.run_kind('last') == 'test'


def test_common_reference_takes_the_source_only_target_evaluations():
    evals = [dict(family='mixed', seed=0, source='plain', metrics={'a': 1}),
             dict(family='source_val', seed=0, source='plain',
                  metrics={'a': 2}),
             dict(family='mixed', seed=0, source='trttt', metrics={'a': 3})]
    assert P.common_reference(evals, 'plain') == {('mixed', 0): {'a': 1}}


def test_paired_comparison():
    runs = [run('R', 0, 5.0), run('X', 0, 3.0), run('Y', 0, 4.0),
            run('R', 1, 1.0), run('X', 1, 2.0), run('R', 2, 1.0)]
    pc = P.paired(runs, 'mixed', 'R', ['R', 'X', 'Y'])
    assert [r['seed'] for r in pc['rows']] == [0, 1]  # seed 2: R alone
    assert pc['rows'][0]['best_other'] == 'Y'
    assert pc['rows'][0]['diff'] == pytest.approx(1.0)
    assert pc['rows'][1]['diff'] == pytest.approx(-1.0)
    assert (pc['wins'], pc['seeds']) == (1, 2)
    # a control that reproduces the reference within TIE_POINTS is a tie
    runs = [run('R', 0, 5.0), run('C', 0, 5.0 - 1e-3), run('X', 0, 1.0),
            run('R', 1, 5.0), run('C', 1, 5.0 - 0.2)]
    pc = P.paired(runs, 'mixed', 'R', ['R', 'C', 'X'])
    assert P.TIE_POINTS == 0.05
    assert [r['tie'] for r in pc['rows']] == [True, False]
    assert [r['win'] for r in pc['rows']] == [False, True]
    assert (pc['wins'], pc['ties'], pc['seeds']) == (1, 1, 2)
    # the best-step protocol reads the best-step points
    pc = P.paired([run('R', 0, 5.0), run('X', 0, 3.0)], 'mixed', 'R',
                  ['R', 'X'], 'best')
    assert pc['rows'][0]['reference'] == 6.0


def test_head_to_head_pairs_each_method_on_the_shared_seeds():
    runs = [run('R', 0, 5.0), run('X', 0, 3.0), run('C', 0, 5.0 - 1e-3),
            run('R', 1, 1.0), run('X', 1, 2.0), run('C', 1, 0.5),
            run('R', 2, 4.0), run('C', 2, 4.0),
            run('X', 3, 9.0)]  # seed 3: no R, not paired
    rows = {r['method']: r for r in P.head_to_head(
        runs, 'mixed', 'R', ['R', 'X', 'C', 'Y'])}
    assert set(rows) == {'X', 'C'}  # Y never ran, R is the reference
    assert rows['X']['seeds'] == [0, 1]
    assert rows['X']['diffs'] == pytest.approx([2.0, -1.0])
    assert (rows['X']['wins'], rows['X']['ties'],
            rows['X']['losses']) == (1, 0, 1)
    assert rows['C']['seeds'] == [0, 1, 2]
    assert rows['C']['diffs'] == pytest.approx([1e-3, 0.5, 0.0])
    assert (rows['C']['wins'], rows['C']['ties'],
            rows['C']['losses']) == (1, 2, 0)
    # another family, or the other protocol's runs: nothing to pair
    assert P.head_to_head(runs, 'geometry', 'R', ['R', 'X']) == []
    assert P.head_to_head(runs, 'mixed', 'R', ['R', 'X'], 'selected') == []
    # the best-step protocol reads the best-step points (+1 each here)
    best = P.head_to_head(runs, 'mixed', 'R', ['R', 'X'], 'best')
    assert best[0]['diffs'] == pytest.approx([2.0, -1.0])
