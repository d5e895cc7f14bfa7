"""trttt_mm.benchmark.decomposition and the decomposition / learning-rate
parts of the report, on hand-built specs and run records."""
import pytest
from test_benchmark_protocols import run

from trttt_mm.benchmark import decomposition as D
from trttt_mm.benchmark import report as R
from trttt_mm.benchmark import selection as S
from trttt_mm.benchmark.figures import lr_figure, lr_points

METHODS = dict(
    NormStats=dict(hook='NormStatsHook', source='plain', lr_key='momentum',
                   steps_key='passes'),
    TENT=dict(hook='TENTHook', source='plain'),
    TRTTT=dict(hook='TRTTTHook', source='trttt',
               overrides=dict(optimizer=dict(lr=1e-3))),
    TRTTTStats=dict(hook='NormStatsHook', source='trttt',
                    overrides=dict(passes=10), lr_key='momentum',
                    steps_key='passes'),
    Off=dict(hook='TTTHook', source='ttt', decomposition=False),
)


def test_expand_generates_both_variants_of_every_gradient_method():
    m = D.expand(METHODS, True)
    assert list(m) == ['NormStats', 'TENT', 'TENTStats', 'TENTGrad',
                       'TRTTT', 'TRTTTStats', 'TRTTTGrad', 'Off']
    # statistics only: NormStatsHook on the method's own source, no grid
    assert m['TENTStats']['hook'] == 'NormStatsHook'
    assert m['TENTStats']['source'] == 'plain'
    assert D.generated(m, 'TENTStats') and D.generated(m, 'TRTTTGrad')
    # gradient only: the method with frozen statistics, its own overrides
    assert m['TRTTTGrad']['hook'] == 'TRTTTHook'
    assert m['TRTTTGrad']['overrides'] == dict(optimizer=dict(lr=1e-3),
                                               norm_mode='eval')
    # an existing control of the same source is used, not generated
    assert m['TRTTTStats']['overrides'] == dict(passes=10)
    assert not D.generated(m, 'TRTTTStats')
    assert m['TRTTT']['parts'] == dict(stats='TRTTTStats', grad='TRTTTGrad')
    # the method's own entry is unchanged (its cache key too)
    assert m['TRTTT']['overrides'] == METHODS['TRTTT']['overrides']
    assert S.grid(m['TENTGrad'], {}, dict(lr_factors=[1.0], steps=[1])) \
        == []
    assert D.decomposed(m, list(m)) == ['TENT', 'TRTTT']
    assert D.decomposed(m, ['TENT', 'TENTStats']) == []
    assert D.expand(METHODS, False) == METHODS


def test_a_method_may_name_its_own_controls():
    """TENT forgets the running statistics: its statistics-only control is
    TENT with learning rate 0 (the config's entry, kept, not generated),
    and its gradient-only variant also keeps the source statistics
    (grad_overrides merged after norm_mode='eval'); the other methods'
    variants are as before (their cache keys too)."""
    methods = dict(
        METHODS,
        TENT=dict(hook='TENTHook', source='plain',
                  grad_overrides=dict(running_stats='update')),
        TENTStats=dict(hook='TENTHook', source='plain',
                       overrides=dict(optimizer=dict(lr=0.0)), lr_key=None,
                       decomposition=False))
    m = D.expand(methods, True)
    assert m['TENTStats']['hook'] == 'TENTHook'
    assert m['TENTStats']['overrides'] == dict(optimizer=dict(lr=0.0))
    assert not D.generated(m, 'TENTStats')
    assert m['TENTGrad']['overrides'] == dict(norm_mode='eval',
                                              running_stats='update')
    assert 'grad_overrides' not in m['TENTGrad']
    assert m['TENT']['parts'] == dict(stats='TENTStats', grad='TENTGrad')
    assert m['TRTTTGrad']['overrides'] == dict(optimizer=dict(lr=1e-3),
                                               norm_mode='eval')
    # TENTStats is no method of its own to decompose
    assert 'TENTStatsGrad' not in m


