"""Runner set-up shared by tools/train.py and tools/test.py."""
import argparse
import os
import os.path as osp
import pickle
import sys
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.runner import Runner


def claim_run_dir(work_dir: str, timestamp: str) -> str:
    """Create ``work_dir/<timestamp>`` atomically and return its name; when
    another run took that name (runs started in the same second), take
    ``<timestamp>_1``, ``<timestamp>_2``, ... instead."""
    os.makedirs(work_dir, exist_ok=True)
    suffix = 0
    while True:
        name = timestamp if suffix == 0 else f'{timestamp}_{suffix}'
        try:
            os.mkdir(osp.join(work_dir, name))
            return name
        except FileExistsError:
            suffix += 1


class ToolRunner(Runner):
    """The mmengine ``Runner`` of tools/train.py and tools/test.py.

    * Every run gets its own log dir: mmengine names it after the start
      second only (``work_dir/<YYYYmmdd_HHMMSS>``), so two runs started in the
      same second shared it and overwrote each other's logs and metrics. The
      name is claimed atomically on rank 0 (with a ``_N`` suffix when taken)
      and broadcast to the other ranks; the experiment name (and with it the
      logger, message hub and visualizer instances) follows it.
    * ``checkpoint_policy``: None loads ``load_from`` the mmengine way
      (non-strict, used by training); ``'strict'`` or ``'partial'`` load it
      through :func:`trttt_mm.utils.checkpoint.load_runner_checkpoint`, which
      fails on (or, when partial, logs) missing, unexpected and
      shape-mismatched keys and records the keys not loaded in the message hub.
    """

    checkpoint_policy: Optional[str] = None

    @classmethod
    def from_cfg(cls, cfg: Config, checkpoint_policy: Optional[str] = None):
        runner = super().from_cfg(cfg)
        runner.checkpoint_policy = checkpoint_policy
        return runner

    def setup_env(self, env_cfg) -> None:
        super().setup_env(env_cfg)
        from mmengine.dist import broadcast_object_list, get_rank
        name = [claim_run_dir(self._work_dir, self._timestamp)
                if get_rank() == 0 else None]
        if self._distributed and dist.is_available() \
                and dist.is_initialized() and dist.get_world_size() > 1:
            broadcast_object_list(name, src=0)
        self._timestamp = name[0]

    def load_checkpoint(self, filename: str, map_location='cpu',
                        strict: bool = False, revise_keys=None):
        if self.checkpoint_policy is None:
            from .checkpoint import (CheckpointMismatchError,
                                     unreadable_checkpoint_message)
            kwargs = {} if revise_keys is None else dict(
                revise_keys=revise_keys)
            try:
                return super().load_checkpoint(filename, map_location,
                                               strict, **kwargs)
            except (RuntimeError, EOFError, OSError,
                    pickle.UnpicklingError) as e:  # torch.load's errors
                raise CheckpointMismatchError(
                    unreadable_checkpoint_message(filename, e)) from e
        if self.checkpoint_policy not in ('strict', 'partial'):
            raise ValueError(
                f'checkpoint_policy must be None, "strict" or "partial", '
                f'not {self.checkpoint_policy!r}')
        from .checkpoint import load_runner_checkpoint
        checkpoint = load_runner_checkpoint(
            self, filename, partial=self.checkpoint_policy == 'partial')
        self._has_loaded = True
        return checkpoint

    def resume(self, filename: str, *args, **kwargs) -> None:
        """mmengine's resume; a checkpoint that cannot be read is a
        :class:`~trttt_mm.utils.checkpoint.CheckpointMismatchError` naming
        it and how to resume from another one."""
        from .checkpoint import CheckpointMismatchError
        try:
            return super().resume(filename, *args, **kwargs)
        except CheckpointMismatchError as e:
            auto = '' if self._load_from else (
                f' It is the latest checkpoint of {self.work_dir} (named by '
                f'{osp.join(self.work_dir, "last_checkpoint")}).')
            raise CheckpointMismatchError(
                f'{e}\n--resume cannot continue from it.{auto} Resume from '
                'an earlier checkpoint with --resume --cfg-options '
                'load_from=PATH, or start again without --resume.') from e


def unique_visualizer(cfg: Config) -> None:
    """Let each runner name its visualizer after its (unique) experiment.

    A fixed ``visualizer.name`` makes mmengine hand a second runner in the
    same process the first one's visualizer, which keeps writing into the
    first run's log dir.
    """
    vis = cfg.get('visualizer')
    if isinstance(vis, dict):
        vis.pop('name', None)


