"""``FastLVISMetric``'s arguments: checked when the metric is built, each error naming the fix.

What the metric returns (``metric_items``: ``AP`` ... ``AR``, and the statistic each reads),
which iou types it computes (bbox and segm), the per-class budget that AP-Fixed and AP-Pool
share, and how many processes evaluate. Nothing here loads data: the metric is built on every
rank, the ground truth is read on rank 0 only.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

from ..backends import check_backend
from ..protocol.fixed_ap import DEFAULT_DETS_PER_CLASS, PerClassTopK
from ..protocol.summary import DEFAULT_ITEMS, STAT_NAMES


def check_metric_options(backend: str, metric: Union[str, List[str]], ann_file: Optional[str],
                         metric_items: Optional[Sequence[str]]) -> Tuple[List[str], List[str]]:
    """The iou types (``metric`` as a list) and the metric items (default
    ``protocol/summary.DEFAULT_ITEMS``); raises for an unknown backend, iou type or item, or no
    ``ann_file``."""
    check_backend(backend)
    metrics = metric if isinstance(metric, list) else [metric]
    unsupported = [m for m in metrics if m not in ('bbox', 'segm')]
    if unsupported:
        raise KeyError(f'FastLVISMetric computes bbox and segm AP, not {unsupported}; '
                       "use mmdet's LVISMetric for proposal recall.")
    if ann_file is None:
        raise ValueError('FastLVISMetric needs ann_file: LVIS evaluation reads the frequency '
                         'groups and negative/not-exhaustive categories from it.')
    items = list(metric_items) if metric_items is not None else list(DEFAULT_ITEMS)
    known = set(DEFAULT_ITEMS) | set(STAT_NAMES)
    if not set(items) <= known:
        raise KeyError(f'metric_items {sorted(set(items) - known)} unknown; choose from '
                       f'{sorted(known)}.')
    return metrics, items


def per_class_budget(fixed_ap: Union[int, bool, None], pooled_ap: bool) -> Optional[int]:
    """How many detections of each category AP-Fixed and AP-Pool keep: ``fixed_ap`` (``True``:
    ``protocol/fixed_ap.DEFAULT_DETS_PER_CLASS``; the default too for AP-Pool alone), ``None``
    when neither is asked for. A bad budget raises here, naming the problem."""
    if fixed_ap is True or (pooled_ap and not fixed_ap):
        budget = DEFAULT_DETS_PER_CLASS
    elif fixed_ap is False or fixed_ap is None:
        budget = None
    else:
        budget = fixed_ap
    PerClassTopK(budget or 1)
    return budget


def check_nproc(nproc: Optional[int]) -> Optional[int]:
    """``nproc`` if it is ``None`` or a positive integer; raises otherwise."""
    if nproc is not None and (not isinstance(nproc, int) or isinstance(nproc, bool) or
                              nproc < 1):
        raise ValueError(f'nproc is the number of evaluating processes, a positive '
                         f'integer (or None: every rank, one process alone), got {nproc!r}.')
    return nproc


__all__ = ['check_metric_options', 'check_nproc', 'per_class_budget']
