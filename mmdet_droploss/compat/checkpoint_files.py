"""Checkpoint files that are complete or absent, and a resume that skips broken ones.

MMEngine 0.10.7 writes a checkpoint in place (``save_checkpoint`` -> ``LocalBackend.put`` opens
the final path and writes), so a process killed while saving (preemption, the out-of-memory
killer) leaves a truncated ``iter_N.pth`` that ``last_checkpoint`` may name, and ``--resume``
then dies inside ``torch.load`` with "PytorchStreamReader failed reading zip archive".

:func:`apply` (run when :mod:`mmdet_droploss` is imported) changes, for local paths only:

* **saving**: :func:`atomic_save_checkpoint` writes to a hidden temporary file in the same
  folder, flushes it to disk and renames it over the final name (``os.replace`` is atomic), so
  ``iter_N.pth`` is either the complete new file or not there. A kill leaves at most a hidden
  ``.iter_N.pth.*.tmp``, removed by the next save of the same name.
* **auto-resume** (``--resume`` without a path, ``resume=True`` with no ``load_from``):
  :func:`find_latest_checkpoint` returns the checkpoint ``last_checkpoint`` names if it is
  complete; otherwise the newest complete ``iter_N.pth`` / ``epoch_N.pth`` in the work dir, with a
  warning naming the broken file; and stops with :class:`CheckpointReadError` if there is none.
* **loading a named file** (``--resume PATH``, ``load_from``, ``tools/test.py CHECKPOINT``):
  :func:`check_checkpoint_file` (called by the safe loader of :mod:`.checkpoint`) raises
  :class:`CheckpointReadError` naming the file, what is wrong and the newest complete checkpoint
  beside it, instead of a bare torch traceback.

"Complete" is checked cheaply, without reading the tensors: torch's zip format has its central
directory at the end of the file, which truncation removes.
"""
from __future__ import annotations

import glob
import logging
import os
import os.path as osp
import re
import tempfile
import zipfile
from typing import Any, List, Optional, Tuple

import torch
from mmengine.fileio import get_file_backend
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import print_log
from mmengine.runner import checkpoint as _mmengine_checkpoint
from mmengine.runner import runner as _mmengine_runner

__all__ = [
    'CheckpointReadError', 'apply', 'atomic_save_checkpoint', 'check_checkpoint_file',
    'checkpoint_problem', 'complete_checkpoints', 'find_latest_checkpoint', 'write_text_atomic',
]

_STEP_FILE = re.compile(r'^(iter|epoch)_(\d+)\.pth$')
_ORIGINAL_SAVE = _mmengine_checkpoint.save_checkpoint


class CheckpointReadError(RuntimeError):
    """A checkpoint file is missing, truncated or unreadable (the message says which and why)."""


def write_text_atomic(path: str, text: str) -> None:
    """Write a small text file through a temporary file and a rename."""
    _replace_atomically(path, lambda f: f.write(text.encode()))


def _replace_atomically(path: str, write) -> None:
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base = osp.basename(path)
    for stale in glob.glob(osp.join(glob.escape(folder), f'.{glob.escape(base)}.*.tmp')):
        try:  # left by a process killed while writing this name
            os.remove(stale)
        except OSError:
            pass
    fd, tmp = tempfile.mkstemp(prefix=f'.{base}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what open(path, 'w') would have given, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def atomic_save_checkpoint(checkpoint: dict, filename: str, file_client_args: Any = None,
                           backend_args: Optional[dict] = None) -> None:
    """MMEngine's ``save_checkpoint``; a local file is written to a temporary file and renamed."""
    if (file_client_args is None and '://' not in str(filename) and
            isinstance(get_file_backend(filename, backend_args=backend_args), LocalBackend)):
        _replace_atomically(str(filename), lambda f: torch.save(checkpoint, f))
    else:
        _ORIGINAL_SAVE(checkpoint, filename, file_client_args, backend_args)


def checkpoint_problem(path: str) -> Optional[str]:
    """What is wrong with the checkpoint file at ``path``, or ``None`` if it looks complete."""
    if not osp.isfile(path):
        return 'does not exist'
    size = osp.getsize(path)
    if size == 0:
        return 'is empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(4)
    if head[:2] != b'PK':
        if head[:1] == b'\x80':  # torch's legacy (pre-1.6) pickle format: no cheap check
            return None
        return f'is not a torch checkpoint ({size} bytes, starts with {head!r})'
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        return f'is truncated or corrupt ({size} bytes; {err})'
    if not any(name.endswith('/data.pkl') or name == 'data.pkl' for name in names):
        return f'has no data.pkl record ({size} bytes): not a complete torch checkpoint'
    return None


