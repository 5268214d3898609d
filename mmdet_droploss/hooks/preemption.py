"""Save a checkpoint when the job is preempted, then exit with a status a requeue can act on.

Schedulers end a job with SIGTERM and a grace period before SIGKILL; Slurm's
``--signal=USR1@SECONDS`` sends SIGUSR1 ahead of the end. MMEngine saves nothing on either, so
the iterations since the last periodic checkpoint are lost.

:class:`PreemptionHook` catches SIGTERM and SIGUSR1 (configurable). The signal handler only sets a
flag. At the end of every training iteration the ranks all-reduce that flag (one integer, the
only host synchronisation the hook adds), so that they agree on the same iteration even when the
signal reached only some of them; then rank 0 saves ``iter_<N>.pth`` (model, optimizer, parameter
schedulers, message hub: what ``CheckpointHook`` saves) at the current iteration, points
``last_checkpoint`` at it, every rank waits for the save, and all exit with
:data:`PREEMPTED_EXIT_CODE` (75, ``EX_TEMPFAIL`` of ``sysexits.h``: "temporary failure, try
again"). ``--resume`` without a path continues from that checkpoint.

When ``tools/_launch.sh`` started the job it passes ``MMDET_DROPLOSS_PREEMPT_FILE``: local rank 0
of every node writes ``<iteration> <checkpoint>`` there after the save, so that the launch script
can exit 75 too (``torchrun`` itself reports any non-zero rank exit as a failure).
"""
from __future__ import annotations

import logging
import os
import os.path as osp
import signal
import threading
from typing import Dict, Optional, Sequence, Union

import torch
from mmengine.dist import all_reduce, barrier, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from mmdet.registry import HOOKS

from ..compat.checkpoint_files import write_text_atomic

__all__ = ['PREEMPTED_EXIT_CODE', 'PREEMPT_FILE_ENV', 'Preempted', 'PreemptionHook']

#: The exit status of a preempted run whose checkpoint was saved (``EX_TEMPFAIL``).
PREEMPTED_EXIT_CODE = 75
#: Set by tools/_launch.sh: where rank 0 records ``<iteration> <checkpoint path>`` on preemption.
PREEMPT_FILE_ENV = 'MMDET_DROPLOSS_PREEMPT_FILE'


class Preempted(SystemExit):
    """Raised after the preemption checkpoint is saved; ends the process with its ``code``."""


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On SIGTERM / SIGUSR1: save a checkpoint at the current iteration on every rank's agreement,
    then exit with status 75.

    Args:
        signals: names of the signals that mean "preempted".
        exit_code: the exit status after a successful save (75 = EX_TEMPFAIL).
        interval: check the flag every ``interval`` iterations (1: the iteration the signal
            arrived in; larger values save one all-reduce per skipped iteration but answer later,
            which the scheduler's grace period must allow).
    """

    priority = 'LOWEST'  # after the logger and CheckpointHook of the same iteration

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGUSR1'),
                 exit_code: int = PREEMPTED_EXIT_CODE, interval: int = 1) -> None:
        unknown = [name for name in signals if not isinstance(getattr(signal, name, None),
                                                               signal.Signals)]
        if unknown:
            raise ValueError(f'PreemptionHook: unknown signal names {unknown}; use names of the '
                             "signal module, e.g. signals=('SIGTERM', 'SIGUSR1').")
        if interval < 1:
            raise ValueError(f'PreemptionHook: interval must be >= 1, got {interval}.')
        self.signals = tuple(getattr(signal, name) for name in signals)
        self.exit_code = int(exit_code)
        self.interval = int(interval)
        self.received: Optional[int] = None  # the first preemption signal seen by this process
        self._previous: Dict[int, Union[int, object]] = {}

    # signal handling --------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum

    def before_train(self, runner) -> None:
        if threading.current_thread() is not threading.main_thread():
            print_log('PreemptionHook: training runs outside the main thread, where signal '
                      'handlers cannot be installed; preemption will not save a checkpoint.',
                      logger='current', level=logging.WARNING)
            return
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._on_signal)

    def after_train(self, runner) -> None:
        for sig, previous in self._previous.items():
            # None: a handler installed outside Python, which cannot be put back; use the default
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)
        self._previous.clear()

    # the agreement and the save ---------------------------------------------------------------
    def _agreed(self) -> bool:
        """Whether any rank received a preemption signal (a max all-reduce of one integer)."""
        flag = torch.tensor([0 if self.received is None else int(self.received)])
        all_reduce(flag, op='max')  # a no-op without a process group
        signum = int(flag.item())
        if signum and self.received is None:
            self.received = signum  # another rank's signal: report it as the cause
        return signum != 0

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self._previous or (runner.iter + 1) % self.interval:
            return
        if not self._agreed():
            return
        iteration = runner.iter + 1
        out_dir = runner.work_dir
        for hook in runner.hooks:  # save where the periodic checkpoints go
            if isinstance(hook, CheckpointHook) and getattr(hook, 'out_dir', None):
                out_dir = hook.out_dir
        path = osp.join(out_dir, f'iter_{iteration}.pth')
        name = signal.Signals(self.received).name
        print_log(f'{name} received: saving a checkpoint at iteration {iteration} before '
                  'exiting.', logger='current')
        # CheckpointHook (which runs before this hook) may have saved this very iteration.
        if runner.message_hub.get_info('last_ckpt') != path or not osp.isfile(path):
            runner.save_checkpoint(out_dir, osp.basename(path), save_optimizer=True,
                                   save_param_scheduler=True, by_epoch=False)
        if is_main_process():
            runner.message_hub.update_info('last_ckpt', path)
            write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'), path)
        barrier()  # no rank leaves (and makes the launcher stop the others) before the save
        status_file = os.environ.get(PREEMPT_FILE_ENV)
        if status_file and os.environ.get('LOCAL_RANK', '0') == '0':  # one per node's launcher
            write_text_atomic(status_file, f'{iteration} {path}\n')
        self.after_train(runner)  # the previous handlers back (after_train will not run)
        print_log(f'Preempted ({name}) at iteration {iteration}: saved {path}. Exiting with '
                  f'status {self.exit_code}; continue with --resume.', logger='current')
        raise Preempted(self.exit_code)
