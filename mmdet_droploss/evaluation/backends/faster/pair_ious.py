"""IoUs of the non-empty (image, category) pairs from columns, as faster-coco-eval computes them.

faster-coco-eval's ``computeIoU`` (1.8) runs per pair in Python: it reads the pair's ground
truth and detections back from the C++ datasets as dicts, sorts the detections by score and
calls the C++ IoU on lists of boxes or RLE dicts; for that, every detection dict carries its
box list or its RLE dict. Here the pairs' detections are ordered as ``computeIoU`` orders them
(score descending, a stable sort, the first ``max_dets``), for all pairs at once, and

- boxes: the IoU of every (detection, ground truth) of every pair is one vectorised
  computation with the operations of faster-coco-eval's ``bbIou`` in the same order (so the
  same doubles: a crowd ground truth's union is the detection's area);
- masks: each pair's detection RLEs are taken from the packed buffer only for the pairs that
  need them, and the C++ RLE IoU is called per pair, in threads (it releases the GIL).

Each pair's value is its ``D x G`` matrix as nested lists, what the C++ core reads. The pairs'
ground truth are the ground truth's columns (``ground_truth.GroundTruthColumns``), their
detections the results' (``results.ColumnResults``).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ...protocol.ranking import ranked_by_group


def grouped(keys: np.ndarray, pair_keys: np.ndarray,
            score: Optional[np.ndarray] = None,
            max_per_pair: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """(positions, counts): the positions of ``keys`` that belong to the (sorted, unique)
    ``pair_keys``, grouped by pair in ``pair_keys`` order and, within a pair, by decreasing
    ``score`` (stable: equal scores keep their order) or in their order; with
    ``max_per_pair``, only the first that many of each pair (``computeIoU``'s cut, the
    per-group ranking of ``protocol/ranking.py``). ``counts``: how many per pair."""
    found = np.searchsorted(pair_keys, keys)
    inside = found < pair_keys.size
    inside[inside] = pair_keys[found[inside]] == keys[inside]
    positions = np.flatnonzero(inside)
    pair = found[positions]
    order, rank = ranked_by_group(pair, None if score is None else
                                  np.asarray(score, np.float64)[positions])
    positions, pair = positions[order], pair[order]
    if max_per_pair > 0:
        cut = rank < max_per_pair
        positions, pair = positions[cut], pair[cut]
    return positions, np.bincount(pair, minlength=pair_keys.size)


def _split(values: np.ndarray, dt_counts: np.ndarray, gt_counts: np.ndarray) -> List[list]:
    """Each pair's ``D x G`` block of the flat ``values`` as nested lists."""
    ends = np.cumsum(dt_counts * gt_counts).tolist()
    starts = [0] + ends[:-1]
    return [values[a:b].reshape(d, g).tolist() for a, b, d, g in
            zip(starts, ends, dt_counts.tolist(), gt_counts.tolist())]


def box_ious(dt_boxes: np.ndarray, gt_boxes: np.ndarray, gt_crowd: np.ndarray,
             dt_counts: np.ndarray, gt_counts: np.ndarray) -> List[list]:
    """Per pair, the IoU matrix of its detections (rows, ``dt_boxes`` grouped by pair) and its
    ground truth (columns, ``gt_boxes`` grouped by pair); boxes are (x, y, w, h)."""
    if not dt_counts.size:
        return []
    pair_of_dt = np.repeat(np.arange(dt_counts.size), dt_counts)
    per_dt = gt_counts[pair_of_dt]  # each detection meets its pair's ground truth
    dt_index = np.repeat(np.arange(len(dt_boxes)), per_dt)
    block_start = np.repeat(np.cumsum(per_dt) - per_dt, per_dt)
    gt_start = np.repeat((np.cumsum(gt_counts) - gt_counts)[pair_of_dt], per_dt)
    gt_index = gt_start + np.arange(dt_index.size) - block_start
    d, g = dt_boxes[dt_index], gt_boxes[gt_index]
    # faster-coco-eval's bbIou, operation for operation
    width = np.minimum(d[:, 0] + d[:, 2], g[:, 0] + g[:, 2]) - np.maximum(d[:, 0], g[:, 0])
    height = np.minimum(d[:, 1] + d[:, 3], g[:, 1] + g[:, 3]) - np.maximum(d[:, 1], g[:, 1])
    inter = width * height
    dt_area = d[:, 2] * d[:, 3]
    union = np.where(gt_crowd[gt_index], dt_area, dt_area + g[:, 2] * g[:, 3] - inter)
    overlap = (width > 0) & (height > 0)
    values = np.zeros(dt_index.size)
    np.divide(inter, union, out=values, where=overlap)
    return _split(values, dt_counts, gt_counts)


def mask_ious(dt_rles: Sequence[dict], gt_rles: Sequence[dict], gt_crowd: np.ndarray,
              dt_counts: np.ndarray, gt_counts: np.ndarray,
              max_workers: int = 1) -> List[list]:
    """Per pair, the C++ RLE IoU of its detections' and its ground truth's RLEs (both grouped
    by pair), pairs in blocks over threads."""
    from faster_coco_eval.core import mask as mask_utils
    dt_ends, gt_ends = np.cumsum(dt_counts).tolist(), np.cumsum(gt_counts).tolist()
    crowd = gt_crowd.astype(int).tolist()
    spans = list(zip([0] + dt_ends[:-1], dt_ends, [0] + gt_ends[:-1], gt_ends))

    def block(part) -> list:
        return [mask_utils.iou(dt_rles[a:b], gt_rles[c:d], crowd[c:d]).tolist()
                for a, b, c, d in part]

    workers = min(os.cpu_count() or 1, max_workers, len(spans))
    if workers < 2:
        return block(spans)
    size = -(-len(spans) // (4 * workers))
    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(block, [spans[k:k + size] for k in range(0, len(spans), size)]))
    return [value for part in parts for value in part]


__all__ = ['box_ious', 'grouped', 'mask_ious']
