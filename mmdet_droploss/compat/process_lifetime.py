"""No headless processes: ranks and data-loader workers end when the process that started them dies.

Two gaps of the pinned stack, seen on a shared machine (issue 15):

* ``torchrun`` (torch 2.13) starts every rank in a session of its own
  (``Popen(start_new_session=True)``). When ``torchrun`` itself is killed with SIGKILL nothing
  tells the ranks: they go on training with parent pid 1.
* A data-loader worker notices that its rank is gone only when it polls (torch's
  ``ManagerWatchdog``, every 5 s, and only while waiting for work); a worker blocked elsewhere
  (a futex, a full result queue) outlives its rank and holds the job's output open.

Linux has the tool for both: ``prctl(PR_SET_PDEATHSIG, sig)`` makes the kernel send ``sig`` to a
process when its parent dies. :func:`apply` (run when :mod:`mmdet_droploss` is imported) sets it

* in a rank started by ``torchrun`` (``TORCHELASTIC_RUN_ID`` in the environment): SIGKILL when the
  launcher dies. Not for runs without ``torchrun``: ``nohup python tools/train.py &`` must survive
  its shell;
* in every DataLoader worker (torch's worker loop is wrapped): SIGKILL when its rank dies. The
  workers also ignore SIGUSR1, and SIGTERM from anyone but their rank (torch's own handler lets
  any sender kill them): preemption is the rank's to handle. A preemption signal sent to a
  whole process group (``torchrun`` and Slurm do so) would otherwise kill a worker, and its
  rank with a "DataLoader worker killed" error, before the rank could save a checkpoint
  (see :class:`mmdet_droploss.hooks.PreemptionHook`).

Elsewhere than Linux these are no-ops (the kernel feature does not exist).
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from typing import Any, Optional

from torch.utils.data._utils import worker as _torch_worker

__all__ = ['apply', 'launched_by_torchrun', 'set_parent_death_signal', 'worker_loop']

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: Signals a data-loader worker leaves to its rank (SIGTERM from the rank itself still ends it).
PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


def set_parent_death_signal(sig: int = signal.SIGKILL,
                            expected_parent: Optional[int] = None) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only).

    Args:
        sig: the signal to receive.
        expected_parent: the pid the parent should have. If the parent is already gone when the
            request takes effect (it died in between), the process exits at once with status 1
            instead of running on as an orphan.

    Returns:
        Whether the request was made (False off Linux or when ``prctl`` is unavailable).
    """
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)  # the parent died before the request: we are an orphan already
    return True


def launched_by_torchrun() -> bool:
    """Whether this process is (a child of) a rank started by ``torchrun``."""
    return 'TORCHELASTIC_RUN_ID' in os.environ


def _leave_preemption_to_the_rank(parent: int) -> None:
    """In a worker: SIGTERM from the rank ends the worker (as torch's own handler does: that is
    how ``Process.terminate`` and interpreter shutdown stop workers); SIGTERM from anyone else
    (torchrun or Slurm signalling a whole process group) and SIGUSR1 are ignored.

    A plain signal handler cannot see the sender, so the signals are blocked and a daemon thread
    takes them with ``sigwaitinfo``, which reports the sender's pid.
    """
    if not hasattr(signal, 'sigwaitinfo'):  # not Linux: torch's behaviour is kept
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, PREEMPTION_SIGNALS)

    def watch() -> None:
        while True:
            info = signal.sigwaitinfo(PREEMPTION_SIGNALS)
            if info.si_signo == signal.SIGTERM and info.si_pid == parent:
                os._exit(0)

    threading.Thread(target=watch, name='mmdet_droploss-worker-signals', daemon=True).start()


def worker_loop(*args: Any, **kwargs: Any) -> None:
    """torch's DataLoader worker loop, run as a child that dies with its rank and leaves
    preemption signals to it.

    A module-level function (not a ``functools.wraps`` copy) so that a ``spawn``-started worker
    unpickles this wrapper, not torch's original.
    """
    parent = multiprocessing.parent_process()
    parent_pid = parent.pid if parent is not None else os.getppid()
    set_parent_death_signal(signal.SIGKILL, parent_pid)
    _leave_preemption_to_the_rank(parent_pid)
    _ORIGINAL_WORKER_LOOP(*args, **kwargs)


_ORIGINAL_WORKER_LOOP = _torch_worker._worker_loop
_applied = False


def apply() -> None:
    """Install the worker-loop wrapper; in a torchrun rank, die with the launcher (idempotent)."""
    global _applied
    if _applied:
        return
    # torch's DataLoader looks the target up as `_utils.worker._worker_loop` on every new iterator.
    _torch_worker._worker_loop = worker_loop
    if launched_by_torchrun():
        # (No orphan check here: torchrun may legitimately be pid 1, in a container.)
        set_parent_death_signal(signal.SIGKILL)
    _applied = True


apply()
