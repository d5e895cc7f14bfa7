"""tools/analysis/gradient_signal.py: the oracle gradient-signal diagnostic.

Hand-built cases (a linear model whose losses are computed by hand, a real
multi-task model whose objective is its own supervised loss, an objective
on parameters the supervised loss does not read), the exact restoration of
the model, and a smoke run of the command line on a tiny config for three
hooks (one without a gradient) and the --plot mode.
"""
import json

import pytest
import torch
import torch.nn as nn

from model_helpers import make_batch, small_model_cfg
from tool_helpers import load_tool


@pytest.fixture(scope='module')
def gs():
    return load_tool('analysis/gradient_signal')


# ------------------------------------------------------------ linear model
class TwoVectors(nn.Module):
    """``a`` is read by the supervised loss, ``b`` only by some objectives;
    a buffer that an objective may move (as norm statistics do)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
        self.b = nn.Parameter(torch.tensor([0.3, 0.7], dtype=torch.float64))
        self.register_buffer('stat', torch.zeros(2, dtype=torch.float64))


def batches():
    x0 = torch.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]],
                      dtype=torch.float64)
    y0 = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64)
    x1 = torch.tensor([[-1.0, 1.0], [3.0, 0.5]], dtype=torch.float64)
    y1 = torch.tensor([2.0, 0.5], dtype=torch.float64)
    return (x0, y0), (x1, y1)


def mse(w, batch):
    x, y = batch
    return ((x @ w - y) ** 2).mean()


def linear_probe(gs, model, objective, params=('a', )):
    named = [(n, getattr(model, n)) for n in params]
    return gs.Probe(model, named, objective=objective,
                    supervised=lambda batch: mse(model.a, batch))


def test_lookahead_equals_the_loss_change_by_hand(gs):
    """One SGD step along the objective's gradient: the recorded relative
    change is (L(w - lr g) - L(w)) / L(w), same batch and next batch,
    computed here by hand; the cosine and the norms too."""
    model = TwoVectors()
    c = torch.tensor([0.5, 0.5], dtype=torch.float64)
    probe = linear_probe(
        gs, model, lambda batch: 0.5 * ((model.a - c) ** 2).sum())
    b0, b1 = batches()
    lrs = [0.01, 0.1, 1.0]
    rec = gs.measure_batch(probe, b0, b1, lrs,
                           torch.Generator().manual_seed(0))

    w = torch.tensor([1.0, -2.0], dtype=torch.float64)
    g_obj = w - c  # gradient of 0.5 |w - c|^2
    x, y = b0
    g_sup = 2 / len(y) * x.T @ (x @ w - y)
    assert rec['grad_norm_objective'] == pytest.approx(
        float(g_obj.norm()), rel=1e-12)
    assert rec['grad_norm_supervised'] == pytest.approx(
        float(g_sup.norm()), rel=1e-12)
    assert rec['cosine'] == pytest.approx(
        float(g_obj @ g_sup / (g_obj.norm() * g_sup.norm())), rel=1e-12)
    for i, lr in enumerate(lrs):
        w1 = w - lr * g_obj
        for which, batch in (('same', b0), ('next', b1)):
            before, after = float(mse(w, batch)), float(mse(w1, batch))
            assert rec['lookahead'][which][i] == pytest.approx(
                (after - before) / before, rel=1e-10, abs=1e-14)
    # the oracle control steps along g_sup with |g_obj|
    d = g_sup / g_sup.norm() * g_obj.norm()
    for i, lr in enumerate(lrs):
        before, after = float(mse(w, b0)), float(mse(w - lr * d, b0))
        assert rec['oracle']['same'][i] == pytest.approx(
            (after - before) / before, rel=1e-10)
    # the random control: the mean over +r and -r of the change, i.e. the
    # curvature term lr^2 mean((x r)^2) of this quadratic loss
    r, = gs.random_direction([g_obj], torch.Generator().manual_seed(0))
    assert float(r.norm()) == pytest.approx(float(g_obj.norm()), rel=1e-12)
    for i, lr in enumerate(lrs):
        expected = lr ** 2 * float(((x @ r) ** 2).mean()) / float(mse(w, b0))
        assert rec['random']['same'][i] == pytest.approx(expected, rel=1e-8)
    # no optimizer given: no hook step; nothing moved: no statistics part
    assert rec['hook_step'] is None and rec['stats_only'] is None
    # the model is back where it started, exactly
    assert torch.equal(model.a.detach(), w)


def test_objective_equal_to_supervised_gives_cosine_one(gs):
    model = TwoVectors()
    probe = linear_probe(gs, model, lambda batch: mse(model.a, batch))
    b0, b1 = batches()
    rec = gs.measure_batch(probe, b0, b1, [0.05, 0.5],
                           torch.Generator().manual_seed(0))
    assert rec['cosine'] == pytest.approx(1.0, abs=1e-12)
    assert rec['lookahead'] == rec['oracle']
    # a small step along the supervised gradient lowers the loss
    assert rec['lookahead']['same'][0] < 0


def test_objective_on_other_parameters_gives_cosine_zero(gs):
    """The objective reads only ``b``, the supervised loss only ``a``: the
    gradients have disjoint supports, cosine 0, and no step along the
    objective changes the supervised loss."""
    model = TwoVectors()
    probe = linear_probe(gs, model, lambda batch: (model.b ** 2).sum(),
                         params=('a', 'b'))
    b0, b1 = batches()
    rec = gs.measure_batch(probe, b0, b1, [0.1, 10.0],
                           torch.Generator().manual_seed(0))
    assert rec['grad_norm_objective'] > 0 and rec['grad_norm_supervised'] > 0
    assert rec['cosine'] == 0.0
    assert rec['lookahead']['same'] == [0.0, 0.0]
    assert rec['lookahead']['next'] == [0.0, 0.0]
    assert rec['groups']['a']['cosine'] is None  # objective's part is 0
    assert rec['groups']['b']['grad_norm_supervised'] == 0.0


def test_moved_statistics_are_measured_and_restored(gs):
    """An objective that moves a buffer (as a norm layer in train mode
    does): the statistics-only change is recorded, every look-ahead starts
    from the moved buffer, and the batch ends with the buffer (and the
    parameters) exactly as before."""
    model = TwoVectors()

    def objective(batch):
        with torch.no_grad():
            model.stat.add_(1.0)
        return 0.5 * (model.a ** 2).sum()

    def supervised(batch):
        return mse(model.a + model.stat, batch)

    probe = gs.Probe(model, [('a', model.a)], objective, supervised,
                     optimizer=lambda ts: torch.optim.SGD(ts, lr=0.1))
    b0, b1 = batches()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rec = gs.measure_batch(probe, b0, b1, [0.1],
                           torch.Generator().manual_seed(0))
    w = torch.tensor([1.0, -2.0], dtype=torch.float64)
    l0 = float(mse(w, b0))
    assert rec['stats_only']['same'] == pytest.approx(
        (float(mse(w + 1, b0)) - l0) / l0, rel=1e-12)
    assert rec['lookahead']['same'][0] == pytest.approx(
        (float(mse(0.9 * w + 1, b0)) - l0) / l0, rel=1e-12)
    # the method's own optimizer (SGD lr 0.1) takes the same step
    assert rec['hook_step']['same'] == pytest.approx(
        rec['lookahead']['same'][0], rel=1e-12)
    assert rec['hook_step']['optimizer'] == 'SGD'
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_random_direction_and_grid(gs):
    grads = [torch.randn(3, 4), torch.randn(5)]
    r = gs.random_direction(grads, torch.Generator().manual_seed(1))
    assert [t.shape for t in r] == [t.shape for t in grads]
    assert gs.grad_norm(r) == pytest.approx(gs.grad_norm(grads), rel=1e-6)
    assert abs(gs.cosine(r, grads)) < 0.9
    grid = gs.lr_grid(2e-5, (-1, 6), 2)
    assert len(grid) == 15 and 2e-5 in grid
    assert len(gs.lr_grid(1.0)) == 19  # default: x1e-3 ... x1e6
    assert grid[0] == pytest.approx(2e-6) and grid[-1] == pytest.approx(20.0)
    with pytest.raises(ValueError, match='--lrs'):
        gs.lr_grid(0.0)
    assert gs.cosine([torch.zeros(3)], [torch.ones(3)]) is None
    # a step that blew the model up is no number
    assert gs.relative_change(float('inf'), 1.0) is None


def test_summary_helps_only_beyond_threshold_and_random(gs):
    lrs = [1e-3, 1e-2, 1e-1]
    assert gs.first_helpful(lrs, [-1e-6, -0.01, -0.2],
                            [0.0, -0.02, 0.0]) == 1e-1
    assert gs.first_helpful(lrs, [0.0, 0.1, 1.0], None) is None
    # statistics that moved help the random step as much: not the gradient
    assert gs.first_helpful(lrs, [-0.01, -0.01, -0.02],
                            [-0.01, -0.00999, -0.01]) == 1e-1
    recs = [dict(cosine=0.2, cosine_main=0.1, grad_norm_objective=1.0,
                 grad_norm_supervised=4.0, groups={},
                 lookahead=dict(same=[0.0, -0.01, None], next=None),
                 random=dict(same=[0.0, 0.0, 0.0], next=None),
                 oracle=None, stats_only=None, hook_step=None),
            dict(cosine=0.4, cosine_main=0.3, grad_norm_objective=3.0,
                 grad_norm_supervised=4.0, groups={},
                 lookahead=dict(same=[0.0, -0.03, 0.5], next=None),
                 random=dict(same=[0.0, 0.0, 0.0], next=None),
                 oracle=None, stats_only=None, hook_step=None)]
    s = gs.summarize(recs, lrs)
    assert s['mean_cosine'] == pytest.approx(0.3)
    assert s['mean_cosine_main'] == pytest.approx(0.2)
    assert s['grad_norm_ratio'] == pytest.approx(0.5)
    # a batch without a finite value there: no mean
    assert s['lookahead']['same'] == [0.0, pytest.approx(-0.02), None]
    assert s['first_helpful_lr_same'] == 1e-2
    assert s['best_lr_same'] == 1e-2


# ------------------------------------------------------ multi-task model
def supervised_hook_class():
    """A method whose objective IS the supervised loss (reads the labels):
    not registered, so it never appears among the project's hooks."""
    from trttt_mm.engine.hooks import BaseTTTHook
    from trttt_mm.tasks import stack_gts

    class SupervisedObjective(BaseTTTHook):
        def ttt_loss(self, forward, inputs, data_samples, generator):
            out = forward(inputs, branches=('main', ))['main']
            gts = stack_gts(data_samples, self.model.tasks)
            return self.model.decode_head.loss_by_task(out, gts)

    return SupervisedObjective


