"""trttt_mm.benchmark.report: the tables and report.md, on hand-built run
records."""
from test_benchmark_protocols import run

from trttt_mm.benchmark import report as R

CFG = dict(data=dict(height=64, width=96, num_target_val=16),
           train=dict(iters=40, batch_size=8), test=dict(batch_size=8),
           best_step=dict(min_fraction=0.25), source_only='plain',
           reference='R', recovery_method=['A'])


def test_table1_bold_mean_std_and_unavailable():
    runs = [run('A', 0, 2.0), run('A', 1, 4.0), run('B', 0, 5.0),
            run('B', 1, 7.0), run('B', 0, 99.0, family='content')]
    src = [dict(metrics={'semseg/mIoU': 9.0, 'depth/rmse': 1.2,
                         'normal/mean_angle': 31.0, 'edge/rmse': 0.5})]
    text = R.table1(runs, 'mixed', 'last', ['A', 'B'], src,
                    {'C': 'hook not registered'})
    lines = text.splitlines()
    assert lines[0].startswith('| method | mIoU')
    a = next(line for line in lines if line.startswith('| A |'))
    b = next(line for line in lines if line.startswith('| B |'))
    assert '+3.00 ± 1.41' in a and '| 2 |' in a  # mean ± sample std
    assert '**+6.00 ± 1.41**' in b  # best Δ_TTT in bold
    assert '**16.00 ± 1.41**' in b  # best mIoU (higher is better)
    assert '**0.400 ± 0.000**' in a  # a tie: both bold
    # depth RMSE: lower is better; B's 0.94 beats A's 0.97
    assert '**0.940 ± 0.014**' in b and '| 0.970 ± 0.014 |' in a
    assert '| Source only | 9.00 ± 0.00 |' in text
    assert '| C | not available: hook not registered |' in text
    best = R.table1(runs, 'mixed', 'best', ['A', 'B'])
    assert '**+7.00 ± 1.41**' in best
    assert R.table1(runs, 'geometry', 'last', ['A']).startswith('_no')


def test_shift_table_recovered_share():
    sv = [dict(seed=0, metrics={'semseg/mIoU': 60.0, 'depth/rmse': 0.5})]
    tg = [dict(seed=0, metrics={'semseg/mIoU': 20.0, 'depth/rmse': 1.5})]
    rec = [dict(seed=0, status='done',
                adapted={'semseg/mIoU': 30.0, 'depth/rmse': 1.0})]
    text = R.shift_table('mixed', sv, tg, {'NormStats': rec, 'Other': []})
    assert 'NormStats: recovered (% of the loss)' in text.splitlines()[0]
    miou = next(line for line in text.splitlines() if 'mIoU' in line)
    depth = next(line for line in text.splitlines() if 'depth' in line)
    assert '-66.7 ± 0.0' in miou and '+25.0 ± 0.0' in miou
    assert '+50.0 ± 0.0' in depth  # half of the depth loss recovered
    assert '-200.0 ± 0.0' in depth  # lower is better: the change is < 0
    assert depth.endswith('| — | — |')  # a method without runs
    assert R.shift_table('mixed', [], tg, {}).startswith('_no finished')


