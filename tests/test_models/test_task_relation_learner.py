import pytest
import torch

from trttt_mm.models.relation import (TaskRelationLearner, count_parameters,
                                      generate_mask, sincos_pos_embed_2d)

OUT = {'semseg': 7, 'depth': 1, 'normal': 3, 'edge': 1}
TINY = dict(input_size=16, patch_size=4, embed_dim=16, depth=1,
            decoder_depth=1, num_heads=2, mlp_ratio=2.)


def _gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _trl(n, out=OUT, **kw):
    cfg = dict(TINY)
    cfg.update(kw)
    torch.manual_seed(0)
    return TaskRelationLearner(in_channels=3, num_inputs=n, out_channels=out,
                               **cfg)


@pytest.mark.parametrize('layout', ['per_task', 'joint'])
@pytest.mark.parametrize('n', [1, 2, 3, 4])
def test_output_shapes(n, layout):
    trl = _trl(n, token_layout=layout)
    out = trl(torch.randn(2, n, 3, 8, 10), out_size=(12, 20))
    assert set(out['preds']) == set(OUT)
    for name, c in OUT.items():
        assert out['preds'][name].shape == (2, c, 12, 20)
    assert out['mask'].shape == (2, n, 16)
    assert out['mask'].dtype == torch.bool
    # 'same' at 0.8 of 16 patches -> 13 masked per group
    assert (out['mask'].sum(-1) == 13).all()


def test_default_size_and_arbitrary_outputs():
    trl = _trl(1, out={'image': 3}, token_layout='per_task')
    out = trl(torch.randn(1, 1, 3, 16, 16))
    assert out['preds']['image'].shape == (1, 3, 16, 16)
    assert trl.output_names == ('image', )


@pytest.mark.parametrize('strategy', ['random', 'no_overlap', 'same', 'task'])
def test_all_strategies_run(strategy):
    trl = _trl(3, mask_strategy=strategy, mask_ratio=0.5)
    out = trl(torch.randn(2, 3, 3, 16, 16), generator=_gen())
    assert out['mask'].shape == (2, 3, 16)
    assert out['preds']['depth'].shape == (2, 1, 16, 16)


@pytest.mark.parametrize('strategy,ratio', [
    ('random', 0.8), ('random', 0.5), ('same', 0.8), ('no_overlap', 0.8),
    ('task', 0.5), ('random', 0.0)])
def test_count_of_a_drawn_mask_is_known_without_reading_it(strategy, ratio):
    """The forward takes the masked count of a mask it draws from the
    strategy (no host sync); it must be the count of the drawn mask, and
    the forward must agree with an explicit copy of the same mask."""
    trl = _trl(3, mask_strategy=strategy, mask_ratio=ratio).train()
    known = trl._known_masked_count(None)
    mask = trl.make_mask(5, generator=_gen(1))
    assert mask.reshape(5, -1).sum(1).tolist() == [known] * 5
    trl.eval()
    assert trl._known_masked_count(None) == (known if trl.always_mask else 0)
    assert trl._known_masked_count(False) == 0
    assert trl._known_masked_count(mask) is None
    lat = torch.randn(5, 3, 3, 16, 16)
    trl.train()
    drawn = trl(lat, generator=_gen(1))
    given = trl(lat, mask=mask)
    assert torch.equal(drawn['mask'], mask)
    for k in drawn['preds']:
        assert torch.equal(drawn['preds'][k], given['preds'][k])


def test_mask_modes():
    trl = _trl(2)
    x = torch.randn(2, 2, 3, 16, 16)
    # eval + always_mask (default) still masks
    trl.eval()
    assert trl(x)['mask'].any()
    # mask=False: nothing masked
    assert not trl(x, mask=False)['mask'].any()
    # eval without always_mask: no masking, training: masking
    trl.always_mask = False
    assert not trl(x)['mask'].any()
    trl.train()
    assert trl(x)['mask'].any()
    # ratio 0 -> no masking
    trl0 = _trl(2, mask_ratio=0.0)
    assert not trl0(x)['mask'].any()
    # seeded generator -> same mask and same output
    trl.eval()
    trl.always_mask = True
    a = trl(x, generator=_gen(3))
    b = trl(x, generator=_gen(3))
    assert torch.equal(a['mask'], b['mask'])
    assert torch.equal(a['preds']['semseg'], b['preds']['semseg'])