@pytest.mark.parametrize('norm_mode', ['eval', 'train'])
def test_multitask_supervised_objective(gs, norm_mode):
    """Through the hook's own set-up on a real multi-task model: an
    objective equal to the supervised loss has cosine 1 (eval mode; in
    train mode the objective sees batch statistics), and the model (its
    batch-norm statistics included) is restored exactly."""
    import trttt_mm  # noqa: F401  (registers the components)
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(small_model_cfg(relation=False))
    model.eval()
    hook = supervised_hook_class()(params='all', loss_scale=1.0,
                                   norm_mode=norm_mode)
    host = gs.HookHost(model, [])
    hook.before_test(host)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    probe = gs.make_probe(model, hook, 'hook')

    def batch(seed):
        data = make_batch(n=2, h=64, w=64, seed=seed)  # no padding
        import copy
        gt = model.data_preprocessor(copy.deepcopy(data), True)
        x = model.data_preprocessor(data, False)
        return dict(inputs=x['inputs'], data_samples=x['data_samples'],
                    gt_samples=gt['data_samples'],
                    generator=torch.Generator().manual_seed(0))

    rec = gs.measure_batch(probe, batch(0), batch(1), [1e-3, 1e-1],
                           torch.Generator().manual_seed(0))
    if norm_mode == 'eval':
        assert rec['cosine'] == pytest.approx(1.0, abs=1e-5)
        assert rec['cosine_main'] == pytest.approx(1.0, abs=1e-5)
        assert rec['grad_norm_objective'] == pytest.approx(
            rec['grad_norm_supervised'], rel=1e-5)
        assert rec['stats_only'] is None
        assert rec['lookahead']['same'][0] < 0  # descends its own loss
    else:
        assert rec['stats_only'] is not None  # the statistics moved
        assert rec['cosine'] < 1 - 1e-4
    assert set(rec['groups']) == {'backbone', 'decode_head'}
    # the per-task terms: their sum is the total, in the losses and in the
    # look-ahead (each task's change weighted by its share of the loss)
    tasks = ('semseg', 'depth', 'normal', 'edge')
    assert set(rec['terms']) == set(rec['sup_terms']) == set(tasks)
    assert sum(rec['sup_terms'].values()) == pytest.approx(
        rec['sup_loss'], rel=1e-5)
    for i in range(2):
        parts = sum(rec['sup_terms'][t] * rec['lookahead']['same_terms'][t][i]
                    for t in tasks)
        assert parts / rec['sup_loss'] == pytest.approx(
            rec['lookahead']['same'][i], rel=1e-3, abs=1e-7)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    hook.after_test(host)


