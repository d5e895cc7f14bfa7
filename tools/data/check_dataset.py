"""Check a dataset copy before training on it.

    python tools/data/check_dataset.py CONFIG_OR_DATASET_ROOT [options]

Given a config, checks every dataset of its train/val/test dataloaders;
given a dataset folder (NYUDv2, PASCAL_MT or Taskonomy), detects the layout
and checks every split (``--split``, ``--tasks``, ``--class-map`` narrow it
down). Reports counts, files missing per task, wrong encodings, value
ranges, size mismatches and the class histogram after remapping; exits 1
when something is wrong. Never writes into the dataset folder. The logic is
in ``trttt_mm/datasets/check.py``.
"""
import os.path as osp
import sys

# run from a checkout without installing the package
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from trttt_mm.datasets.check import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
