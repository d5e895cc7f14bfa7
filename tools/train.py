"""Train a multi-task model: ``python tools/train.py CONFIG [options]``."""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from trttt_mm.utils import resolve_work_dir, setup_launcher  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a trttt_mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', action='store_true', default=False,
        help='resume from the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic mixed precision training')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise SystemExit(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    setup_launcher(cfg, args.launcher)
    resolve_work_dir(cfg, args.config, args.work_dir)
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
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
