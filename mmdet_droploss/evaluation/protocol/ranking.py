"""The best ``k`` of every group by score: one implementation for LVIS's three cuts.

- the per-image cap: the 300 highest-scoring detections of each image over all categories
  (:func:`top_per_image`; :func:`limit_detections_per_image` for result dicts);
- AP-Fixed's per-class budget: the ``K`` best of each category over the dataset
  (:func:`top_k_per_class`, ``fixed_ap.py``);
- the evaluator's per-pair cut: the ``maxDets`` best of each (image, category) pair, in the
  order ``computeIoU`` meets them (``backends/faster/pair_ious.py``).

All order a group's members by decreasing score with a stable sort (equal scores keep their
input order), as ``lvis.LVISResults``, Python's ``sorted`` in the AP-Fixed authors' script and
faster-coco-eval's ``computeIoU`` do, then keep the first ``k`` of each group.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

MAX_DETS_PER_IMAGE = 300


def ranks_in_runs(counts: np.ndarray) -> np.ndarray:
    """Each position's place within its run, for consecutive runs of ``counts`` entries."""
    counts = np.asarray(counts, np.int64)
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def ranked_by_group(groups: np.ndarray, scores: Optional[np.ndarray] = None
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """(order, rank): ``order`` sorts the entries by group, then by decreasing score (stable;
    without ``scores``, in input order); ``rank[i]`` is entry ``order[i]``'s place in its
    group."""
    groups = np.asarray(groups)
    if scores is None:
        order = np.argsort(groups, kind='stable')
    else:
        order = np.lexsort((-np.asarray(scores, np.float64), groups))
    sorted_groups = groups[order]
    n = sorted_groups.size
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]) if n else \
        np.zeros(0, np.int64)
    return order, ranks_in_runs(np.diff(np.r_[starts, n]))


def top_k_per_group(groups: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indices (ascending) of the ``k`` highest-scoring entries of every group (ties: the
    earlier entry wins). ``k <= 0`` keeps everything."""
    n = len(groups)
    if k <= 0 or n == 0:
        return np.arange(n)
    order, rank = ranked_by_group(groups, scores)
    return np.sort(order[rank < k])


def top_k_per_class(labels: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indices (ascending) of the ``k`` highest-scoring entries of every label (AP-Fixed's
    selection). Ties are broken by position (the earlier entry wins), like a stable sort by
    decreasing score. ``k <= 0`` keeps everything."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f'labels {labels.shape} and scores {scores.shape} must be equal-length '
                         'vectors.')
    return top_k_per_group(labels, scores, k)


def top_per_image(img_ids: np.ndarray, scores: np.ndarray,
                  max_dets: int = MAX_DETS_PER_IMAGE) -> np.ndarray:
    """Indices (ascending) of the ``max_dets`` highest-scoring detections of each image (LVIS's
    per-image cap; equal scores keep their order, as the stable sort of ``lvis.LVISResults``)."""
    img_ids = np.asarray(img_ids)
    if img_ids.size == 0 or max_dets <= 0 or _largest_image(img_ids) <= max_dets:
        return np.arange(img_ids.size)  # already cut (a share's detections, a chunk of them)
    return top_k_per_group(img_ids, scores, max_dets)


def _largest_image(img_ids: np.ndarray) -> int:
    """The number of detections of the image that has most (O(N) for compact ids)."""
    low, high = int(img_ids.min()), int(img_ids.max())
    if high - low <= 4 * img_ids.size + 1_000_000:
        return int(np.bincount(img_ids - low).max())
    return int(np.unique(img_ids, return_counts=True)[1].max())


def limit_detections_per_image(detections: Sequence[dict],
                               max_dets: int = MAX_DETS_PER_IMAGE) -> List[dict]:
    """:func:`top_per_image` of LVIS result dicts: the kept dicts, in input order."""
    n = len(detections)
    if n == 0:
        return []
    keep = top_per_image(np.fromiter((d['image_id'] for d in detections), np.int64, n),
                         np.fromiter((d['score'] for d in detections), np.float64, n), max_dets)
    if keep.size == n:
        return list(detections)
    return [detections[i] for i in keep.tolist()]


__all__ = ['MAX_DETS_PER_IMAGE', 'limit_detections_per_image', 'ranked_by_group',
           'ranks_in_runs', 'top_k_per_class', 'top_k_per_group', 'top_per_image']
