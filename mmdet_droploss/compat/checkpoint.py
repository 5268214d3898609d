"""Safe checkpoint loading for MMEngine under torch's ``weights_only=True`` default.

Since torch 2.6, ``torch.load`` unpickles with ``weights_only=True`` unless told otherwise. MMEngine
0.10.7 calls ``torch.load(filename, map_location=...)``, and the checkpoints its own ``Runner``
writes hold more than tensors: the message hub stores
:class:`~mmengine.logging.HistoryBuffer` objects backed by numpy arrays, and the runtime info holds
numpy scalars. Loading them (``load_from``, ``--resume``) fails with an ``UnpicklingError``.
Meanwhile MMEngine's ``http(s)://`` loader goes through ``torch.hub.load_state_dict_from_url``,
whose default is still ``weights_only=False``: a downloaded checkpoint can run arbitrary code.

The fix, applied once when this module is imported:

* :data:`MMENGINE_SAFE_GLOBALS`, exactly the globals MMEngine's checkpoints need, are added to
  torch's allowlist (:func:`torch.serialization.add_safe_globals`), so ``weights_only=True`` keeps
  working for them. ``getattr`` is not allowed in general: a restricted stand-in only resolves the
  four statistics methods a ``HistoryBuffer`` pickles by reference.
* MMEngine's local-file and ``http(s)://`` checkpoint loaders are replaced by ones that go through
  :func:`load_checkpoint_file`: ``weights_only=True`` always, and a checkpoint that needs any other
  global is refused with :class:`UnsafeCheckpointError`, naming what it needs, unless the user
  opts in with the environment variable ``MMDET_DROPLOSS_ALLOW_UNSAFE_LOAD=1``, the
  :func:`allow_unsafe_load` context manager, or ``load_checkpoint_file(..., allow_unsafe=True)``.

Every MMEngine entry point that reads a checkpoint (``Runner.load_checkpoint``, ``resume``,
``mmengine.runner.load_checkpoint``, ``init_cfg=dict(type='Pretrained')``, ``torchvision://`` and
``open-mmlab://`` names) resolves to those two loaders.
"""
import contextlib
import contextvars
import os
import os.path as osp
import pickle
import warnings
import zipfile
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union
from urllib.parse import urlparse

import torch
from mmengine.dist import get_dist_info
from mmengine.logging import HistoryBuffer, print_log
from mmengine.runner import checkpoint as _mmengine_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoint_files import check_checkpoint_file, unreadable_checkpoint_error

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray
import numpy as np

__all__ = [
    'ALLOW_UNSAFE_ENV', 'MMENGINE_SAFE_GLOBALS', 'UnsafeCheckpointError', 'allow_unsafe_load',
    'apply', 'load_checkpoint_file', 'load_from_http', 'load_from_local', 'unsafe_load_allowed',
]

#: Set to 1/true/yes to let checkpoints that need more than the allowlist load with
#: ``weights_only=False`` (full pickle: only for files from a source you trust).
ALLOW_UNSAFE_ENV = 'MMDET_DROPLOSS_ALLOW_UNSAFE_LOAD'
_TRUE = ('1', 'true', 'yes', 'y', 'on')

# The statistics a HistoryBuffer registers by default (HistoryBuffer._set_default_statistics);
# pickle stores them as getattr(HistoryBuffer, name) because they are nested functions.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_statistic(owner: Any, name: str) -> Callable:
    """Stand-in for ``getattr`` while unpickling: only ``HistoryBuffer.<statistic>``."""
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({owner!r}, {name!r}) is not allowed: only HistoryBuffer statistics '
        f'{_HISTORY_BUFFER_STATISTICS} may be looked up while loading a checkpoint.')


