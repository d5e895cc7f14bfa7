"""Train a multi-task model: ``python tools/train.py CONFIG [options]``."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from trttt_mm.utils import ToolRunner, add_runner_args, load_config  # noqa
from trttt_mm.utils.checkpoint import CheckpointMismatchError  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a trttt_mm model')
    parser.add_argument('config', help='train config file path')
    add_runner_args(parser)
    parser.add_argument(
        '--resume', action='store_true', default=False,
        help='resume from the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic mixed precision training')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args)
    if args.amp:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a CUDA device (mmengine\'s '
                             'AmpOptimWrapper); on the CPU train without it')
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP training is already enabled in the config.')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    cfg.resume = args.resume
    # ToolRunner: a log dir of its own even when another run starts in the
    # same second; load_from (fine-tuning) still loads the mmengine way.
    runner = ToolRunner.from_cfg(cfg)
    try:
        runner.train()
    except CheckpointMismatchError as e:  # --resume / load_from unreadable
        raise SystemExit(f'error: {e}') from None


if __name__ == '__main__':
    main()
