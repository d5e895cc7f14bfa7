"""The released code's mask count and sin-cos position layout as options of
the masking functions and the TaskRelationLearner (defaults unchanged)."""
import pytest
import torch

from trttt_mm.models.relation import (TaskRelationLearner, generate_mask,
                                      masked_per_task, masked_tasks,
                                      num_masked_tokens, sincos_pos_embed_2d)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize('ratio,rounded,released', [(0.7, 179, 180),
                                                    (0.8, 205, 205),
                                                    (0.9, 230, 231),
                                                    (0.5, 128, 128)])
def test_counts_at_256_patches(ratio, rounded, released):
    assert masked_per_task('same', 4, 256, ratio) == rounded
    assert masked_per_task('same', 4, 256, ratio, 'round') == rounded
    assert masked_per_task('same', 4, 256, ratio, 'released') == released
    # the released count is what its masking keeps: int(L * (1 - r))
    assert 256 - released == int(256 * (1 - ratio))
    mask = generate_mask('same', 3, 4, 256, ratio, generator=_gen(),
                         mask_count='released')
    assert (mask.sum(-1) == released).all()
    assert num_masked_tokens('random', 4, 256, ratio, 'released') == \
        4 * released


def test_released_count_keeps_one_visible_and_task_strategy():
    # int(4 * 0.05) = 0 kept -> clamped: one patch stays visible
    assert masked_per_task('random', 2, 4, 0.95, 'released') == 3
    assert masked_tasks(4, 0.7, 'released') == 3  # 4 - int(1.2)
    assert masked_tasks(4, 0.7) == 3
    assert masked_tasks(4, 0.6, 'released') == 3  # 4 - int(1.6) = 3
    assert masked_tasks(4, 0.6) == 2  # round(2.4)
    with pytest.raises(ValueError, match='mask_count'):
        masked_per_task('same', 2, 16, 0.5, 'floor')
    with pytest.raises(ValueError, match='mask_count'):
        generate_mask('same', 1, 2, 16, 0.5, mask_count='ceil')


def _released_sincos(dim, grid):
    """The released layout, computed independently with numpy from its
    description: a meshgrid whose first plane is the column coordinate, the
    first half of the channels from that plane."""
    import numpy as np

    def one_d(d, pos):
        omega = np.arange(d // 2, dtype=np.float64) / (d / 2.)
        omega = 1. / 10000**omega
        out = np.outer(pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    g = np.stack(np.meshgrid(np.arange(grid, dtype=np.float32),
                             np.arange(grid, dtype=np.float32)), axis=0)
    return np.concatenate([one_d(dim // 2, g[0]), one_d(dim // 2, g[1])],
                          axis=1)


def test_pos_embed_layouts():
    rows = sincos_pos_embed_2d(8, (2, 3))
    assert torch.equal(rows, sincos_pos_embed_2d(8, (2, 3), 'rows_first'))
    cols = sincos_pos_embed_2d(8, (2, 3), 'cols_first')
    assert torch.equal(cols[:, :4], rows[:, 4:])
    assert torch.equal(cols[:, 4:], rows[:, :4])
    assert torch.equal(cols[0, :4], cols[3, :4])  # same column, first half
    ref = torch.from_numpy(_released_sincos(16, 4)).float()
    assert torch.allclose(sincos_pos_embed_2d(16, 4, 'cols_first'), ref,
                          atol=1e-6)
    assert not torch.allclose(sincos_pos_embed_2d(16, 4), ref, atol=1e-3)
    with pytest.raises(ValueError, match='layout'):
        sincos_pos_embed_2d(8, 2, 'diagonal')


def _trl(**kw):
    cfg = dict(in_channels=3, num_inputs=2, out_channels={'depth': 1},
               input_size=16, patch_size=4, embed_dim=16, depth=1,
               decoder_depth=1, num_heads=2, mask_ratio=0.7)
    cfg.update(kw)
    return TaskRelationLearner(**cfg)


def test_learner_options_and_defaults():
    default = _trl()
    assert default.mask_count == 'round'
    assert default.pos_embed_layout == 'rows_first'
    assert torch.equal(default.pos_embed[0], sincos_pos_embed_2d(16, 4))
    released = _trl(mask_count='released', pos_embed_layout='cols_first',
                    token_layout='joint')
    assert torch.equal(released.pos_embed[0],
                       sincos_pos_embed_2d(16, 4, 'cols_first'))
    assert torch.equal(released.decoder_pos_embed[0],
                       sincos_pos_embed_2d(16, 4, 'cols_first'))
    # 16 patches at 0.7: round(11.2) = 11 vs 16 - int(4.8) = 12
    x = torch.randn(2, 2, 3, 16, 16)
    assert (default(x, generator=_gen())['mask'].sum(-1) == 11).all()
    assert (released(x, generator=_gen())['mask'].sum(-1) == 12).all()
    with pytest.raises(ValueError, match='mask_count'):
        _trl(mask_count='exact')
    with pytest.raises(ValueError, match='pos_embed_layout'):
        _trl(pos_embed_layout='cols')
