"""Who evaluates the shares of ``shares.py``: this process, a pool of processes, or the ranks.

- :class:`InProcess`: every share here, one after the other (one share: the single-process
  evaluation).
- :class:`ProcessPool`: ``nproc`` worker processes started by a ``forkserver`` (fresh
  processes: they inherit none of this process's memory, so each one's peak RSS is its own;
  the server imports the evaluation code once for all of them), a share each, while this
  process, which made the tasks, waits to merge them. Each worker reads the annotation file
  once when it starts (while the model runs), so a task carries only its detections.
- :class:`Distributed`: the ranks of a ``torch.distributed`` run. Rank 0 holds the gathered
  results and makes the tasks; rank ``r < num_shares`` evaluates share ``r``; the shares
  travel as pickles through a directory every rank can read (as mmengine's CPU collection
  does), or through ``torch.distributed``'s object scatter/gather when the metric collects on
  the GPU. The other ranks wait in :func:`serve` for rank 0's tasks until it says done.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import tempfile
import time
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import List, Optional, Sequence

from .detection_arrays import shared_buffers
from .shares import ShareResult, ShareTask, evaluate_share, ground_truth_dataset


class InProcess:
    """Evaluate every share in this process."""

    ann_file: Optional[str] = None  # where the evaluating processes read the ground truth

    def __init__(self, num_shares: int = 1) -> None:
        self.num_shares = num_shares

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

    def __init__(self, nproc: int, ann_file: Optional[str] = None) -> None:
        if nproc < 2:
            raise ValueError(f'A process pool needs nproc >= 2, got {nproc}.')
        super().__init__(nproc)
        self.ann_file = ann_file
        self._executor: Optional[ProcessPoolExecutor] = None
        self._warmup: list = []

    def start(self, wait: bool = True) -> None:
        """Start the workers (once); with ``wait``, return when all have started."""
        if self._executor is None:
            context = multiprocessing.get_context('forkserver')
            context.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(self.num_shares, mp_context=context)
            # one call per worker, each long enough that no worker takes two (a worker that
            # took none reads the annotation file with its first task)
            self._warmup = [self._executor.submit(_started, 0.5, self.ann_file)
                            for _ in range(self.num_shares)]
        if wait:
            for future in self._warmup:
                future.result()

    def run(self, tasks: Sequence[ShareTask]) -> List[ShareResult]:
        """Each task goes as a pickle file in shared memory (``/dev/shm`` where there is one):
        written here and read by its worker, it costs less than the pipe the executor would
        send it through, and a worker starts as soon as its own file is written. The masks'
        bytes are written once, in a file every worker maps, instead of a copy per task."""
        self.start(wait=False)
        buffers = [a.masks.buffer for t in tasks for a in (t.standard, t.fixed)
                   if a is not None and a.masks is not None and a.masks.index is not None]
        folder = tempfile.mkdtemp(prefix='lvis_shares_', dir=_exchange_dir(
            sum({id(b): b.nbytes for b in buffers}.values())
            + sum(a.nbytes() for t in tasks for a in (t.standard, t.fixed) if a is not None)))
        try:
            futures = []
            with shared_buffers(buffers, folder):
                for task in tasks:
                    path = os.path.join(folder, f'task_{task.index}.pkl')
                    with open(path, 'wb') as f:
                        pickle.dump(task, f, protocol=pickle.HIGHEST_PROTOCOL)
                    futures.append(self._executor.submit(_evaluate_file, path))
            return [f.result() for f in futures]
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def where(self, index: int) -> str:
        return f'worker {index}'

    def close(self, failed: bool = False) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=failed)
            self._executor = None


def _exchange_dir(size: int) -> Optional[str]:
    """``/dev/shm`` if it has room for ``size`` bytes twice over (a container's is often
    64 MB), else the system's temporary directory (``None``)."""
    try:
        stat = os.statvfs('/dev/shm')
    except OSError:
        return None
    return '/dev/shm' if stat.f_bavail * stat.f_frsize > 2 * size else None


def _evaluate_file(path: str) -> ShareResult:
    """A pool worker: the share pickled at ``path`` (removed once read), evaluated."""
    with open(path, 'rb') as f:
        task = pickle.load(f)
    os.remove(path)
    return evaluate_share(task)


def _started(seconds: float, ann_file: Optional[str] = None) -> int:
    start = time.perf_counter()
    if ann_file is not None:
        ground_truth_dataset(ann_file)
    time.sleep(max(0.0, seconds - (time.perf_counter() - start)))
    return os.getpid()


class RankFailed(RuntimeError):
    """Raised on every rank when one of them could not evaluate its share."""


class Distributed(InProcess):
    """Rank ``r`` evaluates share ``r`` (on rank 0: :meth:`run`; elsewhere: :func:`serve`)."""

    def __init__(self, num_shares: int, use_files: bool = True,
                 tmpdir: Optional[str] = None) -> None:
        super().__init__(num_shares)
        self.use_files = use_files
        self.tmpdir = tmpdir

    def where(self, index: int) -> str:
        return f'rank {index}'

    def run(self, tasks: Sequence[ShareTask]) -> List[ShareResult]:
        from mmengine.dist import broadcast_object_list
        exchange = self._exchange()
        broadcast_object_list([('run', exchange)])
        own = _scatter(list(tasks), exchange)
        results = _gather(_safely(own), exchange)
        failed = [r for r in results if isinstance(r, str)]
        if failed:
            raise RankFailed('Evaluating a share failed:\n' + '\n'.join(failed))
        return results

    def _exchange(self) -> Optional[str]:
        if not self.use_files:
            return None
        return tempfile.mkdtemp(prefix='lvis_shares_', dir=self.tmpdir)

    def close(self, failed: bool = False) -> None:
        from mmengine.dist import broadcast_object_list
        broadcast_object_list([('failed' if failed else 'done', None)])