def _step(path: str) -> Tuple[int, int]:
    match = _STEP_FILE.match(osp.basename(path))
    return (int(match.group(2)), 1 if match.group(1) == 'iter' else 0) if match else (-1, -1)


def complete_checkpoints(folder: str, exclude: Optional[str] = None) -> List[str]:
    """The complete ``iter_N.pth`` / ``epoch_N.pth`` files in ``folder``, newest step first."""
    if not osp.isdir(folder):
        return []
    found = [osp.join(folder, name) for name in os.listdir(folder) if _STEP_FILE.match(name)]
    found = [p for p in found if exclude is None or osp.abspath(p) != osp.abspath(exclude)]
    return [p for p in sorted(found, key=_step, reverse=True) if checkpoint_problem(p) is None]


def _newest_hint(path: str) -> str:
    good = complete_checkpoints(osp.dirname(osp.abspath(path)), exclude=path)
    if not good:
        return f'There is no complete checkpoint beside it in {osp.dirname(osp.abspath(path))}.'
    return (f'The newest complete checkpoint beside it is {good[0]}: resume with '
            f'--resume {good[0]}, or run --resume without a path, which skips broken files.')


def check_checkpoint_file(path: str) -> None:
    """Raise :class:`CheckpointReadError` if ``path`` is missing, truncated or not a checkpoint."""
    problem = checkpoint_problem(path)
    if problem is not None:
        raise CheckpointReadError(f"Checkpoint '{path}' {problem}. {_newest_hint(path)}")


def unreadable_checkpoint_error(path: str, err: BaseException) -> CheckpointReadError:
    """The error for a checkpoint that passed :func:`check_checkpoint_file` but failed to load."""
    reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return CheckpointReadError(f"Checkpoint '{path}' cannot be read (torch: {reason}); it may be "
                               f'corrupt. {_newest_hint(path)}')


def find_latest_checkpoint(path: str) -> Optional[str]:
    """The checkpoint ``--resume`` without a path continues from (MMEngine's function, robust).

    ``last_checkpoint`` in the work dir ``path`` names it, as in MMEngine; when that file is
    broken (or ``last_checkpoint`` is missing, empty or names a missing file) the newest complete
    checkpoint in its folder and in ``path`` is used instead, with a warning; ``None`` when there
    is no checkpoint at all (training starts from scratch, as in MMEngine).
    """
    named = None
    save_file = osp.join(path, 'last_checkpoint')
    if osp.isfile(save_file):
        with open(save_file) as f:
            named = f.read().strip() or None
    if named is not None and '://' in named:
        return named  # a remote checkpoint: left to MMEngine
    if named is not None and checkpoint_problem(named) is None:
        return named
    folders = [path] + ([osp.dirname(named)] if named else [])
    candidates = sorted({c for folder in folders for c in complete_checkpoints(folder)},
                        key=_step, reverse=True)
    broken = [p for folder in folders if osp.isdir(folder) for p in
              sorted(glob.glob(osp.join(glob.escape(folder), '*_*.pth')))
              if _STEP_FILE.match(osp.basename(p)) and checkpoint_problem(p) is not None]
    if named is not None:
        why = f"'{named}' (named by {save_file}) {checkpoint_problem(named)}"
    elif candidates or broken:
        why = f'{save_file} is missing or empty'
    else:
        print_log('Did not find last_checkpoint to be resumed.', logger='current')
        return None
    if candidates:
        print_log(f'Auto-resume: {why}; resuming from the previous complete checkpoint '
                  f'{candidates[0]} instead.', logger='current', level=logging.WARNING)
        return candidates[0]
    listing = ''.join(f'\n  {p}: {checkpoint_problem(p)}' for p in broken)
    raise CheckpointReadError(
        f'Cannot resume: {why}, and there is no complete checkpoint in {path} to fall back to.'
        f'{listing}\nStart without --resume (or with load_from set to a good checkpoint).')


_applied = False


def apply() -> None:
    """Install atomic saving and the robust auto-resume into MMEngine (idempotent)."""
    global _applied
    if _applied:
        return
    # Runner.save_checkpoint and Runner.load_or_resume call these names in mmengine.runner.runner.
    for module in (_mmengine_checkpoint, _mmengine_runner):
        module.save_checkpoint = atomic_save_checkpoint
        module.find_latest_checkpoint = find_latest_checkpoint
    _applied = True


apply()
