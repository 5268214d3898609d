"""The shares evaluated by a pool of worker processes on this machine.

:class:`ProcessPool`: ``nproc`` worker processes, a share each, while this process, which
made the tasks, waits to merge them. A worker is a fresh interpreter that imports only the
evaluation's lower layers (numpy and the evaluator, not torch or mmdet: ``worker_entry.py``
says how and why), so it starts in well under a second of CPU and shares no memory with
this process (each one's peak RSS is its own). Starting one only launches it: this process
goes on at once (the first record starts the pool, and the model must not wait for it). Each
worker then reads the annotation file (and, if segm is evaluated, converts its masks to RLE),
so a task carries only its detections, and those as the names of the files in shared memory
that every worker maps (``columns/mapped_files.py``) and the task's selection. The worker's
loop is ``pool_worker.py``.

Why not ``multiprocessing``: its fresh processes (``spawn``, ``forkserver``) unpickle their
target by importing its module, whose package ``__init__`` imports torch and mmdet, and re-run
the parent's ``__main__`` (a training script's imports) before serving; its server also made
the first record wait until it had imported all that (3-4 s here). ``fork`` copies a process
that holds CUDA and threads.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import weakref
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple, Union

from ..columns.mapped_files import exchange_dir, pickled_by_file_name
from ..shares import ShareResult, ShareTask
from .base import Runner, cpus
from .pool_worker import receive, send

# what a task file holds per detection at most, where its detections do not map files (an
# unmapped selection travels gathered, with its masks' bytes)
_BYTES_PER_DETECTION = 300
_ENTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'worker_entry.py')
_CLOSE_SECONDS = 5  # how long a closing worker may take to leave before it is killed


class WorkerFailed(RuntimeError):
    """A pool worker could not start or evaluate its share (its traceback is the message),
    or it died (then the pool is closed; the next round starts a new one)."""


class ProcessPool(Runner):
    """Share ``k`` in worker process ``k`` of ``nproc``. :meth:`start` them early (e.g. with
    the first record): they start while the model runs and stay up until :meth:`close`.
    With ``ann_file`` (a local LVIS annotation file) each worker reads it when it starts;
    without, each task carries its ground truth."""

    kept = True
    maps_files = True

    def __init__(self, nproc: int, ann_file: Optional[str] = None, masks: bool = False,
                 backend: str = 'faster_coco_eval') -> None:
        if nproc < 2:
            raise ValueError(f'A process pool needs nproc >= 2, got {nproc}.')
        super().__init__(nproc)
        self.ann_file = ann_file
        self.masks = masks  # segm is evaluated: the workers prepare ann_file's masks at start
        self.backend = backend
        self._workers: List[_Worker] = []
        self._folder: Optional[str] = None  # the open exchange's

    def start(self, wait: bool = True) -> None:
        """Launch the workers (once; this returns at once); with ``wait``, return when all
        have started (read the annotation file)."""
        if not self._workers:
            start = json.dumps(dict(sys_path=[p for p in sys.path if isinstance(p, str)],
                                    packages=_bare_packages(),
                                    ann_file=self.ann_file, backend=self.backend,
                                    masks=self.masks))
            self._workers = [_Worker(k, start) for k in range(self.num_shares)]
            weakref.finalize(self, _close_all, self._workers)  # at the latest at exit
        if wait:
            self.started()

    def started(self) -> List[dict]:
        """Each worker's start, once it has started: its ``pid``, the CPU seconds it spent
        starting (``cpu_seconds``) and which of ``pool_worker.HEAVY_MODULES`` it imported
        (``heavy``: none)."""
        self.start(wait=False)
        return [self._call(w.wait_started) for w in self._workers]

    @contextmanager
    def exchange(self, size: int) -> Iterator[Optional[str]]:
        """A folder in shared memory (``/dev/shm`` where it has room) for this round's
        files: the tasks and, where the records were not streamed to files as they came,
        the detections' columns."""
        self._folder = tempfile.mkdtemp(prefix='lvis_shares_', dir=exchange_dir(size))
        try:
            yield self._folder
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def run(self, tasks: Sequence[ShareTask]) -> List[ShareResult]:
        """Each task goes as a pickle file in the exchange folder, and its worker is sent
        the file's name: a worker starts as soon as its own file is written, and no pipe
        carries the detections. Detections that map files (the metric's
        ``FileColumnStore``) travel as those files' names and the task's selection
        (``mapped_files.pickled_by_file_name``): every worker maps the same pages."""
        self.start(wait=False)
        for task in tasks:  # the workers share the CPUs: threads on top would only contend
            task.iou_threads = max(1, cpus() // self.num_shares)
        if self._folder is not None:  # the round's exchange, opened by the metric
            return self._submit(tasks, self._folder)
        with self.exchange(sum(_BYTES_PER_DETECTION * t.num_detections() for t in tasks)) \
                as folder:
            return self._submit(tasks, folder)

    def _submit(self, tasks: Sequence[ShareTask], folder: str) -> List[ShareResult]:
        workers = [self._workers[i % len(self._workers)] for i in range(len(tasks))]
        with pickled_by_file_name():
            for task, worker in zip(tasks, workers):
                path = os.path.join(folder, f'task_{task.index}.pkl')
                with open(path, 'wb') as f:
                    pickle.dump(task, f, protocol=pickle.HIGHEST_PROTOCOL)
                self._call(worker.order, path)
        # every reply is read, so that none is left for the next round, before one raises
        outcomes: List[Tuple[bool, object]] = []
        for worker in workers:
            try:
                outcomes.append((True, self._call(worker.result)))
            except WorkerFailed as error:
                outcomes.append((False, error))
        failed = [error for ok, error in outcomes if not ok]
        if failed:
            raise failed[0]
        return [result for _, result in outcomes]

    def _call(self, method, *args):
        """``method(*args)`` of a worker; if the worker died, the pool closes first."""
        try:
            return method(*args)
        except _WorkerDied:
            self.close()
            raise

    def where(self, index: int) -> str:
        return f'worker {index}'

    def close(self) -> None:
        _close_all(self._workers)


class _WorkerDied(WorkerFailed):
    """The worker's pipes closed: it exited or was killed."""


class _Worker:
    """One worker process (``worker_entry.py``) and its two pipes."""

    def __init__(self, index: int, start: str) -> None:
        self.index = index
        self.process = subprocess.Popen([sys.executable, _ENTRY, start],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._start: Union[None, dict, WorkerFailed] = None  # its start reply, once read

    def order(self, message) -> None:
        try:
            send(self.process.stdin, message)
        except (BrokenPipeError, ValueError):  # ValueError: the pipe was closed here
            raise self._died() from None

    def wait_started(self) -> dict:
        """Its start (raises if it could not read the annotation file)."""
        self._read_start()
        if isinstance(self._start, WorkerFailed):
            raise self._start
        return self._start

    def result(self) -> ShareResult:
        self._read_start()  # its start reply comes first (if it failed, the task says why)
        return self._reply()

    def _read_start(self) -> None:
        if self._start is None:
            try:
                self._start = self._reply()
            except _WorkerDied:
                raise
            except WorkerFailed as error:  # it serves on: a task reads the file again
                self._start = error

    def _reply(self):
        try:
            kind, payload = receive(self.process.stdout)
        except (EOFError, ValueError):
            raise self._died() from None
        if kind == 'failed':
            raise WorkerFailed(f'Pool worker {self.index} (pid {self.process.pid}) '
                               f'failed:\n{payload}')
        return payload

    def _died(self) -> '_WorkerDied':
        try:
            code = self.process.wait(_CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        return _WorkerDied(f'Pool worker {self.index} (pid {self.process.pid}) is gone (exit '
                           f'code {code}); the pool is closed, the next round starts another.')

    def close(self) -> None:
        """Close its pipes (an idle worker leaves at once; a busy one when it replies) and
        wait for it to exit, killing it if it takes too long."""
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:  # BrokenPipeError flushing stdin: the worker is gone already
                pass
        try:
            self.process.wait(_CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _close_all(workers: List[_Worker]) -> None:
    """Close every worker of a pool (the list is emptied: a later start launches others)."""
    while workers:
        workers.pop().close()


def _bare_packages() -> List[Tuple[str, str]]:
    """The packages a worker declares bare (``worker_entry.bare_packages``): those above this
    module, whose ``__init__`` imports the metric (mmdet) or the registrations (torch), and
    ``compat``, whose ``lvis_numpy`` the lvis back end imports."""
    runners = os.path.dirname(os.path.abspath(__file__))
    evaluation = os.path.dirname(runners)
    top = os.path.dirname(evaluation)
    names = __name__.split('.')  # <package>.evaluation.runners.process_pool
    return [(names[0], top), (f'{names[0]}.compat', os.path.join(top, 'compat')),
            ('.'.join(names[:2]), evaluation), ('.'.join(names[:3]), runners)]


__all__ = ['ProcessPool', 'WorkerFailed']