def runner_for(nproc: Optional[int], collect_device: str = 'cpu',
               collect_dir: Optional[str] = None, ann_file: Optional[str] = None):
    """Who evaluates: in a distributed run, the first ``nproc`` ranks (default all); in one
    process, a pool of ``nproc`` worker processes (default 1: this process), which read the
    ground truth from ``ann_file`` when it is a local file."""
    from mmengine.dist import get_world_size, is_distributed
    world = get_world_size() if is_distributed() else 1
    if world > 1:
        shares = min(nproc or world, world)
        return Distributed(shares, collect_device == 'cpu', collect_dir) if shares > 1 \
            else InProcess(1)
    if (nproc or 1) == 1:
        return InProcess(1)
    return ProcessPool(nproc, ann_file if ann_file and os.path.isfile(ann_file) else None)


def evaluate_on_every_rank(metric, size: int, runner: Distributed) -> dict:
    """mmengine's ``BaseMetric.evaluate`` for ``metric``, with every rank evaluating a share:
    rank 0 gathers the results and computes the metrics (its ``compute_metrics`` runs the
    shares through ``runner``) while the other ranks serve their shares."""
    from mmengine.dist import broadcast_object_list, collect_results, is_main_process
    from mmengine.evaluator.metric import _to_cpu
    if len(metric.results) == 0:
        warnings.warn(f'{metric.__class__.__name__} got empty `self.results`. Please ensure '
                      'that the processed results are properly added into `self.results` in '
                      '`process` method.')
    kwargs = {'tmpdir': getattr(metric, 'collect_dir', None)} \
        if metric.collect_device == 'cpu' else {}
    results = collect_results(metric.results, size, metric.collect_device, **kwargs)
    if is_main_process():
        metric._runner, failed = runner, True
        try:
            metrics = metric.compute_metrics(_to_cpu(results))
            failed = False
        finally:
            runner.close(failed=failed)  # releases the other ranks from serve()
        if metric.prefix:
            metrics = {'/'.join((metric.prefix, k)): v for k, v in metrics.items()}
        out = [metrics]
    else:
        serve()
        out = [None]
    broadcast_object_list(out)
    metric.results.clear()
    return out[0]


def serve() -> None:
    """On a rank other than 0: evaluate this rank's share of every round rank 0 starts."""
    from mmengine.dist import broadcast_object_list
    while True:
        message = [None]
        broadcast_object_list(message)
        command, exchange = message[0]
        if command == 'done':
            return
        if command == 'failed':
            raise RankFailed('Rank 0 could not complete the evaluation (see its log).')
        task = _scatter(None, exchange)
        _gather(None if task is None else _safely(task), exchange)


def _safely(task: ShareTask):
    """The share's result, or the traceback text when evaluating it raised."""
    try:
        return evaluate_share(task)
    except Exception:  # sent to rank 0, which raises it
        return f'share {task.index} on pid {os.getpid()}:\n{traceback.format_exc()}'


def _scatter(tasks: Optional[List[ShareTask]], exchange: Optional[str]):
    """Rank 0: hand out ``tasks`` (rank r gets ``tasks[r]``); each rank returns its own task,
    or ``None`` if it has none. The directory must be visible to every rank."""
    import torch.distributed as dist
    rank, world = dist.get_rank(), dist.get_world_size()
    if exchange is None:
        received = [None]
        padded = None if tasks is None else tasks + [None] * (world - len(tasks))
        dist.scatter_object_list(received, padded, src=0)
        return received[0]
    if rank == 0:
        for r, task in enumerate(tasks[1:], 1):
            with open(os.path.join(exchange, f'task_{r}.pkl'), 'wb') as f:
                pickle.dump(task, f, protocol=pickle.HIGHEST_PROTOCOL)
        own = tasks[0]
        del tasks[:]
    dist.barrier()
    if rank == 0:
        return own
    path = os.path.join(exchange, f'task_{rank}.pkl')
    if not os.path.exists(path):
        return None
    with open(path, 'rb') as f:
        return pickle.load(f)


def _gather(result, exchange: Optional[str]):
    """Every rank's result on rank 0 (a list, ``None`` entries dropped); ``None`` elsewhere."""
    import torch.distributed as dist
    rank, world = dist.get_rank(), dist.get_world_size()
    if exchange is None:
        gathered = [None] * world if rank == 0 else None
        dist.gather_object(result, gathered, dst=0)
        return None if rank != 0 else [g for g in gathered if g is not None]
    if rank != 0 and result is not None:
        with open(os.path.join(exchange, f'result_{rank}.pkl'), 'wb') as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    dist.barrier()
    if rank != 0:
        return None
    results = [result]
    for r in range(1, world):
        path = os.path.join(exchange, f'result_{r}.pkl')
        if os.path.exists(path):
            with open(path, 'rb') as f:
                results.append(pickle.load(f))
    shutil.rmtree(exchange, ignore_errors=True)
    return results


__all__ = ['Distributed', 'InProcess', 'ProcessPool', 'RankFailed', 'evaluate_on_every_rank',
           'runner_for', 'serve']
