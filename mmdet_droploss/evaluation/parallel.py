"""Who evaluates the shares of ``shares.py`` on one machine: this process or a pool.

- :class:`InProcess`: every share here, one after the other (one share: the single-process
  evaluation).
- :class:`ProcessPool`: ``nproc`` worker processes started by a ``forkserver`` (fresh
  processes: they inherit none of this process's memory, so each one's peak RSS is its own;
  the server imports the evaluation code once for all of them), a share each, while this
  process, which made the tasks, waits to merge them. Each worker reads the annotation file
  once when it starts (while the model runs) and, if segm is evaluated, converts its masks to
  RLE, so a task carries only its detections, and those as the names of the files in shared
  memory that every worker maps (``shared_files.py``) and the task's selection.
- the ranks of a ``torch.distributed`` run: ``rank_shares.py``. :func:`runner_for` picks.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence

from .shared_files import exchange_dir, sharing
from .shares import ShareResult, ShareTask, evaluate_share, ground_truth_dataset

# what a task file holds per detection at most, where its detections do not map files (an
# unmapped selection travels gathered, with its masks' bytes)
_BYTES_PER_DETECTION = 300


class InProcess:
    """Evaluate every share in this process."""

    ann_file: Optional[str] = None  # where the evaluating processes read the ground truth

    def __init__(self, num_shares: int = 1) -> None:
        self.num_shares = num_shares

    @contextmanager
    def exchange(self, size: int) -> Iterator[Optional[str]]:
        """A folder for the files this round shares with the evaluating processes (about
        ``size`` bytes; the detections' masks can be written there as they are gathered),
        removed after the round; ``None``: nothing is shared through files."""
        yield None

    def run(self, tasks: Sequence[ShareTask]) -> List[ShareResult]:
        return [evaluate_share(t) for t in tasks]

    def where(self, index: int) -> str:
        return 'this process'

    def close(self, failed: bool = False) -> None:
        pass


class ProcessPool(InProcess):
    """Share ``k`` in worker process ``k`` of ``nproc``. Starting the workers (a fresh
    interpreter importing torch and mmdet, then reading ``ann_file``, a local LVIS annotation
    file, if given) takes seconds: :meth:`start` them early, e.g. while the model runs; they
    stay up until :meth:`close`. Without ``ann_file`` each task carries its ground truth."""

    def __init__(self, nproc: int, ann_file: Optional[str] = None,
                 masks: bool = False) -> None:
        if nproc < 2:
            raise ValueError(f'A process pool needs nproc >= 2, got {nproc}.')
        super().__init__(nproc)
        self.ann_file = ann_file
        self.masks = masks  # segm is evaluated: the workers convert ann_file's masks at start
        self._executor: Optional[ProcessPoolExecutor] = None
        self._warmup: list = []
        self._folder: Optional[str] = None  # the open exchange's

    def start(self, wait: bool = True) -> None:
        """Start the workers (once); with ``wait``, return when all have started."""
        if self._executor is None:
            context = multiprocessing.get_context('forkserver')
            context.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(self.num_shares, mp_context=context)
            # one call per worker, each long enough that no worker takes two (a worker that
            # took none reads the annotation file with its first task)
            self._warmup = [self._executor.submit(_started, 0.5, self.ann_file, self.masks)
                            for _ in range(self.num_shares)]
        if wait:
            for future in self._warmup:
                future.result()

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
        """Each task goes as a pickle file in the exchange folder: written here and read by
        its worker, it costs less than the pipe the executor would send it through, and a
        worker starts as soon as its own file is written. Detections that map files (the
        metric's ``FileColumnStore``) travel as those files' names and the task's selection
        (``shared_files.sharing``): every worker maps the same pages."""
        self.start(wait=False)
        for task in tasks:  # the workers share the CPUs: threads on top would only contend
            task.iou_threads = max(1, cpus() // self.num_shares)
        if self._folder is not None:  # the round's exchange, opened by the metric
            return self._submit(tasks, self._folder)
        with self.exchange(sum(_BYTES_PER_DETECTION * t.num_detections() for t in tasks)) \
                as folder:
            return self._submit(tasks, folder)

    def _submit(self, tasks: Sequence[ShareTask], folder: str) -> List[ShareResult]:
        futures = []
        with sharing():
            for task in tasks:
                path = os.path.join(folder, f'task_{task.index}.pkl')
                with open(path, 'wb') as f:
                    pickle.dump(task, f, protocol=pickle.HIGHEST_PROTOCOL)
                futures.append(self._executor.submit(_evaluate_file, path))
        return [f.result() for f in futures]

    def where(self, index: int) -> str:
        return f'worker {index}'

    def close(self, failed: bool = False) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=failed)
            self._executor = None


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _evaluate_file(path: str) -> ShareResult:
    """A pool worker: the share pickled at ``path`` (removed once read), evaluated."""
    with open(path, 'rb') as f:
        task = pickle.load(f)
    os.remove(path)
    return evaluate_share(task)


def _started(seconds: float, ann_file: Optional[str] = None, masks: bool = False) -> int:
    start = time.perf_counter()
    if ann_file is not None:
        ground_truth_dataset(ann_file, masks)
    time.sleep(max(0.0, seconds - (time.perf_counter() - start)))
    return os.getpid()


def runner_for(nproc: Optional[int], collect_device: str = 'cpu',
               collect_dir: Optional[str] = None, ann_file: Optional[str] = None,
               masks: bool = False):
    """Who evaluates: in a distributed run, the first ``nproc`` ranks (default all); in one
    process, a pool of ``nproc`` worker processes (default 1: this process), which read the
    ground truth from ``ann_file`` when it is a local file (and, with ``masks``, convert its
    segmentations to RLE) when they start."""
    from mmengine.dist import get_world_size, is_distributed

    from .rank_shares import Distributed
    world = get_world_size() if is_distributed() else 1
    if world > 1:
        shares = min(nproc or world, world)
        return Distributed(shares, collect_device == 'cpu', collect_dir) if shares > 1 \
            else InProcess(1)
    if (nproc or 1) == 1:
        return InProcess(1)
    return ProcessPool(nproc, ann_file if ann_file and os.path.isfile(ann_file) else None,
                       masks)



__all__ = ['InProcess', 'ProcessPool', 'runner_for']
