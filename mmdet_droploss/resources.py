"""Where the configs, tools and model index are, installed or in a source checkout.

An installed wheel carries them in ``mmdet_droploss/.mim/`` (``configs/``, ``tools/``,
``model-index.yml``: the layout of OpenMMLab packages, written by ``setup.py``). An editable
install has the same folder as symlinks into the repository. A plain checkout used through
``PYTHONPATH`` has no ``.mim``; then the repository's own ``configs/`` and ``tools/`` are used.

:func:`config_path` turns what a user may type for a config into a file:

* a path to an existing file;
* ``mmdet_droploss::droploss/mask_rcnn_r50_lvis.py`` (as in ``_base_``), or another installed
  OpenMMLab package's ``mmdet::lvis/...``;
* ``droploss/mask_rcnn_r50_lvis.py`` or ``configs/droploss/mask_rcnn_r50_lvis.py``: a config
  shipped with this package.
"""
import difflib
from pathlib import Path
from typing import List, Optional, Union

__all__ = ['PACKAGE', 'ConfigNotFoundError', 'config_path', 'configs_root', 'list_configs',
           'mim_root', 'model_index_file', 'scoped_config_path', 'tools_root']

PACKAGE = 'mmdet_droploss'
_PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE_DIR.parent  # the repository root, when this is a source checkout


class ConfigNotFoundError(FileNotFoundError):
    """A config name that is neither a file nor a config shipped with a package."""


def _is_checkout() -> bool:
    return (_CHECKOUT / 'pyproject.toml').is_file() and (_CHECKOUT / 'configs').is_dir()


def mim_root() -> Path:
    """The folder holding ``configs/``, ``tools/`` and ``model-index.yml``.

    ``mmdet_droploss/.mim`` when present (wheel, editable install), else the repository root of a
    source checkout. Raises ``FileNotFoundError`` when neither exists (a broken install).
    """
    packaged = _PACKAGE_DIR / '.mim'
    if (packaged / 'configs').is_dir():
        return packaged
    if _is_checkout():
        return _CHECKOUT
    raise FileNotFoundError(
        f'{packaged} is missing: this installation of mmdet-droploss has no configs or tools. '
        'Reinstall it from a wheel or sdist (pip install mmdet-droploss), or run '
        '`pip install -e .` in a clone.')


def configs_root() -> Path:
    return mim_root() / 'configs'


def tools_root() -> Path:
    return mim_root() / 'tools'


def model_index_file() -> Path:
    return mim_root() / 'model-index.yml'


def list_configs() -> List[str]:
    """Every shipped config, relative to ``configs/`` (the part after ``mmdet_droploss::``)."""
    root = configs_root()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob('*.py')
                  if '__pycache__' not in p.parts)


def scoped_config_path(name: str) -> Path:
    """The file ``package::rel`` names (``<installed package>/.mim/configs/rel``, as MMEngine
    reads it; for this package, :func:`configs_root`), whether or not it exists."""
    package, rel = name.split('::', 1)
    if package == PACKAGE:
        return configs_root() / rel
    from mmengine.config.utils import MODULE2PACKAGE
    from mmengine.utils import get_installed_path, is_installed
    dist = MODULE2PACKAGE.get(package, package)
    if not is_installed(dist):
        raise ConfigNotFoundError(f'{package}::{rel}: the package {dist} is not installed.')
    return Path(get_installed_path(dist)) / '.mim' / 'configs' / rel


def config_path(name: Union[str, Path], must_exist: bool = True) -> Optional[Path]:
    """The config file that ``name`` stands for (see the module docstring).

    Raises :class:`ConfigNotFoundError` naming close shipped configs, unless ``must_exist`` is
    false, in which case ``None`` is returned for a name that matches nothing.
    """
    text = str(name)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if '::' in text:
        candidate = scoped_config_path(text)
    else:
        rel = text[len('configs/'):] if text.startswith('configs/') else text
        candidate = configs_root() / rel
    if candidate.is_file():
        return candidate
    if not must_exist:
        return None
    close = difflib.get_close_matches(text.split('::')[-1], list_configs(), n=3, cutoff=0.6)
    hint = (' Did you mean ' + ' or '.join(f'{PACKAGE}::{c}' for c in close) + '?') if close else ''
    raise ConfigNotFoundError(
        f'Config not found: {text} (neither a file nor a config shipped in {configs_root()}).'
        f'{hint} List the shipped configs with `mmdet-droploss configs`.')
