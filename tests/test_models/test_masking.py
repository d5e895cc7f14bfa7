import math

import pytest
import torch

from trttt_mm.models.relation.masking import (MASK_STRATEGIES,
                                              generate_mask, masked_per_task,
                                              masked_tasks, num_masked_tokens)


def _gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@pytest.mark.parametrize('strategy', MASK_STRATEGIES)
@pytest.mark.parametrize('n,P,ratio', [(2, 16, 0.5), (4, 64, 0.8),
                                       (3, 10, 0.3), (4, 256, 0.8)])
def test_shape_dtype_device_and_equal_counts(strategy, n, P, ratio):
    mask = generate_mask(strategy, 5, n, P, ratio, generator=_gen())
    assert mask.shape == (5, n, P)
    assert mask.dtype == torch.bool
    assert mask.device.type == 'cpu'
    per_sample = mask.flatten(1).sum(1)
    assert (per_sample == num_masked_tokens(strategy, n, P, ratio)).all()
    # something stays visible in every sample
    assert (~mask).flatten(1).any(1).all()


@pytest.mark.parametrize('strategy', ['random', 'same'])
def test_exact_count_per_task(strategy):
    n, P, ratio = 3, 20, 0.75
    mask = generate_mask(strategy, 4, n, P, ratio, generator=_gen(1))
    assert (mask.sum(-1) == 15).all()
    assert masked_per_task(strategy, n, P, ratio) == 15


def test_round_half_up_and_never_all_masked():
    assert masked_per_task('same', 1, 4, 0.625) == 3  # 2.5 -> 3
    # 0.99 * 4 = 3.96 rounds to 4, clamped to P - 1 = 3
    mask = generate_mask('random', 2, 2, 4, 0.99, generator=_gen())
    assert (mask.sum(-1) == 3).all()


def test_random_differs_across_tasks():
    mask = generate_mask('random', 8, 4, 64, 0.5, generator=_gen(2))
    assert not (mask == mask[:, :1]).all()


def test_same_is_identical_across_tasks_and_differs_across_samples():
    mask = generate_mask('same', 6, 4, 64, 0.8, generator=_gen(3))
    assert (mask == mask[:, :1]).all()
    assert not (mask[0] == mask[1]).all()
    assert mask.is_contiguous()


@pytest.mark.parametrize('n,P,ratio', [(2, 16, 0.4), (2, 16, 0.9),
                                       (4, 256, 0.8), (3, 7, 0.95),
                                       (4, 1, 0.5)])
def test_no_overlap_empty_intersection(n, P, ratio):
    mask = generate_mask('no_overlap', 16, n, P, ratio, generator=_gen(4))
    assert not mask.all(dim=1).any()  # no patch masked in every task
    k = min(math.floor(ratio * P + 0.5), P - 1, P - math.ceil(P / n))
    assert (mask.sum(-1) == k).all()
    assert masked_per_task('no_overlap', n, P, ratio) == k


def test_no_overlap_keeps_ratio_when_feasible():
    # 2 tasks, ratio 0.4: 6 of 16 masked per task, no clamping needed
    assert masked_per_task('no_overlap', 2, 16, 0.4) == 6
    # 4 tasks, 256 patches, 0.8 -> at most 256 - 64 = 192
    assert masked_per_task('no_overlap', 4, 256, 0.8) == 192


@pytest.mark.parametrize('n,ratio,m', [(2, 0.5, 1), (4, 0.5, 2),
                                       (4, 0.1, 1), (4, 0.99, 3),
                                       (3, 0.8, 2)])
def test_task_masks_whole_rows(n, ratio, m):
    P = 9
    mask = generate_mask('task', 32, n, P, ratio, generator=_gen(5))
    row_all = mask.all(-1)
    row_none = ~mask.any(-1)
    assert (row_all | row_none).all()  # rows are all-or-nothing
    assert (row_all.sum(1) == m).all()
    assert row_none.any(1).all()  # at least one task visible
    assert masked_tasks(n, ratio) == m
    # the hidden tasks vary across samples
    assert not (row_all == row_all[:1]).all()


@pytest.mark.parametrize('strategy', MASK_STRATEGIES)
def test_deterministic_with_seeded_generator(strategy):
    a = generate_mask(strategy, 3, 4, 32, 0.6, generator=_gen(7))
    b = generate_mask(strategy, 3, 4, 32, 0.6, generator=_gen(7))
    c = generate_mask(strategy, 3, 4, 32, 0.6, generator=_gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_global_rng_when_no_generator():
    torch.manual_seed(0)
    a = generate_mask('same', 2, 2, 32, 0.5)
    torch.manual_seed(0)
    b = generate_mask('same', 2, 2, 32, 0.5)
    assert torch.equal(a, b)


@pytest.mark.parametrize('strategy', MASK_STRATEGIES)
def test_ratio_zero_masks_nothing(strategy):
    mask = generate_mask(strategy, 2, 1, 8, 0.0)
    assert not mask.any()
    mask = generate_mask(strategy, 2, 3, 8, 0)
    assert not mask.any()


def test_device_kwarg():
    mask = generate_mask('same', 1, 2, 4, 0.5, device='cpu')
    assert mask.device.type == 'cpu'
    if torch.cuda.is_available():
        a = generate_mask('same', 2, 2, 16, 0.5, generator=_gen(9),
                          device='cuda')
        b = generate_mask('same', 2, 2, 16, 0.5, generator=_gen(9))
        assert a.is_cuda and torch.equal(a.cpu(), b)


def test_errors():
    with pytest.raises(ValueError, match='random.*no_overlap.*same.*task'):
        generate_mask('checkerboard', 1, 2, 4, 0.5)
    for ratio in (1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r'\[0, 1\)'):
            generate_mask('same', 1, 2, 4, ratio)
    with pytest.raises(ValueError, match='at least 2 tasks'):
        generate_mask('no_overlap', 1, 1, 4, 0.5)
    with pytest.raises(ValueError, match='at least 2 tasks'):
        generate_mask('task', 1, 1, 4, 0.5)
    with pytest.raises(ValueError, match='batch_size'):
        generate_mask('same', 0, 2, 4, 0.5)
    with pytest.raises(ValueError, match='num_patches'):
        generate_mask('same', 1, 2, 0, 0.5)
    with pytest.raises(ValueError, match='num_tasks'):
        generate_mask('same', 1, 0, 4, 0.5)
