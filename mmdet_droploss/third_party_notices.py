"""Notices of the stack that a user of our tools cannot act on, hidden at our entry points.

Every launch of the tools used to print, before its first iteration, setuptools'
``pkg_resources is deprecated`` (when mmengine looks up an installed package), mmengine's
``Setting MKL_NUM_THREADS ...`` (a distributed run without the variable), and, from mmengine's
own ``CheckpointHook``, ``"FileClient" will be deprecated`` and ``"HardDiskBackend" is the alias
of "LocalBackend"``. None of them is about the user's run; each hides what is.

The tools that read configs, ``tools/train.py``, ``tools/test.py``,
``tools/analyze_background_scores.py`` and ``tools/convert_d2_checkpoint.py`` (and through them
``dist_*.sh``, ``run_demo.sh``, the image benchmark and the ``mmdet-droploss`` command), and
``tools/benchmark.py`` (the simulator builds its losses in its own process) call
:func:`hide_third_party_notices` first; the two that build mmengine's runner also call
:func:`hide_logged_notices` on its logger (``mmdet_droploss.cli.build_runner``). The other tools
print none of these notices.
A warning is matched by its message *and* the module it is attributed to (the same text from
another module still shows), a logged notice by its exact text and level; any other warning
(the user's own included) and every error still reach the log.
``MMDET_DROPLOSS_VERBOSE=1`` shows everything again.

Notices caused by what we pass are fixed at their cause instead:
``broadcast_buffers`` (:func:`mmdet_droploss.compat.distributed.default_model_wrapper_cfg`) and
torchrun's ``OMP_NUM_THREADS`` banner (``tools/_launch.sh``).
"""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Tuple, Type

__all__ = ['LOGGED_NOTICES', 'VERBOSE_ENV', 'WARNED_NOTICES', 'WarnedNotice',
           'hide_logged_notices', 'hide_third_party_notices', 'verbose']

VERBOSE_ENV = 'MMDET_DROPLOSS_VERBOSE'


@dataclass(frozen=True)
class WarnedNotice:
    """A notice issued through :mod:`warnings` (arguments of ``warnings.filterwarnings``)."""

    message: str  # regular expression the start of the message must match
    module: str  # regular expression the module the warning is attributed to must match
    category: Type[Warning]


WARNED_NOTICES: Tuple[WarnedNotice, ...] = (
    # setuptools >= 67.5, whenever pkg_resources is executed: attributed to its importer
    # (mmengine.utils.package_utils), or to importlib where mmengine's is_installed refreshes
    # it with importlib.reload (several times a launch).
    WarnedNotice(r'pkg_resources is deprecated as an API',
                 r'((mmengine|mmcv|mmdet|lvis)(\.|$)|importlib$)', UserWarning),
    # mmengine's set_multi_processing, in every process of a distributed run (it sets the
    # variable to 1 when unset, as torchrun does for OMP_NUM_THREADS).
    WarnedNotice(r'Setting (MKL|OMP)_NUM_THREADS environment variable for each process',
                 r'mmengine\.utils\.dl_utils\.setup_env$', UserWarning),
)

# Printed through mmengine's print_log at WARNING level, not through `warnings`: the exact
# messages (mmengine 0.10's CheckpointHook builds a FileClient it does not use).
LOGGED_NOTICES: Tuple[str, ...] = (
    '"FileClient" will be deprecated in future. Please use io functions in '
    'https://mmengine.readthedocs.io/en/latest/api/fileio.html#file-io',
    '"HardDiskBackend" is the alias of "LocalBackend" and the former will be deprecated in '
    'future.',
)


def verbose() -> bool:
    """Whether ``MMDET_DROPLOSS_VERBOSE`` asks to see every notice (set, and not 0/false/no)."""
    return os.environ.get(VERBOSE_ENV, '').strip().lower() not in ('', '0', 'false', 'no')


def hide_third_party_notices() -> bool:
    """Ignore :data:`WARNED_NOTICES` in this process, unless :func:`verbose`; returns whether
    they are hidden. Call it before the tool loads a config (the notices come later, lazily)."""
    if verbose():
        return False
    for notice in WARNED_NOTICES:
        warnings.filterwarnings('ignore', message=notice.message, category=notice.category,
                                module=notice.module)
    return True


class _LoggedNoticeFilter(logging.Filter):
    """Drops the WARNING records whose message is one of :data:`LOGGED_NOTICES`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING and
                    record.getMessage() in LOGGED_NOTICES)


def hide_logged_notices(logger: logging.Logger) -> None:
    """Drop :data:`LOGGED_NOTICES` logged on ``logger`` (a runner's ``MMLogger``: print_log
    writes to the current one), unless :func:`verbose`. Idempotent."""
    if verbose() or any(isinstance(f, _LoggedNoticeFilter) for f in logger.filters):
        return
    logger.addFilter(_LoggedNoticeFilter())