# ------------------------------------------------------------ the CLI
@pytest.fixture(scope='module')
def tiny_setup(tmp_path_factory):
    """The demo config shrunk onto a tiny synthetic benchmark (batches of
    one image: two target batches), and a checkpoint of its model."""
    from mmengine.config import Config

    import trttt_mm  # noqa: F401  (registers the components)
    from mmseg.registry import MODELS

    from config_helpers import TINY_RELATION, synthetic_benchmark, tiny_options
    root = tmp_path_factory.mktemp('gradsig')
    synth = synthetic_benchmark(root / 'synth')
    cfg = Config.fromfile('configs/trttt/synth_t2n.py')
    options = tiny_options(cfg, synth, str(root / 'work'))
    options.update(TINY_RELATION)
    options['test_dataloader.batch_size'] = 1
    cfg.merge_from_dict(options)
    path = str(root / 'tiny.py')
    cfg.dump(path)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(path).model)
    ckpt = str(root / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return dict(config=path, ckpt=ckpt, root=root)


@pytest.mark.parametrize('hook', ['TRTTTHook', 'TENTHook', 'NormStatsHook'])
def test_cli_smoke(gs, tiny_setup, hook):
    out = tiny_setup['root'] / f'{hook}.json'
    res = gs.main([tiny_setup['config'], tiny_setup['ckpt'], '--tta-hook',
                   hook, '--out', str(out), '--num-batches', '2',
                   '--decades', '0', '1', '--per-decade', '1'])
    data = json.loads(out.read_text())
    assert (tiny_setup['root'] / f'{hook}.png').stat().st_size > 0
    assert data['hook'] == hook and 'ORACLE' in data['note']
    assert len(data['batches']) == 2
    assert data['batches'][1].get('sup_loss_next') is None  # stream ends
    s = data['summary']
    if hook == 'NormStatsHook':
        assert not data['gradient'] and data['lrs'] == []
        assert 'no gradient' in data['note']
        assert s['mean_cosine'] is None and s['grad_norm_objective'] is None
        assert data['batches'][0].get('cosine') is None
    else:
        lr = dict(TRTTTHook=2e-5, TENTHook=1e-3)[hook]
        assert data['hook_lr'] == pytest.approx(lr)
        assert data['lrs'] == pytest.approx([lr, 10 * lr])
        assert -1 <= s['mean_cosine'] <= 1
        assert s['grad_norm_objective'] > 0 and s['grad_norm_supervised'] > 0
        assert len(s['lookahead']['same']) == 2
        assert len(data['batches'][0]['lookahead']['next']) == 2
        assert data['batches'][1]['lookahead']['next'] is None
        assert s['hook_step']['optimizer'] == (
            'SGD' if hook == 'TRTTTHook' else 'Adam')
        assert res['summary']['mean_cosine'] == pytest.approx(
            s['mean_cosine'], rel=1e-4)  # the JSON rounds to 5 digits


def test_cli_options_norm_mode_and_plot(gs, tiny_setup):
    """Hook options through --cfg-options (the released loss), norm mode
    train (the statistics part is measured), then one figure from two
    JSONs."""
    a = tiny_setup['root'] / 'released.json'
    gs.main([tiny_setup['config'], tiny_setup['ckpt'], '--tta-hook',
             'TRTTTHook', '--out', str(a), '--num-batches', '1',
             '--lrs', '1e-3', '--norm-mode', 'train', '--label', 'released',
             '--cfg-options', 'ttt.TRTTTHook.loss=released'])
    data = json.loads(a.read_text())
    assert data['hook_cfg']['loss'] == 'released'
    assert data['adapt_norm_mode'] == 'train' and data['lrs'] == [1e-3]
    assert data['summary']['stats_only'] is not None
    b = tiny_setup['root'] / 'nstats.json'
    gs.main([tiny_setup['config'], tiny_setup['ckpt'], '--tta-hook',
             'NormStatsHook', '--out', str(b), '--num-batches', '1',
             '--norm-mode', 'train'])
    assert json.loads(b.read_text())['summary']['stats_only'] is not None
    tasks_fig = tiny_setup['root'] / 'tasks.png'
    gs.main(['--plot', str(a), str(b), '--fig', str(tasks_fig), '--panels',
             'tasks', '--batch', 'next'])
    assert tasks_fig.stat().st_size > 0
    fig = tiny_setup['root'] / 'both.png'
    out = gs.main(['--plot', str(a), str(b), '--fig', str(fig), '--table'])
    assert fig.stat().st_size > 0
    methods, tasks = out['table'].split('\n\nPer task (same batch):\n\n')
    rows = methods.splitlines()
    assert len(rows) == 4 and rows[2].startswith('| released |')
    assert rows[3].startswith('| NormStatsHook | 0 | no gradient; statistics')
    rows = tasks.splitlines()  # the method without gradient has no row
    assert len(rows) == 3 and rows[2].startswith('| released |')
    assert 'semseg: cosine' in rows[0]


def test_cli_errors(gs, tiny_setup, tmp_path):
    with pytest.raises(SystemExit, match='unknown test-time training hook'):
        gs.main([tiny_setup['config'], tiny_setup['ckpt'], '--tta-hook',
                 'NoSuchHook', '--out', str(tmp_path / 'x.json')])
    with pytest.raises(SystemExit, match='checkpoint file not found'):
        gs.main([tiny_setup['config'], str(tmp_path / 'none.pth'),
                 '--tta-hook', 'TENTHook', '--out', str(tmp_path / 'x.json')])
    bad = tmp_path / 'bad.json'
    bad.write_text('{"a": 1}')
    with pytest.raises(SystemExit, match='not a gradient_signal JSON'):
        gs.main(['--plot', str(bad), '--fig', str(tmp_path / 'f.png')])
    with pytest.raises(SystemExit):  # measuring needs --out
        gs.main([tiny_setup['config'], tiny_setup['ckpt'], '--tta-hook',
                 'TENTHook'])
    with pytest.raises(SystemExit, match='--lrs'):
        gs.main([tiny_setup['config'], tiny_setup['ckpt'], '--tta-hook',
                 'TENTHook', '--out', str(tmp_path / 'x.json'), '--lrs',
                 '-1'])
