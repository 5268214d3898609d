"""The shares evaluated by a pool of worker processes on this machine.

:class:`ProcessPool`: ``nproc`` worker processes started by a ``forkserver`` (fresh
processes: they inherit none of this process's memory, so each one's peak RSS is its own;
the server imports the evaluation code once for all of them), a share each, while this
process, which made the tasks, waits to merge them. Each worker reads the annotation file
once when it starts (while the model runs) and, if segm is evaluated, converts its masks to
RLE, so a task carries only its detections, and those as the names of the files in shared
memory that every worker maps (``columns/mapped_files.py``) and the task's selection.
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

from ..columns.mapped_files import exchange_dir, pickled_by_file_name
from ..shares import ShareResult, ShareTask, evaluate_share, ground_truth_dataset
from .base import Runner, cpus

# what a task file holds per detection at most, where its detections do not map files (an
# unmapped selection travels gathered, with its masks' bytes)
_BYTES_PER_DETECTION = 300


class ProcessPool(Runner):
    """Share ``k`` in worker process ``k`` of ``nproc``. Starting the workers (a fresh
    interpreter importing torch and mmdet, then reading ``ann_file``, a local LVIS annotation
    file, if given) takes seconds: :meth:`start` them early, e.g. while the model runs; they
    stay up until :meth:`close`. Without ``ann_file`` each task carries its ground truth."""

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
            self._warmup = [self._executor.submit(_started, 0.5, self.ann_file, self.backend,
                                                  self.masks)
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
        futures = []
        with pickled_by_file_name():
            for task in tasks:
                path = os.path.join(folder, f'task_{task.index}.pkl')
                with open(path, 'wb') as f:
                    pickle.dump(task, f, protocol=pickle.HIGHEST_PROTOCOL)
                futures.append(self._executor.submit(_evaluate_file, path))
        return [f.result() for f in futures]

    def where(self, index: int) -> str:
        return f'worker {index}'

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


def _evaluate_file(path: str) -> ShareResult:
    """A pool worker: the share pickled at ``path`` (removed once read), evaluated."""
    with open(path, 'rb') as f:
        task = pickle.load(f)
    os.remove(path)
    return evaluate_share(task)


def _started(seconds: float, ann_file: Optional[str], backend: str, masks: bool) -> int:
    start = time.perf_counter()
    if ann_file is not None:
        ground_truth_dataset(ann_file, backend, masks)
    time.sleep(max(0.0, seconds - (time.perf_counter() - start)))
    return os.getpid()


__all__ = ['ProcessPool']
