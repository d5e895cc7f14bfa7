"""Smoke-running a setting's config: the tiny synthetic benchmark, and the
config pointed at it with a shrunk model, a one-iteration schedule and the
method's test-time hook (shared by the tests in tests/test_configs/)."""
import copy
import os.path as osp

from mmengine.config import ConfigDict

from trttt_mm.datasets.synthetic import generate_benchmark

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')

#: TR-TTT's relation head (projection and learner) at a tiny size.
TINY_RELATION = {
    'model.aux_heads.relation.projection.latent_channels': 8,
    'model.aux_heads.relation.learner.input_size': 32,
    'model.aux_heads.relation.learner.patch_size': 8,
    'model.aux_heads.relation.learner.embed_dim': 16,
    'model.aux_heads.relation.learner.depth': 1,
    'model.aux_heads.relation.learner.decoder_depth': 1,
    'model.aux_heads.relation.learner.num_heads': 2,
}


def synthetic_benchmark(out, num_train=2):
    """Write the three synthetic layouts (32x40 images) under ``out``;
    ``num_train`` source and target-train images each. Returns ``out``."""
    generate_benchmark(
        str(out), layouts=('taskonomy', 'nyudv2', 'pascal'),
        num_train=num_train, num_val=2, num_target_train=num_train,
        num_target_val=2, height=32, width=40, images_per_building=2,
        progress=False)
    return str(out)


def tiny_options(cfg, synth, work_dir, head_channels=8):
    """The ``merge_from_dict`` options that point every loader of ``cfg`` at
    the synthetic data under ``synth`` and shrink the backbone, the decode
    head (its ``head_channels`` too unless None) and the schedule to one
    iteration (the backbone starts from random weights: no pretrained file
    offline)."""
    options = {}
    for loader in LOADERS:
        ds = cfg[loader].dataset
        folder = osp.basename(ds.data_root)
        options[f'{loader}.dataset.data_root'] = osp.join(synth, folder)
        if ds.type == 'TaskonomyMultiTaskDataset' and ds.split == 'test':
            options[f'{loader}.dataset.split'] = 'val'  # synth has no test
        if ds.type == 'PascalContextMultiTaskDataset':
            options[f'{loader}.dataset.edge_cache_dir'] = osp.join(
                work_dir, 'edge_cache')
        options.update({
            f'{loader}.batch_size': 2,
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
    options.update({
        'model.backbone.depth': 18,
        'model.backbone.init_cfg': None,  # no ImageNet file offline
        'model.backbone.stem_channels': 8,
        'model.backbone.base_channels': 8,
        'model.decode_head.in_channels': [8, 16, 32, 64],
        'train_cfg.max_iters': 1,
        'train_cfg.val_interval': 1,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.checkpoint.save_last': False,
        'work_dir': work_dir,
        'env_cfg.dist_cfg.backend': 'gloo',
    })
    if head_channels is not None:
        options['model.decode_head.head_channels'] = head_channels
    return options


def tiny(cfg, synth, work_dir, hook, extra_options=None, steps=1,
         head_channels=8):
    """A copy of ``cfg`` with :func:`tiny_options` and ``extra_options``
    (e.g. smaller auxiliary heads) merged, and the test-time hook named
    ``hook`` added with the setting's defaults from ``cfg.ttt`` (``steps``
    of them, or the setting's own number if None) and the monitor, without
    its curve."""
    cfg = copy.deepcopy(cfg)
    options = tiny_options(cfg, synth, work_dir, head_channels=head_channels)
    options.update(extra_options or {})
    cfg.merge_from_dict(options)
    ttt = dict(cfg.ttt[hook], type=hook)
    if steps is not None:
        ttt['steps'] = steps
    monitor = dict(cfg.ttt.TTTMonitorHook, type='TTTMonitorHook', curve=False)
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        ConfigDict(ttt), ConfigDict(monitor)]
    return cfg