def test_expand_errors_name_the_entry():
    with pytest.raises(SystemExit, match='decomposition must be true or '
                       'false'):
        D.expand(METHODS, 'yes')
    bad = dict(METHODS, TENTStats=dict(hook='NormStatsHook', source='ttt'))
    with pytest.raises(SystemExit, match='methods.TENTStats exists but is '
                       "neither NormStatsHook nor TENTHook on source "
                       "'plain'"):
        D.expand(bad, True, 'b.py')
    bad = dict(METHODS, TENTStats=dict(hook='TIPIHook', source='plain'))
    with pytest.raises(SystemExit, match='neither NormStatsHook nor '
                       'TENTHook'):
        D.expand(bad, True, 'b.py')
    bad = dict(METHODS, TENTGrad=dict(hook='TENTHook', source='plain'))
    with pytest.raises(SystemExit, match='methods.TENTGrad exists'):
        D.expand(bad, True)


def test_resolve_and_selected_settings():
    m = D.expand(METHODS, True)
    defaults = dict(TENT=dict(steps=1), TRTTT=dict(steps=10),
                    Off=dict(steps=3))
    D.resolve(m, lambda lab: defaults[lab])
    assert m['TENTStats']['overrides'] == dict(passes=1)
    assert m['TRTTTStats']['overrides'] == dict(passes=10)  # as written
    spec = m['TRTTT']
    sel = {'optimizer.lr': 0.2, 'steps': 4}
    assert D.variant_setting('grad', spec, defaults['TRTTT'], sel) == sel
    assert D.variant_setting('stats', spec, defaults['TRTTT'], sel) == \
        {'passes': 4}
    # only the learning rate selected: the control keeps its default passes
    assert D.variant_setting('stats', spec, defaults['TRTTT'],
                             {'optimizer.lr': 0.2}) == {}
    assert D.method_steps(spec, defaults['TRTTT']) == 10
    assert D.method_steps(spec, defaults['TRTTT'], sel) == 4
    assert D.method_steps(dict(steps_key=None), {}) is None


def test_resolve_leaves_a_method_without_config_alone():
    m = D.expand(dict(TENT=dict(hook='TENTHook', source='missing')), True)

    def defaults(label):
        raise FileNotFoundError('configs/none.py')

    D.resolve(m, defaults)
    assert 'overrides' not in m['TENTStats']


def test_huge_values_are_written_in_scientific_notation():
    from trttt_mm.benchmark.stats import fmt_ms
    assert fmt_ms(-3.2e23, 4.5e23, 2, True) == '-3.2e+23 ± 4.5e+23'
    assert fmt_ms(12.345, 1.0, 2, True) == '+12.35 ± 1.00'
    assert fmt_ms(None, None) == '—'


def test_interaction_is_paired_per_seed():
    views = dict(stats={0: 10.0, 1: 12.0, 2: 50.0},
                 grad={0: 1.0, 1: -2.0},
                 both={0: 13.0, 1: 9.0})
    vals = D.seed_values(views)
    # seed 2 lacks two parts: left out of every column
    assert vals['stats'] == [10.0, 12.0]
    assert vals['interaction'] == [13.0 - 10.0 - 1.0, 9.0 - 12.0 + 2.0]
    assert D.interaction(3.0, 4.0, 7.0) == 0.0  # the parts add up


def test_decomposition_table():
    m = D.expand(METHODS, True)
    runs = [run('TRTTT', 0, 13.0), run('TRTTT', 1, 9.0),
            run('TRTTTStats', 0, 10.0), run('TRTTTStats', 1, 12.0),
            run('TRTTTGrad', 0, 1.0), run('TRTTTGrad', 1, -2.0),
            run('TENT', 0, 5.0), run('TENTStats', 0, 5.0),
            run('TRTTT', 0, 20.0, kind='selected'),
            # the config's own control, at its own selected momentum
            run('TRTTTStats', 0, 30.0, kind='selected'),
            run('TRTTTGrad', 0, 8.0, kind='selected')]
    text = R.decomposition_table(runs, m, ['mixed'], list(m), 'last')
    row = next(line for line in text.splitlines()
               if line.startswith('| TRTTT |'))
    # stats 11 ± 1.41, grad -0.5 ± 2.12, both 11 ± 2.83, interaction
    # (2.0, -1.0): +0.50 ± 2.12
    assert row == ('| TRTTT | mixed | +11.00 ± 1.41 | -0.50 ± 2.12 | '
                   '+11.00 ± 2.83 | +0.50 ± 2.12 | 2 |')
    assert '| TENT |' not in text  # its gradient-only run is missing
    sel = R.decomposition_table(runs, m, ['mixed'], list(m), 'selected')
    # the selected protocol reads TRTTTStats (a control with a grid of its
    # own) at its default: seed 0's test run (10), not its selection (30)
    assert ('| TRTTT | mixed | +10.00 ± 0.00 | +8.00 ± 0.00 | +20.00 ± 0.00 '
            '| +2.00 ± 0.00 | 1 |') in sel
    best = R.decomposition_table(runs, m, ['mixed'], list(m), 'best')
    # the best step of each run (one point better in these records)
    assert '| +12.00 ± 1.41 | +0.50 ± 2.12 | +12.00 ± 2.83 | -0.50 ± ' \
        '2.12 |' in best
    assert R.decomposition_table(runs, m, ['content'], list(m),
                                 'last').startswith('_no method')


