"""``_base_ = 'mmdet_droploss::droploss/mask_rcnn_r50_lvis.py'`` in any config.

MMEngine resolves ``package::path`` config names only for the packages in its fixed table
``mmengine.config.utils.MODULE2PACKAGE`` (``mmdet``, ``mmpretrain``, ...): for any other name it
fails with ``AssertionError: mmengine does not support to load mmdet_droploss config``. It then
reads ``<installed package>/.mim/configs/<path>``, finding the installed package through
``pkg_resources`` (``get_installed_path``), which points at ``site-packages/mmdet_droploss`` even
for an editable install whose code lives in a clone.

Importing :mod:`mmdet_droploss` (our tools and ``mim``'s run of them do; a script of yours does it
with ``import mmdet_droploss`` before ``Config.fromfile``) therefore

* adds ``mmdet_droploss`` to that table, and
* makes MMEngine's config loader find this package where it is actually imported from (the
  same code the configs are for); every other package is looked up as before.

The configs themselves are in ``mmdet_droploss/.mim/configs`` (see :mod:`mmdet_droploss.resources`).
"""
from pathlib import Path

import mmengine.config.config as _config_module
from mmengine.config import utils as _config_utils

PACKAGE = 'mmdet_droploss'
_NAMES = (PACKAGE, 'mmdet-droploss')


def _package_dir() -> str:
    """This package's folder; it must hold ``.mim`` (MMEngine reads ``.mim/configs`` there)."""
    package_dir = Path(__file__).resolve().parents[1]
    if not (package_dir / '.mim' / 'configs').is_dir():
        raise FileNotFoundError(
            f'{package_dir / ".mim"} is missing, so `{PACKAGE}::` configs cannot be found. In a '
            'clone, run `pip install -e .` (or `make setup`): it links configs/ and tools/ '
            'there. Otherwise reinstall mmdet-droploss from its wheel or sdist.')
    return str(package_dir)


def _wrap_get_installed_path(original):
    if getattr(original, '_mmdet_droploss', False):
        return original

    def get_installed_path(package: str) -> str:
        if package in _NAMES:
            return _package_dir()
        return original(package)

    get_installed_path._mmdet_droploss = True  # type: ignore[attr-defined]
    get_installed_path.__doc__ = original.__doc__
    return get_installed_path


def apply() -> None:
    """Register the scope (idempotent)."""
    _config_utils.MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    _config_module.get_installed_path = _wrap_get_installed_path(
        _config_module.get_installed_path)


apply()