def test_unmasked_equals_all_visible_mask():
    trl = _trl(2).eval()
    x = torch.randn(1, 2, 3, 16, 16)
    none = torch.zeros(1, 2, 16, dtype=torch.bool)
    a = trl(x, mask=False)['preds']['depth']
    b = trl(x, mask=none)['preds']['depth']
    assert torch.equal(a, b)


def _perturb_masked(x, mask, patch):
    """Change the content of every masked (group, patch) of x
    (B, n, C, H, W) with H, W = input size."""
    B, n, C, H, W = x.shape
    gw = W // patch
    y = x.clone()
    for b, g, p in mask.nonzero().tolist():
        r, c = divmod(p, gw)
        y[b, g, :, r * patch:(r + 1) * patch,
          c * patch:(c + 1) * patch] += 100 * torch.randn(C, patch, patch)
    return y


@pytest.mark.parametrize('layout,strategy', [('per_task', 'same'),
                                             ('per_task', 'random'),
                                             ('per_task', 'no_overlap'),
                                             ('per_task', 'task'),
                                             ('joint', 'same')])
def test_masked_patches_are_hidden(layout, strategy):
    trl = _trl(3, token_layout=layout, mask_strategy=strategy,
               mask_ratio=0.5)
    trl.train()  # no dropout anyway; masking must hide content in any mode
    torch.manual_seed(1)
    x = torch.randn(2, 3, 3, 16, 16)  # already at input_size: no resize blend
    mask = trl.make_mask(2, generator=_gen(11))
    assert mask.any()
    ref = trl(x, mask=mask)
    y = _perturb_masked(x, mask, 4)
    assert not torch.equal(x, y)
    out = trl(y, mask=mask)
    for name in OUT:
        assert torch.equal(ref['preds'][name], out['preds'][name])
    # sanity: perturbing a visible patch does change the output
    z = _perturb_masked(x, ~mask, 4)
    changed = trl(z, mask=mask)['preds']['depth']
    assert not torch.equal(ref['preds']['depth'], changed)


