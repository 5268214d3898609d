"""Build hooks that ship the configs, the model index and the tools inside the package.

The metadata is in ``pyproject.toml``; this file only adds what OpenMMLab packages do in their
``setup.py`` (``add_mim_extension``): the repository's ``configs/``, ``tools/`` and
``model-index.yml`` become ``mmdet_droploss/.mim/``, the layout MMEngine (``_base_ =
'mmdet_droploss::...'``) and ``mim`` (train / test / download) look in.

* wheel (``build_py``): copied into the build directory, never into the source tree;
* sdist (``make_release_tree``): copied into the release tree, so the sdist carries
  ``mmdet_droploss/.mim/`` and a wheel built from it (``python -m build``) copies that;
* editable install (``pip install -e .``): relative symlinks ``mmdet_droploss/.mim/* ->
  ../../configs`` etc. in the source tree (git-ignored), so edits show without reinstalling.

The repository keeps one copy of every config and tool; nothing under ``.mim`` is in git.
"""
import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
PACKAGE = 'mmdet_droploss'
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')
_IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc', '*.pyo')


def _mim_sources(base: Path) -> dict:
    """``{name: source path}`` of the ``.mim`` items under the tree rooted at ``base``.

    A repository has them at its root; an unpacked sdist has them in ``mmdet_droploss/.mim``.
    """
    if all((base / name).exists() for name in MIM_ITEMS):
        return {name: base / name for name in MIM_ITEMS}
    packaged = base / PACKAGE / '.mim'
    if all((packaged / name).exists() for name in MIM_ITEMS):
        return {name: packaged / name for name in MIM_ITEMS}
    raise FileNotFoundError(
        f'Neither {base} nor {packaged} has all of {", ".join(MIM_ITEMS)}: build from the '
        'repository root or from an sdist of it.')


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def write_mim(target: Path, sources: dict, symlink: bool = False) -> None:
    """Copy (or relatively symlink) ``sources`` into ``target`` (a ``.mim`` folder)."""
    target.mkdir(parents=True, exist_ok=True)
    for name, src in sources.items():
        dst = target / name
        if dst.resolve() == src.resolve():  # building an sdist's own .mim in place
            continue
        _remove(dst)
        if symlink:
            os.symlink(os.path.relpath(src, target), dst)
        elif src.is_dir():
            shutil.copytree(src, dst, ignore=_IGNORE)
        else:
            shutil.copy2(src, dst)


class BuildPyWithMim(build_py):
    """``build_py`` that also writes ``mmdet_droploss/.mim`` (copies; symlinks when editable)."""

    def run(self) -> None:
        super().run()
        sources = _mim_sources(ROOT)
        if self.editable_mode:
            write_mim(ROOT / PACKAGE / '.mim', sources, symlink=True)
        else:
            write_mim(Path(self.build_lib) / PACKAGE / '.mim', sources)


class SdistWithMim(sdist):
    """``sdist`` whose archive carries ``mmdet_droploss/.mim`` as real files."""

    def make_release_tree(self, base_dir, files) -> None:
        super().make_release_tree(base_dir, files)
        write_mim(Path(base_dir) / PACKAGE / '.mim', _mim_sources(ROOT))


setup(cmdclass={'build_py': BuildPyWithMim, 'sdist': SdistWithMim})
