"""Figures in README and docs agree with their sources: parameter counts
with the models the configs build, derived figures with the figures they
are derived from, the benchmark's figures with its committed report
(docs/benchmark_report.md, written by `tools/benchmark.py
configs/benchmark/synth.py --select-hparams`)."""
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmseg.registry import MODELS

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def read(page):
    with open(osp.join(ROOT, page), encoding='utf-8') as f:
        # one line per paragraph, ASCII minus signs
        return f.read().replace('−', '-')


def flat(text):
    return re.sub(r'\s+', ' ', text)


def number(text):
    return float(text.replace(',', ''))


@pytest.fixture(scope='module')
def counts():
    """(base, projection + TRL) parameters of a config's model, counted as
    tools/analysis/benchmark_ttt_step.py counts them."""
    import trttt_mm  # noqa: F401
    init_default_scope('mmseg')
    cache = {}

    def count(config, **options):
        key = (config, tuple(sorted(options.items())))
        if key not in cache:
            cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
            cfg.merge_from_dict(options)
            model = MODELS.build(cfg.model)

            def n(module):
                return 0 if module is None else sum(
                    p.numel() for p in module.parameters())

            cache[key] = (n(model.backbone) + n(model.neck)
                          + n(model.decode_head), n(model.aux_heads))
        return cache[key]

    return count


def pct(base_extra):
    base, extra = base_extra
    return 100.0 * extra / base


def test_parameter_overheads_are_those_of_the_models(counts):
    bench = read('docs/benchmarks.md')
    section = bench.split('## Parameter overhead')[1].split('\n## ')[0]
    rows = re.findall(r'^\| `configs/([\w/]+\.py)`[^|]*\| ([\d,]+) \| '
                      r'([\d,]+) \| \**\+([\d.]+) %', section, re.M)
    assert len(rows) >= 2, section
    for config, base, extra, overhead in rows:
        b, e = counts(config)
        assert (number(base), number(extra)) == (b, e), config
        assert float(overhead) == round(pct((b, e)), 2), config
    # docs/methods.md: the paper-scale variants of the TRL
    methods = read('docs/methods.md')
    section = methods.split('#### Parameters (paper scale')[1]
    section = section.split('\n#### ')[0].split('Compact breakdown')[0]
    base = re.search(r'paper configs, ([\d,]+) parameters', section)
    assert number(base.group(1)) == counts('trttt/t2n.py')[0]
    variants = {
        '`t2n.py` (per_task, default)': ('trttt/t2n.py', {}),
        '`released/t2n.py`': ('trttt/released/t2n.py', {}),
        '`t2n.py` + `share_patch_embed=True` only': (
            'trttt/t2n.py',
            {'model.aux_heads.relation.learner.share_patch_embed': True}),
        '**`t2n_compact.py`**': ('trttt/t2n_compact.py', {}),
    }
    for label, (config, options) in variants.items():
        row = [ln for ln in section.splitlines()
               if ln.startswith('| ' + label)]
        assert len(row) == 1, label
        cells = [c.strip(' *') for c in row[0].split('|')[1:-1]]
        extra, overhead = number(cells[2]), float(
            re.match(r'\+([\d.]+) %', cells[3]).group(1))
        assert extra == counts(config, **options)[1], label
        assert overhead == round(pct(counts(config, **options)), 2), label
    # README rounds them to one decimal
    readme = flat(read('README.md'))
    full, compact = pct(counts('trttt/t2n.py')), pct(
        counts('trttt/t2n_compact.py'))
    assert f'add {full:.1f} % parameters to the ResNet-50 model' in readme
    assert f'compact TRL: {compact:.1f} %' in readme
    assert f'+{compact:.1f} % parameters instead of +{full:.1f} %' in readme