def rendezvous_timeout(cfg: Config) -> float:
    """Seconds the processes wait for each other when the process group
    forms: ``env_cfg.dist_cfg.timeout`` (mmengine's key, seconds) or
    torch's default (30 min).

    Raises:
        ValueError: when the configured timeout is not a positive number.
    """
    dist_cfg = (cfg.get('env_cfg', None) or {}).get('dist_cfg', None) or {}
    timeout = dist_cfg.get('timeout', None)
    if timeout is None:
        from torch.distributed.constants import default_pg_timeout
        return default_pg_timeout.total_seconds()
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or not timeout > 0:
        raise ValueError('env_cfg.dist_cfg.timeout must be a positive '
                         f'number of seconds, got {timeout!r}')
    return float(timeout)


def rendezvous_message(rank: int, world_size: int, address: str,
                       timeout: float) -> str:
    """What a process of ``--launcher pytorch`` waits for, said before it
    waits (a missing process otherwise leaves it silent until the
    timeout)."""
    started = ('' if 'TORCHELASTIC_RUN_ID' in os.environ else
               ' WORLD_SIZE was not set by torchrun: start the processes '
               'with `torchrun --nproc_per_node=N` or tools/dist_train.sh / '
               'tools/dist_test.sh.')
    return (f'--launcher pytorch: rank {rank} of {world_size} waits for '
            f'all {world_size} processes to join at {address} (gives up '
            f'after {timeout:g} s; env_cfg.dist_cfg.timeout sets it).'
            f'{started}')


def _dist_env() -> tuple:
    """RANK, WORLD_SIZE and MASTER_ADDR:MASTER_PORT of torchrun's
    environment, checked."""
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in os.environ:
            raise RuntimeError(f'--launcher pytorch: environment variable '
                               f'{key} is not set; start with torchrun')
    try:
        rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    except ValueError:
        raise RuntimeError(
            '--launcher pytorch: RANK and WORLD_SIZE must be integers, got '
            f'RANK={os.environ["RANK"]!r}, WORLD_SIZE='
            f'{os.environ["WORLD_SIZE"]!r}') from None
    if world < 1 or not 0 <= rank < world:
        raise RuntimeError(f'--launcher pytorch: RANK={rank} is not in '
                           f'0..WORLD_SIZE-1 (WORLD_SIZE={world})')
    return rank, world, (f'{os.environ["MASTER_ADDR"]}:'
                         f'{os.environ["MASTER_PORT"]}')


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Set ``cfg.launcher`` and make ``--launcher pytorch`` work on CPU.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device``
    unconditionally. Without CUDA we initialise a gloo process group ourselves
    (mmengine then skips its own initialisation) and wrap the model in
    ``MMDistributedDataParallel`` without device ids. With more than one
    process, each says on stderr what it waits for and for how long
    (:func:`rendezvous_timeout`) before the process group forms; on CPU a
    group that does not form in time is a ``SystemExit`` saying so.
    """
    cfg.launcher = launcher
    if launcher == 'none':
        return
    if launcher == 'pytorch' and not dist.is_initialized():
        rank, world, address = _dist_env()
        timeout = rendezvous_timeout(cfg)
        if world > 1:
            print(rendezvous_message(rank, world, address, timeout),
                  file=sys.stderr, flush=True)
    if torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise ValueError(f'--launcher {launcher} needs CUDA; on CPU only '
                         "'pytorch' (torchrun) and 'none' are supported")
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend='gloo',
                                    timeout=timedelta(seconds=timeout))
        except (RuntimeError, TimeoutError) as e:  # DistStoreError, ...
            first = (str(e).strip().splitlines() or [''])[0].rstrip('.')
            raise SystemExit(
                f'--launcher pytorch: the process group of {world} '
                f'processes did not form within {timeout:g} s at {address} '
                f'(rank {rank}): {type(e).__name__}: {first}. Are all '
                f'{world} processes running (torchrun --nproc_per_node='
                f'{world})?') from None
    cfg.env_cfg = cfg.get('env_cfg', {})
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    # keep the config's own wrapper options (e.g. find_unused_parameters)
    wrapper = dict(cfg.get('model_wrapper_cfg', None) or {})
    wrapper.update(type='MMDistributedDataParallel', device_ids=None)
    cfg.model_wrapper_cfg = wrapper


def resolve_work_dir(cfg: Config, config_path: str,
                     work_dir: Optional[str]) -> None:
    """``--work-dir`` > ``cfg.work_dir`` > ``./work_dirs/<config name>``."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])


def add_runner_args(parser: argparse.ArgumentParser) -> None:
    """Arguments tools/train.py and tools/test.py share with mmseg's tools."""
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config``, apply ``--cfg-options``, the launcher and the
    work dir; export LOCAL_RANK for launchers that pass ``--local-rank``."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.config):
        raise SystemExit(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    setup_launcher(cfg, args.launcher)
    resolve_work_dir(cfg, args.config, args.work_dir)
    unique_visualizer(cfg)
    return cfg