def _choice(lrs, deltas, selected):
    grid = [dict(setting={'optimizer.lr': a, 'steps': 10},
                 validation_delta=d) for a, d in zip(lrs, deltas)]
    return dict(setting={'optimizer.lr': selected, 'steps': 10},
                tag=S.tag({'optimizer.lr': selected, 'steps': 10}),
                validation_delta=max(deltas), grid=grid, default=False)


def test_lr_edge_and_selection_table_mark(tmp_path):
    lrs = [2e-7, 2e-5, 2e-3, 2e-1]
    high = _choice(lrs, [1.0, 1.0, 2.0, 5.0], 2e-1)
    inner = _choice(lrs, [1.0, 3.0, 2.0, 0.0], 2e-5)
    low = _choice(lrs, [4.0, 3.0, 2.0, 0.0], 2e-7)
    assert S.lr_edge(high, 'optimizer.lr') == 'high'
    assert S.lr_edge(inner, 'optimizer.lr') is None
    assert S.lr_edge(low, 'optimizer.lr') == 'low'
    assert S.lr_edge(high, 'momentum') is None  # not a grid over it
    assert S.lr_edge(_choice([2e-5], [1.0], 2e-5), 'optimizer.lr') is None
    results = {r['id']: r for r in [run('A', 0, 2.0), run('B', 0, 1.0)]}
    choices = {('A', 'mixed'): high, ('B', 'mixed'): inner}
    text = R.selection_table(results, choices, [0], ['mixed'], ['A', 'B'],
                             dict(A={}, B={}))
    a = next(line for line in text.splitlines() if '| A |' in line)
    b = next(line for line in text.splitlines() if '| B |' in line)
    assert '⚠ highest lr of the grid' in a and '⚠' not in b
    # the figure: one curve per method at the selected steps
    assert lr_points(high, 'optimizer.lr') == list(zip(lrs,
                                                       [1.0, 1.0, 2.0, 5.0]))
    png = tmp_path / 'lr.png'
    assert lr_figure(choices, dict(A={}, B={}), 'mixed', ['A', 'B'],
                     str(png))
    assert png.read_bytes()[:4] == b'\x89PNG'
    assert not lr_figure(choices, {}, 'content', ['A'],
                         str(tmp_path / 'none.png'))


def test_a_diverged_rate_bounds_the_grid_and_is_never_chosen(tmp_path):
    """ActMAD-like: x1e4 diverges. choose() never picks it, lists it; the
    rate below it is then not on the grid's edge (the grid reached a rate
    that diverges), the selection table names it and the figure draws
    it."""
    lrs = [1e-6, 1e-4, 1e-2]
    setting = [dict({'optimizer.lr': a, 'steps': 10}) for a in lrs]
    scores = [(1.0, setting[0]), (2.0, setting[1]), (5.0, setting[2])]
    bad = {'optimizer.lr': 1.0, 'steps': 10}
    ch = S.choose(scores, {'optimizer.lr': 1e-4, 'steps': 10}, [bad])
    assert ch['setting'] == setting[2] and ch['diverged'] == [bad]
    assert S.lr_edge(ch, 'optimizer.lr') is None
    assert S.lr_edge(dict(ch, diverged=[]), 'optimizer.lr') == 'high'
    assert 'diverged' not in S.choose(scores, {})
    results = {r['id']: r for r in [run('A', 0, 2.0)]}
    text = R.selection_table(results, {('A', 'mixed'): ch}, [0], ['mixed'],
                             ['A'], dict(A={}))
    line = next(x for x in text.splitlines() if '| A |' in x)
    assert '⚠' not in line
    assert 'diverged (non-finite predictions): `optimizer-lr=1_steps=10`' \
        in line
    png = tmp_path / 'lr.png'
    assert lr_figure({('A', 'mixed'): ch}, dict(A={}), 'mixed', ['A'],
                     str(png))
    assert png.read_bytes()[:4] == b'\x89PNG'


