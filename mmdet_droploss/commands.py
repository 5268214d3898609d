"""The ``mmdet-droploss`` command (also ``python -m mmdet_droploss``): the tools, installed.

Every script in ``tools/`` is a subcommand, named after its file (``-`` or ``_`` alike)::

    mmdet-droploss train mmdet_droploss::demo/mask_rcnn_tiny_droploss_demo.py --work-dir w
    mmdet-droploss dist-train droploss/mask_rcnn_r50_lvis.py 8
    mmdet-droploss test CONFIG CHECKPOINT_OR_ZOO_NAME
    mmdet-droploss download --list              # short for download-checkpoint
    mmdet-droploss demo --data-dir ~/demo_lvis --work-dir ~/demo_run [--nproc 2] [train options]
    mmdet-droploss configs [PATTERN] [--path]   # the shipped configs

The scripts are the ones shipped in ``mmdet_droploss/.mim/tools`` (or a checkout's ``tools/``),
run unchanged: a Python tool in this process as ``__main__``, a shell tool with ``bash`` and
``$PYTHON`` set to this interpreter. Where a tool takes a config, a shipped config's name works
as well as a path (:func:`mmdet_droploss.resources.config_path`).
"""
import argparse
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .resources import config_path, list_configs, tools_root

__all__ = ['ALIASES', 'available_tools', 'main', 'run_tool']

PROG = 'mmdet-droploss'
# Short names for tools whose file names are long.
ALIASES = {'download': 'download_checkpoint', 'convert-d2': 'convert_d2_checkpoint',
           'generate-demo-data': 'generate_demo_dataset'}
_INTERNAL = {'_launch', 'setup_env'}  # sourced by the others / builds a clone's .venv


def available_tools() -> Dict[str, Path]:
    """``{subcommand: script}`` for every tool shipped with the package."""
    tools = {}
    for script in sorted(tools_root().glob('*')):
        if script.suffix in ('.py', '.sh') and script.stem not in _INTERNAL:
            tools[script.stem.replace('_', '-')] = script
    return tools


def run_tool(script: Path, args: Sequence[str]) -> int:
    """Run one tool script with ``args``; returns its exit status."""
    if script.suffix == '.sh':
        env = dict(os.environ, PYTHON=os.environ.get('PYTHON', sys.executable))
        return subprocess.call(['bash', str(script), *args], env=env)
    argv = sys.argv
    sys.argv = [str(script), *args]
    try:
        runpy.run_path(str(script), run_name='__main__')
    except SystemExit as done:
        code = done.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    finally:
        sys.argv = argv
    return 0


def _demo(args: List[str]) -> int:
    """``tools/run_demo.sh`` with the data and outputs in folders of the user's choosing."""
    parser = argparse.ArgumentParser(
        prog=f'{PROG} demo',
        description='Generate the built-in synthetic long-tailed LVIS-format dataset (if not '
        'there yet), train the tiny Mask R-CNN with DropLoss and evaluate it (tools/run_demo.sh). '
        'Other options go to the train tool, e.g. --cfg-options train_cfg.max_iters=100.')
    parser.add_argument('--data-dir', default=os.environ.get('MMDET_DROPLOSS_DEMO_DATA',
                                                             'data/demo_lvis'),
                        help='where the demo data is, or is generated '
                        '(default: $MMDET_DROPLOSS_DEMO_DATA or ./data/demo_lvis)')
    parser.add_argument('--work-dir', default='work_dirs/demo_droploss',
                        help='checkpoints and logs (default: ./work_dirs/demo_droploss)')
    parser.add_argument('--nproc', type=int, default=int(os.environ.get('NPROC', 2)),
                        help='training processes (default: 2)')
    parser.add_argument('--config', default='mmdet_droploss::demo/mask_rcnn_tiny_droploss_demo.py',
                        help='demo config (default: the DropLoss one; ..._eql_demo.py and '
                        '..._bce_demo.py are the others)')
    known, extra = parser.parse_known_args(args)
    config = config_path(known.config)  # fails here, clearly, on a wrong name
    env = dict(os.environ,
               MMDET_DROPLOSS_DEMO_DATA=os.path.join(os.path.abspath(known.data_dir), ''),
               WORK_DIR=os.path.abspath(known.work_dir), NPROC=str(known.nproc),
               # run_demo.sh runs in the tools' parent folder: a path must be absolute; a
               # shipped config's name is passed on as it is (the train tool resolves it).
               CONFIG=os.path.abspath(known.config) if os.path.isfile(known.config) else
               known.config,
               PYTHON=os.environ.get('PYTHON', sys.executable))
    print(f'[demo] config {config}\n[demo] data {env["MMDET_DROPLOSS_DEMO_DATA"]}\n'
          f'[demo] work dir {env["WORK_DIR"]}', flush=True)
    return subprocess.call(['bash', str(tools_root() / 'run_demo.sh'), *extra], env=env)


def _configs(args: List[str]) -> int:
    parser = argparse.ArgumentParser(prog=f'{PROG} configs',
                                     description='List the configs shipped with the package.')
    parser.add_argument('pattern', nargs='?', default='', help='only names containing this')
    parser.add_argument('--path', action='store_true', help='print file paths, not names')
    known = parser.parse_args(args)
    for name in list_configs():
        if known.pattern in name:
            print(config_path(f'mmdet_droploss::{name}') if known.path
                  else f'mmdet_droploss::{name}')
    return 0


def _usage(tools: Dict[str, Path]) -> str:
    aliases = ', '.join(f'{a} = {t.replace("_", "-")}' for a, t in ALIASES.items())
    return (f'usage: {PROG} COMMAND [ARGS...]   (COMMAND -h for its options)\n\n'
            'commands:\n  demo, configs, ' + ', '.join(tools) + f'\n  ({aliases})\n')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    tools = available_tools()
    if not args or args[0] in ('-h', '--help'):
        print(_usage(tools))
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == 'demo':
        return _demo(rest)
    if command == 'configs':
        return _configs(rest)
    name = ALIASES.get(command, command).replace('_', '-')
    if name not in tools:
        print(f'{PROG}: unknown command {command!r}.\n\n{_usage(tools)}', file=sys.stderr)
        return 2
    return run_tool(tools[name], rest)


if __name__ == '__main__':
    sys.exit(main())
