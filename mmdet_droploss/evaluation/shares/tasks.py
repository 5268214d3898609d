"""LVIS evaluation split by category into shares: the tasks (what one process needs).

Why a split by category is exact. Once the per-image cap (the 300 best detections of an image
over all categories) has been applied to the whole set, everything LVIS computes is per
category: matching is per (image, category); accumulation into precision and recall is per
category; the summary statistics are means over slices of those per-category arrays
(``protocol/summary.py``). AP-Fixed's budget (the K best of each category) is per category too.
So the dataset-wide cap is applied once (:func:`make_tasks`), each share evaluates all images
for its categories, and the shares' per-category precision and recall, put side by side in
category order, are the arrays one process would have computed (:func:`merge`). AP-Pool ranks
detections of many categories together: a share returns the per-detection outcome of its
matching (``protocol/pooled_ap.PoolRecords``) and the pooled accumulation runs over all
shares' records at once, in one canonical order.

Here: the split (:func:`split_categories`) and the tasks (:func:`make_tasks`); a task is
evaluated by ``evaluate.evaluate_share`` and the results joined by ``merge.merge``. One
process evaluating one share is the single-process evaluation; every path of the metric goes
through here, so N shares give bit-identical arrays to 1.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..backends import PrecisionRecall, backend_named
from ..columns.detection_arrays import DetectionArrays, Selection, rows_of_categories
from ..protocol.pooled_ap import PoolRecords
from ..protocol.ranking import MAX_DETS_PER_IMAGE, top_per_image

CHUNK_DETECTIONS = 1_000_000
Detections = Union[None, DetectionArrays, Selection]


@dataclass
class ShareTask:
    """Everything one process needs to evaluate the categories ``cat_ids`` (picklable)."""

    index: int
    iou_type: str
    backend: str
    cat_ids: List[int]  # this share's categories
    # every image and category; the annotations of ``cat_ids`` (None: ``ann_file``'s)
    gt_dataset: Optional[dict]
    standard: Detections  # the per-image cap applied over all categories
    fixed: Detections  # the per-class budget (AP-Fixed and AP-Pool)
    fixed_ap: bool = False
    pooled_ap: bool = False
    chunk_detections: int = CHUNK_DETECTIONS
    ann_file: Optional[str] = None  # read by the evaluating process when gt_dataset is None
    iou_threads: Optional[int] = None  # mask IoU threads (None: faster-coco-eval's default)

    def ground_truth(self) -> dict:
        """The share's ground truth: ``gt_dataset``, or its categories' of ``ann_file``."""
        if self.gt_dataset is not None:
            return self.gt_dataset
        return subset_dataset(ground_truth_dataset(self.ann_file, self.backend),
                              self.cat_ids)

    def num_detections(self) -> int:
        return sum(len(a) for a in (self.standard, self.fixed) if a is not None)


@dataclass
class ShareResult:
    """A share's per-category arrays and pool records, with what it cost."""

    index: int
    cat_ids: List[int]
    standard: Optional[PrecisionRecall] = None
    fixed: Optional[PrecisionRecall] = None
    pool: Optional[PoolRecords] = None
    num_detections: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_gb: float = 0.0
    pid: int = field(default_factory=os.getpid)


def split_categories(cat_ids: Sequence[int], weights: Sequence[float],
                     num_shares: int) -> List[List[int]]:
    """``num_shares`` disjoint sorted lists of ``cat_ids`` of about equal total weight
    (longest-processing-time-first: heaviest category to the lightest share)."""
    if num_shares < 1:
        raise ValueError(f'An evaluation needs at least one share, got {num_shares}.')
    loads = np.zeros(num_shares)
    shares: List[List[int]] = [[] for _ in range(num_shares)]
    for k in np.argsort(-np.asarray(weights, np.float64), kind='stable').tolist():
        s = int(np.argmin(loads))
        shares[s].append(int(cat_ids[k]))
        loads[s] += weights[k]
    return [sorted(s) for s in shares]


_DATASETS: Dict[str, dict] = {}  # annotation file -> its dataset, read once per process


def ground_truth_dataset(ann_file: str, backend: str, masks: bool = False) -> dict:
    """The LVIS-format dataset of a local annotation file, read once by this process (a pool
    worker reads it when it starts); with ``masks``, what ``backend`` can prepare of it before
    evaluating segm (faster-coco-eval: each annotation's RLE, once; the shares cut from it
    share the annotation dicts)."""
    if ann_file not in _DATASETS:
        with open(ann_file) as f:
            _DATASETS[ann_file] = json.load(f)
    backend_named(backend).prepare_dataset(_DATASETS[ann_file], masks)
    return _DATASETS[ann_file]


def subset_dataset(gt_dataset: dict, cat_ids: Sequence[int]) -> dict:
    """``gt_dataset`` with the annotations of ``cat_ids`` only (images, categories shared)."""
    anns = gt_dataset['annotations']
    cats = np.fromiter((a['category_id'] for a in anns), np.int64, len(anns))
    keep = np.flatnonzero(np.isin(cats, np.asarray(list(cat_ids), np.int64))).tolist()
    return dict(gt_dataset, annotations=[anns[i] for i in keep])


def make_tasks(iou_type: str, backend: str, gt_dataset: dict,
               standard: Optional[DetectionArrays], fixed: Optional[DetectionArrays],
               shares: Sequence[Sequence[int]], fixed_ap: bool = False,
               pooled_ap: bool = False, chunk_detections: int = CHUNK_DETECTIONS,
               ann_file: Optional[str] = None) -> List[ShareTask]:
    """One task per share of categories; ``standard`` is cut to each image's 300 best here,
    over all categories, before it is split. A task selects its detections (``Selection``);
    they are gathered where it is evaluated. With ``ann_file`` (the file ``gt_dataset`` was
    read from, local to the evaluating processes) the tasks carry no ground truth."""
    keep = None
    if standard is not None:
        keep = top_per_image(standard.img_id, standard.score, MAX_DETS_PER_IMAGE)
        keep = None if keep.size == len(standard) else keep  # ascending: all of them
    tasks = []
    for index, cats in enumerate(shares):
        tasks.append(ShareTask(index, iou_type, backend, sorted(cats),
                               None if ann_file else subset_dataset(gt_dataset, cats),
                               _select(standard, cats, keep), _select(fixed, cats),
                               fixed_ap, pooled_ap, chunk_detections, ann_file))
    return tasks


def _select(arrays: Optional[DetectionArrays], cat_ids: Sequence[int],
            within: Optional[np.ndarray] = None) -> Optional[Selection]:
    """The detections of ``cat_ids`` among ``within`` (``None``: all) of ``arrays``, not
    gathered: a pool's task names them (``Selection``)."""
    if arrays is None:
        return None
    index = rows_of_categories(arrays.cat_id if within is None else arrays.cat_id[within],
                               cat_ids)
    return Selection(arrays, index if within is None else within[index])


__all__ = ['CHUNK_DETECTIONS', 'ShareResult', 'ShareTask', 'ground_truth_dataset', 'make_tasks',
           'split_categories', 'subset_dataset']
