"""AP-Pool: one precision-recall curve over all detections of a group of categories.

Dave et al. (2021), Sec. 5 ("pooled AP"): detections are matched to ground truth per image and
category exactly as in LVIS AP, but true and false positives are then ranked together over all
categories of a pool (all, rare, common, frequent), so a detector only scores well if its
scores are comparable across categories. AP is averaged over LVIS's IoU thresholds
(0.50:0.95) and 101 recall points, area "all" only, as in the authors' ``LVISPooledEval``.

Two steps, so that the matching (the expensive part) can run in several processes:

1. ``backends/pair_view.pool_records``: the back end's own, unchanged matching, per (image,
   category) pair: per detection, its score, its pair, its rank within the pair and, per IoU
   threshold, whether it matched and whether it is ignored; per category: its ground truth
   (:class:`PoolRecords`).
2. :func:`pooled_ap` (here): LVIS's accumulation (cumulative true and false positives over the
   detections sorted by score, interpolated precision at 101 recall points) over each pool.
   Detections are ranked by score; equal scores by pair (image, then category) and rank, the
   order in which the evaluator would meet them in one pass, so records of disjoint sets of
   categories, concatenated, give the numbers of one evaluation.

Detections should be selected first (AP-Fixed's per-class budget); there is no per-image cap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Sequence

import numpy as np

from .summary import IOU_THRESHOLDS

POOLS = ('all', 'r', 'c', 'f')
POOLED_NAMES = tuple('AP_pool' if pool == 'all' else f'AP{pool}_pool' for pool in POOLS)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)


@dataclass
class PoolRecords:
    """Per-detection outcome of LVIS matching at area 'all', for pooling (see module doc)."""

    score: np.ndarray  # (D,) float64
    img_id: np.ndarray  # (D,) int64: the detection's pair ...
    cat_id: np.ndarray  # (D,) int64
    rank: np.ndarray  # (D,) int64: ... and its place among the pair's detections
    matched: np.ndarray  # (D, T) bool
    ignored: np.ndarray  # (D, T) bool
    gt_cat_id: np.ndarray  # (G,) int64: the category of every ground truth not ignored

    @classmethod
    def concatenate(cls, parts: Sequence['PoolRecords']) -> 'PoolRecords':
        parts = list(parts) or [cls.empty()]
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in cls.__dataclass_fields__))

    @classmethod
    def empty(cls) -> 'PoolRecords':
        n, t = np.zeros(0, np.int64), len(IOU_THRESHOLDS)
        return cls(np.zeros(0), n, n, n, np.zeros((0, t), bool), np.zeros((0, t), bool), n)


def pooled_ap(records: PoolRecords, frequency: Mapping[int, str]) -> Dict[str, float]:
    """``{'AP_pool', 'APr_pool', 'APc_pool', 'APf_pool'}`` of matched detections (``-1`` for a
    pool without ground truth); ``frequency`` maps category id to 'r', 'c' or 'f'."""
    order = np.lexsort((records.rank, records.cat_id, records.img_id, -records.score))
    cats = sorted(frequency)
    freq_of = np.asarray([frequency[c] for c in cats])
    det_group = freq_of[np.searchsorted(cats, records.cat_id[order])] if order.size else \
        np.zeros(0, freq_of.dtype)
    gt_group = freq_of[np.searchsorted(cats, records.gt_cat_id)] if records.gt_cat_id.size \
        else np.zeros(0, freq_of.dtype)
    matched, ignored = records.matched[order], records.ignored[order]
    stats = {}
    for pool, key in zip(POOLS, POOLED_NAMES):
        in_pool = np.ones(order.size, bool) if pool == 'all' else det_group == pool
        num_gt = gt_group.size if pool == 'all' else int(np.sum(gt_group == pool))
        stats[key] = -1.0 if num_gt == 0 else _average_precision(
            matched[in_pool], ignored[in_pool], num_gt)
    return stats


def _average_precision(matched: np.ndarray, ignored: np.ndarray, num_gt: int) -> float:
    """LVIS's AP of detections sorted by score: (D, T) matches and ignores, ``num_gt`` ground
    truths; the mean over thresholds of the interpolated precision at 101 recall points."""
    counted = ~ignored
    tp = np.cumsum(matched & counted, axis=0, dtype=np.float64)
    fp = np.cumsum(~matched & counted, axis=0, dtype=np.float64)
    values = np.zeros((matched.shape[1], RECALL_THRESHOLDS.size))
    for t in range(matched.shape[1]):
        recall = tp[:, t] / num_gt
        precision = tp[:, t] / (fp[:, t] + tp[:, t] + np.spacing(1))
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # best to the right
        at = np.searchsorted(recall, RECALL_THRESHOLDS, side='left')
        inside = at < precision.size
        values[t, inside] = precision[at[inside]]
    return float(np.mean(values))


__all__ = ['POOLED_NAMES', 'POOLS', 'PoolRecords', 'RECALL_THRESHOLDS', 'pooled_ap']
