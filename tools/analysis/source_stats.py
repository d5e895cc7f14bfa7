"""Fill the source statistics of a trained model's auxiliary heads.

    python tools/analysis/source_stats.py CONFIG CHECKPOINT --out NEW.pth
        [--heads NAME ...] [--max-batches N] [--partial-load]
        [--cfg-options k=v ...]

One pass (model in eval mode) over the config's training data, with an
ordered, finite sampler, fills the buffers of every head with
``has_source_stats`` (e.g. ``FeatureStatsHead``), then writes a new
checkpoint: the input's weights plus the statistics, so it stays
self-contained. The input checkpoint is never modified, and ``--out`` is
never overwritten unless ``--overwrite`` is given. The checkpoint loads
strictly; ``--partial-load`` (as in ``tools/test.py``) loads the weights
that fit, logs the rest and records them in the new checkpoint's
``meta['source_stats']['not_loaded']``.

For a plain mmseg segmentor (mmseg's ``EncoderDecoder`` or
``CascadeEncoderDecoder``, through ``PlainSegmentorAdapter``) the heads are
those of the config's ``plain_aux_heads`` (default: ActMAD's,
``dict(actmad=dict(type='ActMADStatsHead'))``), and their statistics go
beside the weights, under the checkpoint key ``trttt_plain_aux_heads``: the
state dict stays the segmentor's own, and ``ActMADHook`` finds them there.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--out', required=True, help='new checkpoint file')
    p.add_argument('--heads', nargs='+', default=None,
                   help='head names (default: every head with statistics)')
    p.add_argument('--max-batches', type=int, default=None)
    p.add_argument('--overwrite', action='store_true',
                   help='replace --out when it exists')
    p.add_argument(
        '--partial-load', action='store_true', default=False,
        help='load the checkpoint even when keys are missing, unexpected or '
        'of another shape (logged; those weights keep their initial '
        'values). Default: such a checkpoint is an error')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import trttt_mm  # noqa: F401  (registers the components)
    from mmseg.registry import MODELS
    from trttt_mm.models.segmentors.plain_adapter import (
        DEFAULT_PLAIN_AUX_HEADS, PLAIN_AUX_HEADS_KEY, PlainSegmentorAdapter)
    from trttt_mm.engine.hooks.source_stats_hook import (collect_source_stats,
                                                         finite_loader_cfg)
    from trttt_mm.utils.checkpoint import (CheckpointMismatchError,
                                           checkpoint_state_dict,
                                           load_weights, read_checkpoint)
    for path, what in ((args.config, 'config'), (args.checkpoint,
                                                 'checkpoint')):
        if not osp.isfile(path):
            raise SystemExit(f'{what} file not found: {path}')
    if args.max_batches is not None and args.max_batches < 1:
        raise SystemExit(f'--max-batches must be >= 1, got {args.max_batches}')
    if osp.abspath(args.out) == osp.abspath(args.checkpoint):
        raise SystemExit('--out must differ from the input checkpoint (it is '
                         'never modified)')
    if osp.exists(args.out) and not args.overwrite:
        raise SystemExit(f'--out {args.out} exists; pass --overwrite to '
                         'replace it')
    out_dir = osp.dirname(osp.abspath(args.out))
    if not osp.isdir(out_dir) or not os.access(out_dir, os.W_OK):
        raise SystemExit(f'--out: directory {out_dir} does not exist or is '
                         'not writable')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    model = MODELS.build(cfg.model)
    try:
        ckpt = read_checkpoint(args.checkpoint)
        report = load_weights(
            model, checkpoint_state_dict(ckpt, args.checkpoint),
            args.checkpoint, partial=args.partial_load,
            logger=MMLogger.get_instance('source_stats'))
    except CheckpointMismatchError as e:
        raise SystemExit(str(e))
    stats_model = model
    if not callable(getattr(model, 'forward_branches', None)):
        # a plain mmseg segmentor: its statistics heads live in the adapter
        try:
            stats_model = PlainSegmentorAdapter(
                model, cfg.get('plain_aux_heads', DEFAULT_PLAIN_AUX_HEADS),
                where='source_stats.py')
        except (TypeError, ValueError) as e:
            raise SystemExit(str(e))
    loader = Runner.build_dataloader(finite_loader_cfg(cfg.train_dataloader),
                                     seed=0)
    try:
        info = collect_source_stats(stats_model, loader, args.heads,
                                    args.max_batches)
    except ValueError as e:
        raise SystemExit(str(e))
    ckpt['state_dict'] = {k: v.detach().cpu()
                          for k, v in model.state_dict().items()}
    if stats_model is not model:  # beside the weights, other heads kept
        heads = dict(ckpt.get(PLAIN_AUX_HEADS_KEY) or {})
        heads.update(stats_model.aux_heads_state(info['heads']))
        ckpt[PLAIN_AUX_HEADS_KEY] = heads
    meta = dict(ckpt.get('meta', {}) or {})
    meta['source_stats'] = dict(heads=list(info['heads']),
                                batches=int(info['batches']),
                                from_checkpoint=osp.abspath(args.checkpoint))
    if not report.complete:
        meta['source_stats'].update(
            not_loaded=report.not_loaded,
            ignored_checkpoint_keys=list(report.unexpected))
    ckpt['meta'] = meta
    tmp = args.out + '.tmp'
    torch.save(ckpt, tmp)
    os.replace(tmp, args.out)
    print(f'source statistics of {info["heads"]} from {info["batches"]} '
          f'batches written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