def test_shift_table_no_share_without_a_loss():
    """Where a family does not cost the source model at least
    MIN_LOSS_PCT % (or helps it), the recovered share would divide by noise:
    the table says n/a instead of a share of thousands of %."""
    sv = [dict(seed=0, metrics={'semseg/mIoU': 60.0, 'depth/rmse': 0.50,
                                'edge/rmse': 0.40})]
    tg = [dict(seed=0, metrics={'semseg/mIoU': 59.0, 'depth/rmse': 0.45,
                                'edge/rmse': 0.60})]
    rec = [dict(seed=0, status='done',
                adapted={'semseg/mIoU': 50.0, 'depth/rmse': 0.50,
                         'edge/rmse': 0.50})]
    text = R.shift_table('content', sv, tg, {'NormStats': rec})
    line = {k: next(x for x in text.splitlines() if k in x)
            for k in ('mIoU', 'depth', 'edge')}
    assert R.MIN_LOSS_PCT == 5.0
    assert line['mIoU'].endswith('| 50.00 ± 0.00 | n/a (loss < 5 %) |')
    assert line['depth'].endswith('| n/a (loss < 5 %) |')  # a gain
    assert line['edge'].endswith('| +50.0 ± 0.0 |')  # -50 %: half back
    # two seeds, a loss on one only: the share says so
    sv.append(dict(seed=1, metrics={'edge/rmse': 0.40}))
    tg.append(dict(seed=1, metrics={'edge/rmse': 0.41}))
    rec.append(dict(seed=1, status='done', adapted={'edge/rmse': 0.40}))
    text = R.shift_table('content', sv, tg, {'NormStats': rec})
    edge = next(x for x in text.splitlines() if 'edge' in x)
    assert edge.endswith('| +50.0 ± 0.0 (1 of 2 seeds) |')


def _summary_run(method, family, seed, d, kind='test'):
    return dict(method=method, family=family, seed=seed, kind=kind,
                status='done', delta_ttt=d, adapted={}, per_task={},
                base={})


def test_summary_table_per_method_and_family():
    r = _summary_run
    runs = [r('A', 'mixed', 0, 10.0), r('A', 'mixed', 1, 20.0),
            r('B', 'mixed', 0, 30.0), r('B', 'mixed', 1, 10.0),
            r('A', 'geometry', 0, -1.0), r('B', 'geometry', 0, -2.0),
            r('B', 'geometry', 1, -4.0),
            r('A', 'mixed', 0, 99.0, kind='selected')]
    text = R.summary_table(runs, ['geometry', 'mixed'], ['A', 'B', 'C'],
                           'last')
    lines = text.splitlines()
    assert lines[0] == '| method | geometry | mixed |'
    a = next(x for x in lines if x.startswith('| A '))
    b = next(x for x in lines if x.startswith('| B '))
    # A: geometry one seed (marked), the best there; mixed 15 ± 7.07
    assert a == '| A | **-1.0 ± 0.0 (1)** | +15.0 ± 7.1 |'
    # B: geometry -3 ± 1.41; mixed 20 ± 14.14, the best
    assert b == '| B | -3.0 ± 1.4 | **+20.0 ± 14.1** |'
    assert not any(x.startswith('| C ') for x in lines)  # no run
    sel = R.summary_table(runs, ['geometry', 'mixed'], ['A', 'B'],
                          'selected')
    assert '| A | — | **+99.0 ± 0.0 (1)** |' in sel
    assert R.summary_table([], ['mixed'], ['A'], 'last').startswith('_no')


def test_summary_table_on_a_common_reference():
    """Two methods with different source models: against the shared
    source-only reference the one whose own source started lower but ends
    at the same adapted metrics gets the same score."""
    def r(method, seed, base, adapted):
        return dict(method=method, family='appearance', seed=seed,
                    kind='test', status='done', delta_ttt=None,
                    adapted={'semseg/mIoU': adapted},
                    base={'semseg/mIoU': base}, per_task={})
    runs = [r('Own', 0, 5.0, 12.0), r('Plain', 0, 10.0, 12.0),
            r('Own', 1, 5.0, 15.0), r('Plain', 1, 10.0, 15.0)]
    common = {('appearance', 0): {'semseg/mIoU': 10.0},
              ('appearance', 1): {'semseg/mIoU': 10.0}}
    text = R.summary_table(runs, ['appearance'], ['Own', 'Plain'], 'last',
                           common)
    own = next(x for x in text.splitlines() if x.startswith('| Own '))
    plain = next(x for x in text.splitlines() if x.startswith('| Plain '))
    # +20 % and +50 % against the common 10.0: mean 35, std 21.2
    assert own == '| Own | **+35.0 ± 21.2** |'
    assert plain == '| Plain | **+35.0 ± 21.2** |'


