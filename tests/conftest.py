import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, ROOT)

import pytest  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

init_default_scope('mmseg')


@pytest.fixture(autouse=True)
def _mmseg_scope():
    """Runner tests switch the default scope; build by name in mmseg's."""
    init_default_scope('mmseg')
    yield
