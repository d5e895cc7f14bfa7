"""Check a dataset copy before training on it.

    python tools/data/check_dataset.py CONFIG_OR_DATASET_ROOT [options]

Given a config, checks every dataset of its train/val/test dataloaders;
given a dataset folder (NYUDv2, PASCAL_MT or Taskonomy), detects the layout
and checks every split (``--split``, ``--tasks``, ``--class-map`` narrow it
down). Reports counts, files missing per task, wrong encodings, value
ranges, size mismatches and the class histogram after remapping; exits 1
when something is wrong and 2 for a bad command line. Never writes into the
dataset folder. The checking functions are in
``trttt_mm/datasets/check.py``; this file is only the command line.
"""
import argparse
import json
import os
import os.path as osp
import sys

# run from a checkout without installing the package
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from trttt_mm.datasets.check import (check_dataset,  # noqa: E402
                                     dataset_cfgs_from_config,
                                     dataset_cfgs_from_root, format_report)
from trttt_mm.datasets.paths import NOT_FOUND, path_problem  # noqa: E402
from trttt_mm.tasks import TASKS  # noqa: E402


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'expected a positive integer, got {text!r}') from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'expected a positive integer (at least 1 sample to decode), got '
            f'{value}')
    return value


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(
        prog='check_dataset.py',
        description='Walk a dataset once and report missing files, wrong '
        'encodings, size mismatches and the class histogram. Exits 1 when '
        'it finds problems. Never writes into the dataset folder.')
    p.add_argument('target', help='a config file (checks the datasets of '
                   'its train/val/test dataloaders) or a dataset folder '
                   '(NYUDv2, PASCAL_MT or Taskonomy, detected from its '
                   'content)')
    p.add_argument('--class-map', default=None,
                   help='class map for a dataset folder (t2n, t2p, ...)')
    p.add_argument('--tasks', nargs='+', default=None,
                   help=f'tasks to check for a dataset folder, some of '
                   f'{TASKS}')
    p.add_argument('--split', nargs='+', default=None,
                   help='splits to check for a dataset folder (default: '
                   'every split file found)')
    p.add_argument('--limit', type=positive_int, default=None,
                   help='decode at most N (>= 1) samples per dataset')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings of a config, key=value')
    p.add_argument('--json', default=None,
                   help='also write the reports to this JSON file (its '
                   'folder must exist; checked before the walk)')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p.parse_args(argv)


def json_path_problem(path: str):
    """Why the report cannot be written to ``path``, or None.

    Checked before the walk, so that a long walk does not end in an
    unwritable report.
    """
    folder = osp.dirname(osp.abspath(path))
    problem = path_problem(folder, expect='folder')
    if problem:
        if problem == NOT_FOUND:
            problem = 'does not exist'
        return (f'--json {path!r}: its folder {folder!r} {problem}; create '
                'it first or choose another path')
    if osp.isdir(path):
        return f'--json {path!r} is a folder; expected a file path'
    if osp.exists(path) and not os.access(path, os.W_OK):
        return f'--json {path!r} exists and is not writable'
    if not osp.exists(path) and not os.access(folder, os.W_OK | os.X_OK):
        return f'--json {path!r}: cannot create files in {folder!r}'
    return None


def main(argv=None) -> int:
    """Run the checker; returns the exit status (0 ok, 1 problems, 2 usage).
    """
    args = parse_args(argv)
    if args.json:
        problem = json_path_problem(args.json)
        if problem:
            print(f'error: {problem}', file=sys.stderr)
            return 2
    from mmengine.registry import init_default_scope

    import trttt_mm  # noqa: F401  (registers the datasets)
    target = args.target
    try:
        if osp.isfile(target):
            from mmengine.config import Config
            cfg = Config.fromfile(target)
            if args.cfg_options:
                cfg.merge_from_dict(args.cfg_options)
            init_default_scope(cfg.get('default_scope', 'mmseg'))
            todo = dataset_cfgs_from_config(cfg)
            if not todo:
                print(f'error: {target} defines no train/val/test dataloader '
                      'dataset', file=sys.stderr)
                return 2
        elif osp.isdir(target):
            init_default_scope('mmseg')
            todo = dataset_cfgs_from_root(
                target, class_map=args.class_map, tasks=args.tasks,
                splits=args.split)
        else:
            why = path_problem(target, expect='folder') or 'not a folder'
            print(f'error: {target!r} is neither a config file nor a folder '
                  f'({why})', file=sys.stderr)
            return 2
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    reports = []
    for label, ds_cfg in todo:
        report = check_dataset(
            ds_cfg, label=label, limit=args.limit, progress=not args.quiet)
        reports.append(report)
        print(format_report(report))
        print()
    bad = [r for r in reports if not r.ok]
    samples = sum(r.num_samples or 0 for r in reports)
    problems = sum(len(r.problems) for r in reports)
    verdict = 'FAILED' if bad else 'OK'
    print(f'== summary: {len(reports)} dataset(s), {samples} sample(s), '
          f'{problems} problem(s): {verdict}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump([r.to_dict() for r in reports], f, indent=2)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