def test_selection_table():
    results = {r['id']: r for r in [
        run('A', 0, 2.0), run('A', 1, 4.0),
        run('A', 0, 5.0, kind='selected'), run('A', 1, 7.0, kind='selected')]}
    choices = {('A', 'mixed'): dict(tag='optimizer-lr=0.1', default=False,
                                    validation_delta=1.5)}
    text = R.selection_table(results, choices, [0], ['mixed'], ['A', 'B'])
    assert 'seed(s) [0]' in text
    assert text.splitlines()[-1] == (
        '| mixed | A | `optimizer-lr=0.1` | +1.50 | +6.00 ± 1.41 | '
        '+3.00 ± 1.41 |')


def test_build_report_sections(tmp_path):
    """Every section of report.md from hand-built records: the summaries,
    the common reference, a family's shift table, Table 1 per protocol,
    Fig. 3, the paired comparison, the cost table, the selection and the
    failed units."""
    recs = [run('R', 0, 5.0), run('A', 0, 3.0), run('R', 1, 4.0),
            run('A', 1, 4.5), run('R', 0, 6.0, kind='selected'),
            run('A', 0, 3.0, kind='selected')]
    metrics = {'semseg/mIoU': 8.0, 'depth/rmse': 1.2,
               'normal/mean_angle': 40.0, 'edge/rmse': 0.5}
    recs += [dict(id=f'eval/{f}/plain/seed{s}', kind='eval', source='plain',
                  seed=s, family=f, status='done', metrics=metrics)
             for f in ('source_val', 'mixed') for s in (0, 1)]
    recs.append(dict(id='cost/R', kind='cost', method='R', status='failed',
                     error='exit code 1'))
    results = {r['id']: r for r in recs}
    for r in recs:
        r.setdefault('num_images', 16)
        r.setdefault('wall_s', 2.0)
    choices = {('R', 'mixed'): dict(tag='steps=1', default=False,
                                    validation_delta=1.0)}
    text = R.build_report(R.ReportInput(
        config_path='cfg.py', cfg=CFG, device='cpu', results=results,
        families=['mixed'], seeds=[0, 1], labels=['R', 'A'],
        unavailable={'X': 'why'}, choices=choices, select=True,
        selection_seeds=[0], work_dir=str(tmp_path)))
    for heading in ('# Benchmark report',
                    '## Summary: Δ_TTT (%) per method and family',
                    '## Summary on a common reference',
                    '## Family `mixed`', '### Shift: what the source model '
                    'loses, what A recovers', '### Table 1, last',
                    '### Table 1, best step (ORACLE', '### Table 1, selected',
                    '![Fig. 3, mixed](fig3_mixed.png)',
                    '### Paired comparison: R minus the best other method',
                    '## Cost', '## Selected hyper-parameters',
                    '## Failed units', 'Not available: X (why)'):
        assert heading in text, heading
    assert 'Config `cfg.py`; 2 seed(s) [0, 1]; image size 64×96; source ' \
        'training 40 iterations × batch 8' in text
    assert '*last*: R wins on 1 of 2 seed(s).' in text
    # R against A on its own: seeds 0 (+2.0) and 1 (-0.5); best step the
    # same differences; selected: seed 0 only (+3.0)
    assert '### R against each method, paired per seed' in text
    assert '| A | +0.75 ± 1.77 (1/0/1) | +0.75 ± 1.77 (1/0/1) | ' \
        '+3.00 ± 0.00 (1/0/0) |' in text
    assert '- `cost/R`: exit code 1' in text
    assert '| R (step not measured: see failed units) |' in text
    assert (tmp_path / 'fig3_mixed.png').read_bytes()[:4] == b'\x89PNG'
