"""trttt_mm.benchmark.selection: grids, tags, seeds and the choice."""
import pytest

from trttt_mm.benchmark import selection as S

HS = dict(lr_factors=[0.1, 1.0, 10.0], steps=[1, 'default'])


def test_grid_lr_times_factors_and_steps():
    defaults = dict(optimizer=dict(lr=2e-5), steps=10)
    g = S.grid(dict(), defaults, HS)
    assert [c['optimizer.lr'] for c in g] == pytest.approx(
        [2e-6, 2e-6, 2e-5, 2e-5, 2e-4, 2e-4])
    assert [c['steps'] for c in g] == [1, 10] * 3
    # steps 1 is the default: no duplicate setting
    g = S.grid(dict(), dict(optimizer=dict(lr=1.0), steps=1), HS)
    assert g == [{'optimizer.lr': 0.1, 'steps': 1},
                 {'optimizer.lr': 1.0, 'steps': 1},
                 {'optimizer.lr': 10.0, 'steps': 1}]
    # a norm momentum stays in (0, 1]; NormStats' passes are its steps
    g = S.grid(dict(lr_key='momentum', steps_key='passes'),
               dict(momentum=0.5, passes=10), HS)
    assert {c['momentum'] for c in g} == {0.05, 0.5, 1.0}
    assert {c['passes'] for c in g} == {1, 10}
    # no learning rate (a string, or lr_key None): steps only
    assert S.grid(dict(lr_key=None), dict(steps=3), HS) == [
        {'steps': 1}, {'steps': 3}]
    assert S.grid(dict(), dict(optimizer=dict(lr='fast'), steps=1), HS) == [
        {'steps': 1}]
    # an explicit grid wins, in its order
    assert S.grid(dict(grid={'optimizer.lr': [1e-4, 1e-3], 'steps': [2]}),
                  defaults, HS) == [{'optimizer.lr': 1e-4, 'steps': 2},
                                    {'optimizer.lr': 1e-3, 'steps': 2}]


def test_tag_seeds_and_default():
    assert S.tag({}) == 'default'
    assert S.tag({'optimizer.lr': 2e-05, 'steps': 10}) == \
        'optimizer-lr=2e-05_steps=10'
    assert S.selection_seeds('first', [3, 4, 5]) == [3]
    assert S.selection_seeds(None, [3, 4, 5]) == [3]
    assert S.selection_seeds('all', [3, 4, 5]) == [3, 4, 5]
    assert S.selection_seeds([4, 5], [3, 4, 5]) == [4, 5]
    with pytest.raises(SystemExit, match="'all', 'first' or a list"):
        S.selection_seeds('some', [0])
    d = dict(optimizer=dict(lr=2e-5), steps=10)
    assert S.is_default(d, {'optimizer.lr': 2e-5 * (1 + 1e-12),
                            'steps': 10})
    assert not S.is_default(d, {'optimizer.lr': 2e-4})
    assert not S.is_default(d, {'momentum': 0.1})  # not a default key


def test_score_and_choose():
    grid = [{'optimizer.lr': 0.1}, {'optimizer.lr': 1.0},
            {'optimizer.lr': 10.0}]
    deltas = {'optimizer-lr=0.1': [1.0, 3.0], 'optimizer-lr=1': [2.0, 2.0],
              'optimizer-lr=10': [9.0]}  # 10: one seed did not finish
    scores = S.score_grid(grid, deltas, 2)
    assert scores == [(2.0, grid[0]), (2.0, grid[1])]
    # a tie goes to the default (lr 1.0)
    ch = S.choose(scores, dict(optimizer=dict(lr=1.0)))
    assert ch['setting'] == grid[1] and ch['default'] is True
    assert ch['tag'] == 'optimizer-lr=1' and ch['validation_delta'] == 2.0
    assert len(ch['grid']) == 2
    # without a tie the best one, default or not
    ch = S.choose([(2.0, grid[0]), (1.0, grid[1])],
                  dict(optimizer=dict(lr=1.0)))
    assert ch['setting'] == grid[0] and ch['default'] is False
    # within TIE_TOLERANCE counts as a tie
    ch = S.choose([(2.0, grid[0]), (2.0 - S.TIE_TOLERANCE / 2, grid[1])],
                  dict(optimizer=dict(lr=1.0)))
    assert ch['setting'] == grid[1]
    assert S.choose([], {}) is None