def test_gradient_flows_to_latents():
    trl = _trl(4)
    x = torch.randn(2, 4, 3, 8, 8, requires_grad=True)
    out = trl(x, generator=_gen())
    sum(v.square().mean() for v in out['preds'].values()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in trl.named_parameters():
        assert p.grad is not None, name


def test_explicit_mask_validation():
    trl = _trl(2)
    x = torch.randn(2, 2, 3, 16, 16)
    with pytest.raises(ValueError, match='shape'):
        trl(x, mask=torch.zeros(2, 3, 16, dtype=torch.bool))
    uneven = torch.zeros(2, 2, 16, dtype=torch.bool)
    uneven[0, 0, :3] = True
    with pytest.raises(ValueError, match='same number'):
        trl(x, mask=uneven)
    with pytest.raises(ValueError, match='visible'):
        trl(x, mask=torch.ones(2, 2, 16, dtype=torch.bool))
    # (B, P) masks broadcast to every group
    m = generate_mask('same', 2, 1, 16, 0.5, generator=_gen())[:, 0]
    out = trl(x, mask=m)
    assert torch.equal(out['mask'], m[:, None].expand(2, 2, 16))
    # joint layout needs one mask for all groups
    joint = _trl(2, token_layout='joint')
    diff = generate_mask('random', 2, 2, 16, 0.5, generator=_gen(1))
    with pytest.raises(ValueError, match="same mask"):
        joint(x, mask=diff)
    with pytest.raises(ValueError, match=r'latents of shape'):
        trl(torch.randn(2, 3, 3, 16, 16))


def test_constructor_errors():
    with pytest.raises(ValueError, match="only 'same'"):
        _trl(2, token_layout='joint', mask_strategy='random')
    with pytest.raises(ValueError, match='unknown mask strategy'):
        _trl(2, mask_strategy='foo')
    with pytest.raises(ValueError, match='at least 2 tasks'):
        _trl(1, mask_strategy='task')
    with pytest.raises(ValueError, match='token_layout'):
        _trl(2, token_layout='stacked')
    with pytest.raises(ValueError, match='divide'):
        _trl(2, patch_size=5)
    with pytest.raises(ValueError, match=r'\[0, 1\)'):
        _trl(2, mask_ratio=1.0)


def test_sincos_pos_embed():
    emb = sincos_pos_embed_2d(8, (2, 3))
    assert emb.shape == (6, 8)
    # position (0, 0): sin parts 0, cos parts 1
    assert torch.allclose(emb[0], torch.tensor([0., 0, 1, 1, 0, 0, 1, 1]))
    # rows encoded in the first half, columns in the second
    assert torch.equal(emb[0, 4:], emb[3, 4:])  # same column
    assert torch.equal(emb[0, :4], emb[1, :4])  # same row
    assert len({tuple(r.tolist()) for r in emb}) == 6
    with pytest.raises(ValueError):
        sincos_pos_embed_2d(6, 2)


def test_pos_embed_not_trainable_nor_saved():
    trl = _trl(2)
    names = {n for n, _ in trl.named_parameters()}
    assert 'pos_embed' not in names and 'decoder_pos_embed' not in names
    assert 'pos_embed' not in trl.state_dict()


def test_registry_and_count_parameters():
    from mmseg.registry import MODELS
    trl = MODELS.build(dict(type='TaskRelationLearner', in_channels=3,
                            num_inputs=2, out_channels={'depth': 1}, **TINY))
    assert isinstance(trl, TaskRelationLearner)
    total = sum(p.numel() for p in trl.parameters())
    assert count_parameters(trl) == total
    trl.heads.requires_grad_(False)
    assert count_parameters(trl, trainable_only=True) < total


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_device_follows_input():
    trl = _trl(2).cuda()
    x = torch.randn(2, 2, 3, 16, 16, device='cuda', requires_grad=True)
    out = trl(x, out_size=20, generator=_gen(5))  # CPU generator is fine
    assert out['mask'].is_cuda
    assert out['preds']['semseg'].shape == (2, 7, 20, 20)
    cpu_mask = _trl(2).make_mask(2, generator=_gen(5))
    assert torch.equal(out['mask'].cpu(), cpu_mask)
    out['preds']['depth'].mean().backward()
    assert x.grad is not None


def test_init_weights_applies_the_mae_initialisation():
    """Construction keeps PyTorch's defaults; ``init_weights`` (called by the
    runner) applies the MAE-style initialisation."""
    trl = _trl(2)
    linears = [m for m in trl.modules() if isinstance(m, torch.nn.Linear)]
    assert any(m.bias.abs().sum() > 0 for m in linears)
    trl.init_weights()
    assert all(m.bias.abs().sum() == 0 for m in linears)
    assert trl.patch_embed.bias.abs().sum() == 0
    w = linears[0].weight
    bound = (6.0 / (w.shape[0] + w.shape[1]))**0.5  # xavier uniform
    assert w.abs().max() <= bound


# ---------------------------------------------------------------- compact TRL
COMPACT = dict(share_patch_embed=True, decoder_tokens='fused')
COMPACT_VARIANTS = {
    'shared_embed': dict(share_patch_embed=True),
    'fused_decoder': dict(decoder_tokens='fused'),
    'compact': COMPACT,
}


@pytest.mark.parametrize('variant', sorted(COMPACT_VARIANTS))
@pytest.mark.parametrize('n', [1, 2, 3, 4])
def test_compact_output_shapes(n, variant):
    trl = _trl(n, **COMPACT_VARIANTS[variant])
    out = trl(torch.randn(2, n, 3, 8, 10), out_size=(12, 20))
    assert set(out['preds']) == set(OUT)
    for name, c in OUT.items():
        assert out['preds'][name].shape == (2, c, 12, 20)
    assert out['mask'].shape == (2, n, 16)
    assert (out['mask'].sum(-1) == 13).all()
    assert trl.num_tokens == n * 16  # per-task tokens in the encoder


@pytest.mark.parametrize('variant', sorted(COMPACT_VARIANTS))
@pytest.mark.parametrize('strategy', ['same', 'random', 'no_overlap', 'task'])
def test_compact_masked_patches_are_hidden(variant, strategy):
    trl = _trl(3, mask_strategy=strategy, mask_ratio=0.5,
               **COMPACT_VARIANTS[variant])
    trl.init_weights()
    trl.train()
    torch.manual_seed(1)
    x = torch.randn(2, 3, 3, 16, 16)
    mask = trl.make_mask(2, generator=_gen(11))
    assert mask.any()
    ref = trl(x, mask=mask)
    out = trl(_perturb_masked(x, mask, 4), mask=mask)
    for name in OUT:
        assert torch.equal(ref['preds'][name], out['preds'][name])
    changed = trl(_perturb_masked(x, ~mask, 4), mask=mask)['preds']['depth']
    assert not torch.equal(ref['preds']['depth'], changed)


def _block_params(d, mlp_ratio):
    """timm ``Block``: 2 LayerNorms, qkv and proj linears, 2-layer MLP."""
    h = int(d * mlp_ratio)
    return 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * h + h) + (
        h * d + d)


