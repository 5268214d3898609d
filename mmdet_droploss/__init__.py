"""mmdet-droploss: long-tail classification losses (DropLoss, BEQL, EQL) for MMDetection 3.x.

Importing this package registers everything in mmdet's registries, so a config needs only::

    custom_imports = dict(imports=['mmdet_droploss'], allow_failed_imports=False)

The compatibility fixes in :mod:`mmdet_droploss.compat` are applied first, at import time.
"""
from . import compat  # noqa: F401  (must run before anything loads checkpoints or evaluates)
from . import analysis, evaluation, hooks, losses, model_zoo  # noqa: F401
from .version import __version__

__all__ = ['__version__']