def test_demo_speed_up_follows_from_the_stated_times():
    text = flat(read('docs/benchmarks.md'))
    new = re.search(r'\*\*(\d+) min (\d+) s\*\* wall', text)
    old = re.search(r'\*\*(\d+) min (\d+) s\*\* \(training', text)
    new_s = int(new.group(1)) * 60 + int(new.group(2))
    old_s = int(old.group(1)) * 60 + int(old.group(2))
    cut = re.search(r"cuts the demo's wall time by (\d+) % \((\d+) s against "
                    r'(\d+) s\)', text)
    assert (int(cut.group(2)), int(cut.group(3))) == (new_s, old_s)
    assert int(cut.group(1)) == round(100 * (1 - new_s / old_s))
    scaled = re.search(r'([\d.]+) min \(0\.57 s per iteration\) would take '
                       r'about ([\d.]+) × (\d+)/(\d+) ≈ ([\d.]+) min', text)
    minutes = float(scaled.group(1))
    assert float(scaled.group(2)) == minutes
    assert (int(scaled.group(3)), int(scaled.group(4))) == (new_s, old_s)
    assert float(scaled.group(5)) == round(minutes * new_s / old_s, 1)


def test_benchmark_counts_and_time_estimates_agree():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'benchmark', 'synth.py'))
    methods = len(cfg.methods)
    text = flat(read('docs/benchmarks.md'))
    assert f'{methods} method entries' in text
    assert f'Results of the full run (3 seeds, {methods} methods' in text
    readme = flat(read('README.md'))
    assert f'{methods} methods × 4 shift families × 3 seeds' in readme
    # each run count is the product it states
    for entries, seeds, families, units in re.findall(
            r'(\d+) entries[^|]*× (\d+) seeds × (\d+) families \| (\d+) \|',
            text):
        assert int(entries) * int(seeds) * int(families) == int(units)
    # the full run's wall time is the sum of its invocations, wherever it
    # is stated
    parts = re.search(r'invocations took ([\d.]+) \+ ([\d.]+) \+ ([\d.]+) '
                      r'= ([\d.]+) min', text)
    total = round(sum(float(x) for x in parts.groups()[:3]), 1)
    assert total == float(parts.group(4))
    for page in (text, readme):
        for stated in re.findall(r'full run with `--select-hparams` took '
                                 r'([\d.]+) min', page):
            assert float(stated) == total


def report_tables(report):
    """{protocol: {method: [cells per family]}} of the report's summary
    (each method against its own source model)."""
    summary = report.split('## Summary: Δ_TTT (%) per method and family')[1]
    summary = summary.split('\n## ')[0]
    tables = {}
    for protocol, body in re.findall(r'^\*([a-z ]+?) \([^\n]*\*\n\n(.*?)'
                                     r'(?=\n\n|\Z)', summary, re.S | re.M):
        rows = {}
        for line in body.splitlines()[2:]:
            cells = [c.strip(' *') for c in line.split('|')[1:-1]]
            rows[cells[0]] = cells[1:]
        tables[protocol] = rows
    return tables


def test_benchmark_figures_are_the_reports():
    report = read('docs/benchmark_report.md')
    tables = report_tables(report)
    assert set(tables) == {'last', 'best step', 'selected'}
    # every mean ± std of the README's benchmark paragraph is in the report
    readme = flat(read('README.md'))
    paragraph = readme.split('**Benchmark**')[1].split('**Cost**')[0]
    figures = re.findall(r'[+-]?\d+\.\d ± \d+\.\d', paragraph)
    assert len(figures) >= 4
    cells = {c for t in tables.values() for row in t.values() for c in row}
    missing = [f for f in figures if f not in cells]
    assert not missing, f'README figures not in the report: {missing}'
    # the paired comparison on the appearance shift, as the README says it
    paired = re.search(r'## Family `appearance`.*?\*last\*: TRTTT wins on '
                       r'(\d+), ties \(within [\d.]+ points\) on (\d+) of '
                       r'(\d+) seed', report, re.S)
    wins, ties, seeds = paired.groups()
    assert (f'paired comparison counts {wins} wins and {ties} ties in '
            f'{seeds} seeds') in paragraph
    # TRTTTStats equals TR-TTT exactly in the protocols the docs say
    same = [p for p, t in tables.items() if t['TRTTT'] == t['TRTTTStats']]
    assert sorted(same) == ['best step', 'last']
    for page in ('README.md', 'docs/benchmarks.md'):
        text = flat(read(page))
        assert 'every family and seed to 0.01' not in text
        assert 'every family and every seed to within 0.01' not in text
    bench = flat(read('docs/benchmarks.md'))
    assert ('In the *last* and *best step* protocols (each method\'s '
            'default schedule) it gives TR-TTT\'s Δ_TTT on **every family**'
            ) in bench