#: The globals MMEngine's own checkpoints need beyond torch's defaults, found with
#: ``torch.serialization.get_unsafe_globals_in_checkpoint`` on a ``Runner`` checkpoint: the
#: message hub's HistoryBuffers (numpy arrays and dtypes inside), numpy scalars in the runtime
#: info, and HistoryBuffer's statistics methods pickled via ``getattr``; the dtype classes are
#: added below. The ``numpy.core``
#: spellings are how numpy 1.x pickled the same functions (checkpoints written before numpy 2).
MMENGINE_SAFE_GLOBALS: List[Union[Callable, Tuple[Callable, str]]] = [
    HistoryBuffer,
    np.ndarray,
    np.dtype,
    (_multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
    (_multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
    (_multiarray.scalar, 'numpy._core.multiarray.scalar'),
    (_multiarray.scalar, 'numpy.core.multiarray.scalar'),
    (_history_buffer_statistic, 'builtins.getattr'),
]
# Unpickling an array's dtype sets state on a dtype instance, which torch allows only for
# allowlisted types: the dtype classes of numpy's bool and numeric types (no object, string or
# structured dtypes, whose contents could carry other objects).
_NUMERIC_TYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                  np.uint32, np.uint64, np.float16, np.float32, np.float64, np.complex64,
                  np.complex128)
MMENGINE_SAFE_GLOBALS += [type(np.dtype(t)) for t in _NUMERIC_TYPES]


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs globals outside the ``weights_only`` allowlist and was not loaded."""


_allow_unsafe: contextvars.ContextVar = contextvars.ContextVar('mmdet_droploss_allow_unsafe',
                                                               default=False)


@contextlib.contextmanager
def allow_unsafe_load(enabled: bool = True) -> Iterator[None]:
    """Within the block, checkpoints beyond the allowlist load with ``weights_only=False``.

    Only for files from a source you trust: a pickle can run arbitrary code when loaded.
    """
    token = _allow_unsafe.set(enabled)
    try:
        yield
    finally:
        _allow_unsafe.reset(token)


def unsafe_load_allowed(allow_unsafe: Optional[bool] = None) -> bool:
    """Whether full-pickle loading is allowed: explicit flag, then context, then environment."""
    if allow_unsafe is not None:
        return bool(allow_unsafe)
    if _allow_unsafe.get():
        return True
    return os.environ.get(ALLOW_UNSAFE_ENV, '').strip().lower() in _TRUE


def _unsafe_globals(f: Any) -> List[str]:
    """The globals ``f`` needs beyond the allowlist (empty when they cannot be listed)."""
    try:
        if hasattr(f, 'seek'):
            f.seek(0)
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(f))
    except Exception:  # not a zip checkpoint, unreadable: the torch message still says why
        return []
    finally:
        if hasattr(f, 'seek'):
            f.seek(0)


def _refusal_message(f: Any, err: Exception) -> str:
    name = f if isinstance(f, (str, os.PathLike)) else getattr(f, 'name', '<file object>')
    needed = _unsafe_globals(f)
    needs = (f'it needs {", ".join(needed)}, outside the allowlist for tensors and MMEngine '
             'checkpoints' if needed else
             'it cannot be read with weights_only=True')
    reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return (f"Refused to load checkpoint '{name}': {needs}. Unpickling it in full could run "
            f'arbitrary code. If you trust where the file came from, opt in with the environment '
            f'variable {ALLOW_UNSAFE_ENV}=1, or in Python with '
            "`with mmdet_droploss.compat.checkpoint.allow_unsafe_load(): ...` or "
            '`load_checkpoint_file(path, allow_unsafe=True)`. '
            f'(torch: {reason})')


def load_checkpoint_file(f: Any, map_location: Any = None, *,
                         allow_unsafe: Optional[bool] = None) -> Any:
    """Load a ``torch.save`` file with ``weights_only=True`` and MMEngine's safe globals.

    Args:
        f: a path or a seekable binary file object.
        map_location: as for :func:`torch.load`.
        allow_unsafe: ``True`` to fall back to a full unpickle when the allowlist is not enough,
            ``False`` to never do so; ``None`` (default) follows :func:`allow_unsafe_load` and the
            ``MMDET_DROPLOSS_ALLOW_UNSAFE_LOAD`` environment variable.

    Raises:
        UnsafeCheckpointError: the file needs other globals and unsafe loading is not allowed.
    """
    apply()
    try:
        return torch.load(f, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as err:
        if isinstance(err, RuntimeError) and 'weights_only' not in str(err):
            raise  # a corrupt or truncated file, not a safety refusal
        if not unsafe_load_allowed(allow_unsafe):
            raise UnsafeCheckpointError(_refusal_message(f, err)) from err
    name = f if isinstance(f, (str, os.PathLike)) else getattr(f, 'name', '<file object>')
    warnings.warn(f"Loading checkpoint '{name}' with weights_only=False because unsafe loading "
                  f'was allowed ({ALLOW_UNSAFE_ENV} or allow_unsafe_load): a full unpickle can '
                  'run arbitrary code.', UserWarning, stacklevel=2)
    if hasattr(f, 'seek'):
        f.seek(0)
    return torch.load(f, map_location=map_location, weights_only=False)


def load_from_local(filename: str, map_location: Any = None) -> Any:
    """MMEngine loader for local paths (scheme ``''``), through :func:`load_checkpoint_file`."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    # A truncated or corrupt file: an error naming it and the newest good one beside it.
    check_checkpoint_file(filename)
    try:
        return load_checkpoint_file(filename, map_location)
    except (RuntimeError, EOFError, zipfile.BadZipFile) as err:
        raise unreadable_checkpoint_error(filename, err) from err


def _download_to_hub_cache(url: str, model_dir: Optional[str], progress: bool) -> str:
    """Download ``url`` where ``torch.hub.load_state_dict_from_url`` caches it (reused if there)."""
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, osp.basename(urlparse(url).path))
    if not osp.isfile(cached):
        print_log(f'Downloading: "{url}" to {cached}', logger='current')
        # Writes to a temporary file and renames it: an interrupted download leaves no file.
        torch.hub.download_url_to_file(url, cached, progress=progress)
    return cached


def load_from_http(filename: str, map_location: Any = None, model_dir: Optional[str] = None,
                   progress: bool = os.isatty(0)) -> Any:
    """MMEngine loader for ``http(s)://`` (MMEngine's, with ``weights_only=True`` loading).

    As in MMEngine, rank 0 downloads first and the other ranks wait, then read the cached file.
    """
    rank, world_size = get_dist_info()
    if rank == 0:
        cached = _download_to_hub_cache(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            cached = _download_to_hub_cache(filename, model_dir, progress)
    return load_checkpoint_file(cached, map_location)


_applied = False


def apply() -> None:
    """Allowlist MMEngine's globals and install the safe loaders (idempotent)."""
    global _applied
    if _applied:
        return
    # A set inside torch: adding the same entries again changes nothing.
    torch.serialization.add_safe_globals(MMENGINE_SAFE_GLOBALS)
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), loader=load_from_http,
                                     force=True)
    # load_from_torchvision / load_from_openmmlab / load_from_mmcls call these module globals.
    _mmengine_checkpoint.load_from_local = load_from_local
    _mmengine_checkpoint.load_from_http = load_from_http
    _applied = True


apply()
