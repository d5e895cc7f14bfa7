"""trttt_mm: test-time training for multi-task dense prediction (OpenMMLab
plugin). Importing the package registers every component in mmseg's
registries."""
from .version import __version__  # noqa: F401
from . import datasets, engine, evaluation, models  # noqa: F401,E402
