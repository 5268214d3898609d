"""LVIS's summary statistics from accumulated precision and recall (``LVISEval.summarize``).

Every statistic is a mean over the entries ``> -1`` of a slice of the precision array
(IoU thresholds x 101 recall points x categories x area ranges) or the recall array (IoU
thresholds x categories x area ranges): all of it for AP, one IoU threshold for AP50/AP75, one
area range for APs/APm/APl, the categories of one frequency group for APr/APc/APf, recall for
AR. A category without ground truth is ``-1`` throughout and so drops out. Because the arrays
are per category, the arrays of disjoint sets of categories joined along that axis give the
same statistics as one evaluation of all of them (what ``shares/`` relies on).

The names live here, once: :data:`STATISTICS` (the ``lvis`` package's), the metric's items
(:data:`DEFAULT_ITEMS`, ``AR`` for ``AR@300``: :data:`STAT_NAMES`) and the items AP-Fixed
reports (:data:`AP_ITEMS`).
"""
from __future__ import annotations

import itertools
from typing import Callable, Dict, Optional, Sequence

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
AREAS = ('all', 'small', 'medium', 'large')
GROUPS = ('r', 'c', 'f')
# statistic -> (what, IoU threshold index or None, area, frequency group or None)
_STATS = {
    'AP': ('ap', None, 'all', None), 'AP50': ('ap', 0, 'all', None),
    'AP75': ('ap', 5, 'all', None), 'APs': ('ap', None, 'small', None),
    'APm': ('ap', None, 'medium', None), 'APl': ('ap', None, 'large', None),
    'APr': ('ap', None, 'all', 'r'), 'APc': ('ap', None, 'all', 'c'),
    'APf': ('ap', None, 'all', 'f'), 'AR@300': ('ar', None, 'all', None),
    'ARs@300': ('ar', None, 'small', None), 'ARm@300': ('ar', None, 'medium', None),
    'ARl@300': ('ar', None, 'large', None)
}
STATISTICS = tuple(_STATS)  # AP ... ARl@300
# FastLVISMetric's items (``<type>_<item>`` keys): each statistic, AR... without "@300"
DEFAULT_ITEMS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf', 'AR')
STAT_NAMES = {'AR': 'AR@300', 'ARs': 'ARs@300', 'ARm': 'ARm@300', 'ARl': 'ARl@300'}
AP_ITEMS = tuple(name for name in STATISTICS if name.startswith('AP'))  # AP-Fixed reports these


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return float(np.mean(valid)) if valid.size else -1.0


def summarize(precision: np.ndarray, recall: np.ndarray,
              frequencies: Sequence[str]) -> Dict[str, float]:
    """LVIS's 13 statistics (``AP`` ... ``ARl@300``) of ``precision`` (T, R, K, A) and
    ``recall`` (T, K, A); ``frequencies[k]`` is category k's group ('r', 'c' or 'f')."""
    frequencies = np.asarray(frequencies)
    if precision.shape[2] != frequencies.size or recall.shape[1] != frequencies.size:
        raise ValueError(f'precision {precision.shape} / recall {recall.shape} and '
                         f'{frequencies.size} category frequencies do not agree.')
    stats = {}
    for name, (kind, iou, area, group) in _STATS.items():
        a = AREAS.index(area)
        values = precision[..., a] if kind == 'ap' else recall[..., a]
        if iou is not None:
            values = values[iou:iou + 1]
        if group is not None:
            values = values[:, :, frequencies == group]
        stats[name] = _mean_valid(values)
    return stats


def category_ap(precision: np.ndarray) -> np.ndarray:
    """AP of every category (all IoUs, area 'all'); NaN for a category without ground truth."""
    p = precision[:, :, :, 0].reshape(-1, precision.shape[2])
    valid = p > -1
    with np.errstate(invalid='ignore'):
        return np.where(valid.any(0), (p * valid).sum(0) / valid.sum(0), np.nan)


def category_table(names: Sequence[str], aps: Sequence[float]) -> str:
    """Per-category AP as a table of up to three (category, AP) column pairs."""
    from terminaltables import AsciiTable
    flat = list(itertools.chain(*((n, f'{ap:0.3f}') for n, ap in zip(names, aps))))
    num_columns = min(6, len(flat))
    table = [['category', 'AP'] * (num_columns // 2)]
    table += list(itertools.zip_longest(*[flat[i::num_columns] for i in range(num_columns)]))
    return AsciiTable(table).table


def print_summary(stats: Dict[str, float], max_dets: Optional[int] = 300,
                  print_fn: Callable[[str], None] = print) -> None:
    """The LVIS summary table (the ``lvis`` package's layout)."""
    dets = 'all' if max_dets is None or max_dets < 0 else str(max_dets)
    for name, (kind, iou, area, group) in _STATS.items():
        title = 'Average Precision' if kind == 'ap' else 'Average Recall'
        short = '(AP)' if kind == 'ap' else '(AR)'
        iou_str = '0.50:0.95' if iou is None else f'{IOU_THRESHOLDS[iou]:0.2f}'
        print_fn(f' {title:<18} {short} @[ IoU={iou_str:<9} | area={area:>6s} | '
                 f'maxDets={dets:>3s} catIds={group or "all":>3s}] = {stats[name]:0.3f}')


__all__ = ['AP_ITEMS', 'AREAS', 'DEFAULT_ITEMS', 'GROUPS', 'IOU_THRESHOLDS', 'STATISTICS',
           'STAT_NAMES', 'category_ap', 'category_table', 'print_summary', 'summarize']
