"""What the packaging tests share: a copy of the repository's sources, a new virtual environment
that borrows the heavy dependencies (torch, mmcv, mmdet, ...) of the project environment
through a ``.pth`` file, pip into it, and commands run with it outside the repository."""
import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ('pyproject.toml', 'setup.py', 'README.md', 'model-index.yml', 'mmdet_droploss',
           'configs', 'tools')
DEMO_CONFIG = 'demo/mask_rcnn_tiny_droploss_demo.py'


def has_module(module: str) -> bool:
    from importlib.util import find_spec
    return find_spec(module) is not None


def version() -> str:
    """The version, read from mmdet_droploss/version.py's source (not by importing it)."""
    tree = ast.parse((ROOT / 'mmdet_droploss' / 'version.py').read_text())
    return next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and node.targets[0].id == '__version__')


def run(args, cwd, env, timeout=1200, stdout_only=False) -> str:
    """Run a command; its output (stdout and stderr, or stdout alone); fails with its tail.

    The command gets its own process group, ended whole on a timeout (launchers start children).
    """
    proc = subprocess.Popen([str(a) for a in args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE if stdout_only else subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f'{" ".join(map(str, args))} ran over {timeout} s:\n{out[-3000:]}')
    assert proc.returncode == 0, (f'{" ".join(map(str, args))} failed:\n{out[-6000:]}'
                                  f'{err[-6000:] if stdout_only else ""}')
    return out


def json_out(args, cwd, env):
    """The JSON line a command prints last."""
    return json.loads(run(args, cwd, env, stdout_only=True).strip().splitlines()[-1])


def copy_sources(dst: Path) -> Path:
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim', '*.egg-info')
    dst.mkdir(parents=True)
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=ignore)
        else:
            shutil.copy2(src, dst / name)
    return dst


def make_venv(path: Path) -> Path:
    """A venv without pip whose ``.pth`` adds the project environment's site-packages last."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(path)], check=True)
    python = path / 'bin' / 'python'
    site = subprocess.run([str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()'
                           '["purelib"])'], check=True, capture_output=True, text=True)
    shared = {sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']}
    (Path(site.stdout.strip()) / 'zz_project_env.pth').write_text('\n'.join(sorted(shared)) + '\n')
    return python


def pip_into(python: Path, *args) -> None:
    subprocess.run([sys.executable, '-m', 'pip', '--python', str(python), 'install', '-q',
                    '--no-deps', '--no-build-isolation', *map(str, args)], check=True)


def outside_env() -> dict:
    """This process's environment without ``PYTHONPATH`` and ``VIRTUAL_ENV``: a command then
    imports what its interpreter has installed, not this checkout."""
    return {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
