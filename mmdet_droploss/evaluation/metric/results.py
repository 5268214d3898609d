"""``FastLVISMetric``'s result keys from merged evaluations, each with its log lines.

Standard AP (``<type>_AP``, ..., ``<type>_AR``, LVIS's printed table), AP-Fixed
(``<type>_AP_fixed``, ...: the same table without the per-image cap), AP-Pool
(``<type>_AP_pool``, ``_APr_pool``, ``_APc_pool``, ``_APf_pool``) and per-category AP
(``<name>_precision``, as mmdet's ``classwise``). Values are rounded to 3 decimals, as mmdet's.
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence

from ..backends import PrecisionRecall
from ..protocol.pooled_ap import PoolRecords, pooled_ap
from ..protocol.summary import AP_ITEMS, STAT_NAMES, category_ap, category_table, \
    print_summary, summarize
from ..shares import Merged

Log = Callable[[str], None]


def summary_metrics(arrays: PrecisionRecall, frequencies: Sequence[str], iou_type: str,
                    items: Sequence[str], max_dets: int, log: Log,
                    suffix: str = '') -> Dict[str, float]:
    """LVIS's summary of (precision, recall), printed through ``log`` (``max_dets``: the
    per-image cap it names, ``-1``: none), as ``<iou_type>_<item><suffix>``."""
    stats = summarize(*arrays, frequencies)
    print_summary(stats, max_dets, log)
    return {f'{iou_type}_{item}{suffix}': round(stats[STAT_NAMES.get(item, item)], 3)
            for item in items}


def fixed_metrics(arrays: PrecisionRecall, frequencies: Sequence[str], iou_type: str,
                  items: Sequence[str], dets_per_class: int, log: Log) -> Dict[str, float]:
    """AP-Fixed: the AP items of the summary over the per-class budget, ``_fixed`` keys."""
    log(f'AP-Fixed ({iou_type}, {dets_per_class} detections per category, no per-image cap):')
    return summary_metrics(arrays, frequencies, iou_type,
                           [item for item in items if item in AP_ITEMS], -1, log,
                           suffix='_fixed')


def pooled_metrics(pool: PoolRecords, cat_ids: Sequence[int], frequencies: Sequence[str],
                   iou_type: str, log: Log) -> Dict[str, float]:
    """AP-Pool over all categories' pool records, and per frequency group."""
    stats = pooled_ap(pool, dict(zip(cat_ids, frequencies)))
    log(f'AP-Pool ({iou_type}): ' + '  '.join(f'{k} {v:.3f}' for k, v in stats.items()))
    return {f'{iou_type}_{k}': round(v, 3) for k, v in stats.items()}


def classwise_metrics(merged: Merged, categories: Sequence[dict], iou_type: str,
                      log: Log) -> Dict[str, float]:
    """Per-category AP (all IoUs, all areas), as a table and as ``<name>_precision``;
    ``categories`` are the ground truth's category dicts."""
    name = {c['id']: c['name'] for c in categories}
    names = [name[c] for c in merged.cat_ids]
    aps = category_ap(merged.standard[0]).tolist()
    log(f'{iou_type} AP per category\n' + category_table(names, aps))
    return {f'{n}_precision': round(ap, 3) for n, ap in zip(names, aps)}


__all__ = ['classwise_metrics', 'fixed_metrics', 'pooled_metrics', 'summary_metrics']