def test_per_method_lr_factors_and_checks():
    hs = dict(lr_factors=[1.0], steps=['default'])
    g = S.grid(dict(lr_factors=[1e-2, 1e4]), dict(optimizer=dict(lr=2e-5),
                                                    steps=10), hs)
    assert [c['optimizer.lr'] for c in g] == pytest.approx([2e-7, 0.2])
    assert [c['steps'] for c in g] == [10, 10]
    with pytest.raises(SystemExit, match='m.lr_factors must be a non-empty '
                       'list of positive numbers'):
        S.lr_factors([1.0, 0.0], 'm.lr_factors')
    assert S.lr_factors([1, 10], 'x') == [1.0, 10.0]


def test_runner_variants_follow_the_selected_setting(tmp_path):
    """In the selected protocol the gradient-only variant runs with its
    method's selected learning rate (and frozen statistics); the statistics
    control, its passes the selected steps (here the default ones), reuses
    its test runs; neither has a grid of its own. The generated statistics control
    has as many passes as the method's steps."""
    from test_benchmark_runner import CONFIG, MadeUpExecutor

    from trttt_mm.benchmark.runner import Benchmark
    from trttt_mm.benchmark.spec import load_benchmark_config
    cfg = load_benchmark_config(CONFIG, quick=True)
    top = max(cfg['hparam_selection']['lr_factors'])

    def made_up(spec):
        over = spec.payload['overrides']
        if spec.rid.startswith('val/'):  # the largest lr is best
            return dict(delta_ttt=over['optimizer']['lr'])
        return dict(delta_ttt=1.0, overrides=over)

    ex = MadeUpExecutor(made_up)
    b = Benchmark(cfg, CONFIG, str(tmp_path), 1, 1, True, False, 'cpu',
                  executor=ex)
    steps = b.method_defaults('TTT')['steps']
    assert b.method_defaults('TTTStats')['passes'] == steps
    assert b.method_defaults('TTTGrad')['norm_mode'] == 'eval'
    b.record('source/ttt/seed0', dict(id='source/ttt/seed0',
                                        status='done', checkpoint='x.pth'))
    b.record('test/mixed/TTTStats/seed0',
             dict(id='test/mixed/TTTStats/seed0', status='done',
                  delta_ttt=3.0))
    labels = ['TTT', 'TTTStats', 'TTTGrad']
    grids = {lab: b.grid(lab) for lab in labels}
    assert grids['TTTStats'] == grids['TTTGrad'] == []
    b.select_hparams(['mixed'], [0], labels, grids)
    assert not [r for r in ex.ran if r.startswith('val/') and 'TTTG' in r]
    lr = b.method_defaults('TTT')['optimizer']['lr']
    tag = b.choices[('TTT', 'mixed')]['tag']
    assert b.choices[('TTT', 'mixed')]['setting']['optimizer.lr'] == \
        pytest.approx(top * lr)
    grad = b.results[f'selected/mixed/TTTGrad/seed0/{tag}']
    assert grad['overrides']['optimizer']['lr'] == pytest.approx(top * lr)
    assert grad['overrides']['norm_mode'] == 'eval'
    # the selected steps are the default ones: the control's test run
    stats = b.results[f'selected/mixed/TTTStats/seed0/passes={steps}']
    assert stats['reused'] == 'test/mixed/TTTStats/seed0'
    assert ('TTTGrad', 'mixed') not in b.choices
