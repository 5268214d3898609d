"""The shares evaluated by the ranks of a ``torch.distributed`` run.

Rank 0 holds the gathered results and makes the tasks; rank ``r < num_shares`` evaluates
share ``r``; the shares travel as pickles through a directory every rank can read (as
mmengine's CPU collection does), or through ``torch.distributed``'s object scatter/gather when
the metric collects on the GPU. The other ranks wait in :meth:`Distributed.serve` for rank
0's tasks until it says the round ended (:meth:`Distributed.end_round`).
"""
from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import traceback
from typing import List, Optional, Sequence

import torch.distributed as dist
from mmengine.dist import broadcast_object_list

from ..shares import ShareResult, ShareTask, evaluate_share
from .base import Runner, cpus


class RankFailed(RuntimeError):
    """Raised on every rank when one of them could not evaluate its share."""


class Distributed(Runner):
    """Rank ``r`` evaluates share ``r`` (on rank 0: :meth:`run`; elsewhere: :meth:`serve`)."""

    def __init__(self, num_shares: int, use_files: bool = True,
                 tmpdir: Optional[str] = None) -> None:
        super().__init__(num_shares)
        self.use_files = use_files
        self.tmpdir = tmpdir

    def where(self, index: int) -> str:
        return f'rank {index}'

    def run(self, tasks: Sequence[ShareTask]) -> List[ShareResult]:
        ranks_here = int(os.environ.get('LOCAL_WORLD_SIZE', 1))  # torchrun's, per machine
        for task in tasks:  # the ranks of a machine share its CPUs
            task.iou_threads = max(1, cpus() // max(1, ranks_here))
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

    def end_round(self, failed: bool = False) -> None:
        broadcast_object_list([('failed' if failed else 'done', None)])

    def serve(self) -> None:
        """On a rank other than 0: evaluate this rank's share of every step rank 0 starts,
        until it ends the round."""
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


__all__ = ['Distributed', 'RankFailed']
