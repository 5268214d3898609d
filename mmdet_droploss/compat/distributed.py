"""Distributed training on machines without CUDA (gloo), with no edit to the config.

mmengine 0.10.7 assumes a GPU per process, and leaves the process group to the interpreter:

* ``init_dist`` (``_init_dist_pytorch`` and ``_init_dist_slurm``) calls
  ``torch.cuda.set_device(local_rank)`` before ``init_process_group``, and mmdet's configs ask
  for the ``nccl`` backend, which needs CUDA;
* ``Runner.wrap_model`` builds ``MMDistributedDataParallel(device_ids=[LOCAL_RANK])``, which
  PyTorch rejects for a module whose parameters live on the CPU;
* nothing destroys the process group, and a gloo process that exits with one alive can abort
  (SIGABRT, "terminate called without an active exception") while the interpreter shuts down:
  gloo's worker threads still hold tensors whose release needs the GIL. Seen here
  intermittently (CI, under load) at the end of otherwise successful 2-process runs.

:func:`apply` fixes the first two at their source, once, when :mod:`mmdet_droploss` is imported
(which every config does through ``custom_imports``), so mmdet's own ``tools/train.py`` benefits
too; a CPU launch also registers an ``atexit`` handler that destroys the process group while the
interpreter is still whole. On a machine with CUDA nothing changes: the launcher wrappers fall straight through to
mmengine, and DDP keeps its ``device_ids`` for modules on a GPU.
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import inspect
import logging
from typing import Any, Callable, Dict, Iterator, Optional

import torch

_APPLIED_MARK = '_mmdet_droploss_cpu_fallback'


def cuda_is_usable() -> bool:
    """Whether this process can put a model on a CUDA device."""
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def cpu_backend(backend: str) -> str:
    """The process-group backend to use without CUDA: ``nccl`` needs GPUs, ``gloo`` does not."""
    return 'gloo' if backend == 'nccl' else backend


@contextlib.contextmanager
def _without_cuda_set_device() -> Iterator[None]:
    """Make ``torch.cuda.set_device`` a no-op for the duration (CPU-only launchers)."""
    original = torch.cuda.set_device
    torch.cuda.set_device = lambda device: None
    try:
        yield
    finally:
        torch.cuda.set_device = original


def _cpu_capable_launcher(init_fn: Callable[..., None]) -> Callable[..., None]:
    """Wrap one of mmengine's ``_init_dist_*`` so that it also works without CUDA."""

    @functools.wraps(init_fn)
    def init(backend: str, *args: Any, **kwargs: Any) -> None:
        if cuda_is_usable():
            return init_fn(backend, *args, **kwargs)
        chosen = cpu_backend(backend)
        if chosen != backend:
            from mmengine.logging import print_log
            print_log(
                f'No CUDA device: using the {chosen!r} process-group backend instead of '
                f'{backend!r} (mmdet-droploss CPU fallback).', logger='current',
                level=logging.INFO)
        with _without_cuda_set_device():
            init_fn(chosen, *args, **kwargs)
        atexit.register(destroy_process_group_at_exit)

    setattr(init, _APPLIED_MARK, True)
    return init


def destroy_process_group_at_exit() -> None:
    """Release the default process group before interpreter shutdown (gloo's threads may
    still hold tensors; freeing them later, without a GIL, aborts the process)."""
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        gc.collect()  # drop the runner/DDP objects (and the work they hold) first
        torch_dist.destroy_process_group()


def _module_is_on_cpu(module: torch.nn.Module) -> bool:
    devices = {p.device.type for p in module.parameters()}
    return devices <= {'cpu'}


def _ddp_init_without_cpu_device_ids(ddp_init: Callable[..., None]) -> Callable[..., None]:
    """Wrap ``MMDistributedDataParallel.__init__``: drop ``device_ids`` for a CPU module.

    PyTorch's rule: ``device_ids`` must be ``None`` for CPU modules; it is only meaningful for a
    module on a single GPU.
    """

    @functools.wraps(ddp_init)
    def __init__(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> None:
        if kwargs.get('device_ids') is not None and _module_is_on_cpu(module):
            kwargs['device_ids'] = None
            kwargs.pop('output_device', None)
        ddp_init(self, module, *args, **kwargs)

    setattr(__init__, _APPLIED_MARK, True)
    return __init__


def default_model_wrapper_cfg(find_unused_parameters: bool = False) -> Optional[Dict[str, Any]]:
    """The DDP wrapper mmengine's ``Runner`` builds for a config without ``model_wrapper_cfg``,
    spelled without torch's deprecated ``broadcast_buffers``; ``None`` where nothing changes.

    ``Runner.wrap_model`` passes ``broadcast_buffers=False``, which torch >= 2.13 deprecates
    for ``forward_sync_buffers`` with a FutureWarning on every rank. ``forward_sync_buffers=
    False`` keeps buffers rank-local during training as before; it differs only in syncing
    them once, at construction, where every rank's freshly built model holds the same buffers
    (checkpoints are loaded after wrapping). Older torch: ``None`` (mmengine's default stands).
    The tools set this for configs that have no ``model_wrapper_cfg`` of their own.
    """
    from torch.nn.parallel import DistributedDataParallel
    if 'forward_sync_buffers' not in inspect.signature(DistributedDataParallel).parameters:
        return None
    return dict(type='MMDistributedDataParallel', forward_sync_buffers=False,
                find_unused_parameters=find_unused_parameters)


def apply() -> None:
    """Install the CPU fallbacks into mmengine (idempotent)."""
    from mmengine.dist import utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel

    for name in ('_init_dist_pytorch', '_init_dist_slurm'):
        launcher = getattr(dist_utils, name)
        if not getattr(launcher, _APPLIED_MARK, False):
            setattr(dist_utils, name, _cpu_capable_launcher(launcher))
    if not getattr(MMDistributedDataParallel.__init__, _APPLIED_MARK, False):
        MMDistributedDataParallel.__init__ = _ddp_init_without_cpu_device_ids(
            MMDistributedDataParallel.__init__)


apply()
