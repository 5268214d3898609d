"""Who evaluates the shares of an evaluation round: the interface, and this process alone.

A round (``FastLVISMetric.evaluate``) is the same for every runner: rank 0 (the only process
outside a distributed run) makes one task per share and hands them to :meth:`Runner.run`,
then calls :meth:`Runner.end_round`; every other rank of a distributed run calls
:meth:`Runner.serve` meanwhile. Runners differ in where the shares run: here
(:class:`InProcess`), in a pool of worker processes (``process_pool.py``), on the ranks of a
``torch.distributed`` run (``ranks.py``); ``choice.runner_for`` picks one.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence

from ..shares import ShareResult, ShareTask, evaluate_share


class Runner:
    """Evaluates the shares of a round; by default every share in this process, in turn."""

    ann_file: Optional[str] = None  # where the evaluating processes read the ground truth
    kept = False  # the runner serves every later round (it holds worker processes)
    maps_files = False  # its evaluating processes map the detections' files (a stream's)

    def __init__(self, num_shares: int = 1) -> None:
        self.num_shares = num_shares

    def start(self, wait: bool = True) -> None:
        """Start what evaluates the shares (once; with ``wait``, return when it has)."""

    @contextmanager
    def exchange(self, size: int) -> Iterator[Optional[str]]:
        """A folder for the files this round hands to the evaluating processes (about
        ``size`` bytes; the detections' columns can be written there as they are joined),
        removed after the round; ``None``: nothing is handed over through files."""
        yield None

    def run(self, tasks: Sequence[ShareTask]) -> List[ShareResult]:
        """Rank 0: every task's result, in task order."""
        return [evaluate_share(t) for t in tasks]

    def serve(self) -> None:
        """Any other rank of a distributed run: take part in the round rank 0 leads."""

    def end_round(self, failed: bool = False) -> None:
        """Rank 0, after the round (``failed``: it raised): the other ranks may leave it."""

    def where(self, index: int) -> str:
        """Where share ``index`` ran, for the log."""
        return 'this process'

    def close(self) -> None:
        """Let go of what evaluates the shares."""


class InProcess(Runner):
    """Evaluate every share in this process (one share: the single-process evaluation)."""


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


__all__ = ['InProcess', 'Runner', 'cpus']