def _trl_params_by_hand(n, C, E, D, p, depth, dec_depth, mlp_ratio, out,
                        shared, fused):
    conv = C * E * p * p + E  # one C_z -> E patch conv
    total = conv if shared else n * conv
    total += n * E  # task embedding
    total += depth * _block_params(E, mlp_ratio) + 2 * E  # encoder + norm
    total += E * D + D + D  # decoder_embed + mask token
    total += 0 if fused else n * D  # decoder task embedding
    total += dec_depth * _block_params(D, mlp_ratio) + 2 * D
    total += (n * D * D + D) if n > 1 else 0  # group fusion
    total += sum(D * p * p * c + p * p * c for c in out.values())  # heads
    return total


@pytest.mark.parametrize('n', [1, 2, 4])
@pytest.mark.parametrize('shared,fused', [(False, False), (True, False),
                                          (False, True), (True, True)])
def test_compact_parameter_count_by_hand(n, shared, fused):
    trl = _trl(n, share_patch_embed=shared,
               decoder_tokens='fused' if fused else 'per_task')
    expected = _trl_params_by_hand(n, 3, 16, 16, 4, 1, 1, 2., OUT, shared,
                                   fused)
    assert count_parameters(trl) == expected
    # the shared embedding is ONE C_z -> E conv, whatever n
    if shared:
        assert tuple(trl.patch_embed.weight.shape) == (16, 3, 4, 4)
        assert trl.patch_embed.groups == 1
        assert count_parameters(trl.patch_embed) == 3 * 16 * 16 + 16
    else:
        assert count_parameters(trl.patch_embed) == n * (3 * 16 * 16 + 16)
    assert (trl.decoder_task_embed is None) == fused


def test_shared_patch_embed_is_the_same_map_for_every_task():
    """Identical latents in two groups embed to tokens that differ exactly by
    the two task embeddings: one conv serves every group."""
    trl = _trl(3, share_patch_embed=True)
    trl.init_weights()
    z = torch.randn(2, 1, 3, 16, 16)
    tokens = trl._embed(z.expand(2, 3, 3, 16, 16).contiguous())
    tokens = tokens.reshape(2, 3, 16, 16)  # B, n, P, E
    te = trl.task_embed[0, :, 0]  # n, E
    for g in (1, 2):
        torch.testing.assert_close(tokens[:, g] - te[g],
                                   tokens[:, 0] - te[0])
    # and the shared conv receives the gradients of every group
    x = torch.zeros(1, 3, 3, 16, 16)
    x[:, 2] = torch.randn(1, 3, 16, 16)
    trl(x, mask=False)['preds']['depth'].sum().backward()
    assert trl.patch_embed.weight.grad.abs().sum() > 0


def test_fused_decoder_runs_over_one_token_per_patch():
    seen = {}
    for fused, n_tokens in ((False, 4 * 16), (True, 16)):
        trl = _trl(4, share_patch_embed=True,
                   decoder_tokens='fused' if fused else 'per_task')
        handle = trl.decoder_blocks[0].register_forward_hook(
            lambda m, i, o: seen.__setitem__('shape', tuple(i[0].shape)))
        trl(torch.randn(2, 4, 3, 16, 16), generator=_gen())
        handle.remove()
        assert seen['shape'] == (2, n_tokens, 16)


@pytest.mark.parametrize('n', [1, 4])
def test_compact_gradient_reaches_every_parameter(n):
    """No unused parameter (DDP without find_unused_parameters)."""
    trl = _trl(n, **COMPACT)
    x = torch.randn(2, n, 3, 8, 8, requires_grad=True)
    out = trl(x, generator=_gen())
    sum(v.square().mean() for v in out['preds'].values()).backward()
    assert x.grad.abs().sum() > 0
    for name, p in trl.named_parameters():
        assert p.grad is not None, name


def test_compact_constructor_errors():
    with pytest.raises(ValueError, match='decoder_tokens'):
        _trl(2, decoder_tokens='pooled')
    with pytest.raises(ValueError, match='share_patch_embed must be a bool'):
        _trl(2, share_patch_embed='yes')
    with pytest.raises(ValueError, match="need token_layout='per_task'"):
        _trl(2, token_layout='joint', share_patch_embed=True)
    with pytest.raises(ValueError, match="need token_layout='per_task'"):
        _trl(2, token_layout='joint', decoder_tokens='fused')
    assert 'decoder_tokens' in repr(_trl(2, **COMPACT))
