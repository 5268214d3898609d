"""One evaluation round of ``FastLVISMetric``: mmengine's ``BaseMetric.evaluate`` with the
processes that evaluate shares taking part.

mmengine gathers every rank's results on rank 0, which computes the metrics while the other
ranks wait to receive them. Here the other ranks have work meanwhile when they evaluate shares
(``runners/ranks.py``): rank 0 computes the metrics through the round's runner and ends the
round, every other rank serves the runner until then. For a runner of one process (this
process, a worker pool) serving is nothing, and the round is ``BaseMetric.evaluate``'s.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, List, Optional

from mmengine.dist import broadcast_object_list, collect_results, is_main_process
from mmengine.evaluator.metric import _to_cpu
from mmengine.logging import print_log

from ..runners import Runner

Compute = Callable[[list, Runner], Dict[str, float]]


def evaluate_round(name: str, results: List, size: int, collect_device: str,
                   collect_dir: Optional[str], prefix: Optional[str], runner: Runner,
                   compute: Compute) -> Dict[str, float]:
    """The metrics of every rank's ``results`` (the first ``size`` of them), computed on rank
    0 by ``compute(results, runner)``, prefixed, on every rank."""
    if len(results) == 0:
        print_log(f'{name} got empty `self.results`. Please ensure that the processed results '
                  'are properly added into `self.results` in `process` method.',
                  logger='current', level=logging.WARNING)
    kwargs = {'tmpdir': collect_dir} if collect_device == 'cpu' else {}
    gathered = collect_results(results, size, collect_device, **kwargs)
    if is_main_process():
        failed = True
        try:
            metrics = compute(_to_cpu(gathered), runner)
            failed = False
        finally:
            runner.end_round(failed)  # the other ranks leave serve()
        if prefix:
            metrics = {'/'.join((prefix, k)): v for k, v in metrics.items()}
        out = [metrics]
    else:
        runner.serve()
        out = [None]
    broadcast_object_list(out)
    return out[0]


__all__ = ['evaluate_round']
