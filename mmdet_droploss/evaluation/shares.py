"""LVIS evaluation split by category into shares that processes evaluate independently.

Why a split by category is exact. Once the per-image cap (the 300 best detections of an image
over all categories) has been applied to the whole set, everything LVIS computes is per
category: matching is per (image, category); accumulation into precision and recall is per
category; the summary statistics are means over slices of those per-category arrays
(``lvis_summary.py``). AP-Fixed's budget (the K best of each category) is per category too.
So the dataset-wide cap is applied once (:func:`make_tasks`), each share evaluates all images
for its categories, and the shares' per-category precision and recall, put side by side in
category order, are the arrays one process would have computed (:func:`merge`). AP-Pool ranks
detections of many categories together: a share returns the per-detection outcome of its
matching (``pooled_ap.PoolRecords``) and the pooled accumulation runs over all shares'
records at once, in one canonical order (``pooled_ap.py``).

Inside a share, categories are evaluated in chunks of at most ``chunk_detections``
detections, by the same argument, which bounds the result dicts and evaluator state held at a
time. One process evaluating one share is the single-process evaluation; every path of the
metric goes through here, so N shares give bit-identical arrays to 1.
"""
from __future__ import annotations

import dataclasses
import gc
import json
import os
import resource
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .lvis_backends import MAX_DETS_PER_IMAGE, accumulate, ground_truth_from_dataset
from .pooled_ap import PoolRecords, pool_records
from .detection_arrays import (DetectionArrays, Selection, counts_per_category, resolved,
                               rows_of_categories)

CHUNK_DETECTIONS = 1_000_000
Arrays = Tuple[np.ndarray, np.ndarray]  # precision (T, R, K, A), recall (T, K, A)
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
        return subset_dataset(ground_truth_dataset(self.ann_file), self.cat_ids)

    def num_detections(self) -> int:
        return sum(len(a) for a in (self.standard, self.fixed) if a is not None)


@dataclass
class ShareResult:
    """A share's per-category arrays and pool records, with what it cost."""

    index: int
    cat_ids: List[int]
    standard: Optional[Arrays] = None
    fixed: Optional[Arrays] = None
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


def ground_truth_dataset(ann_file: str, masks: bool = False) -> dict:
    """The LVIS-format dataset of a local annotation file, read once by this process (a pool
    worker reads it when it starts); with ``masks``, each annotation's segmentation converted
    to RLE too (once; the shares cut from it share the annotation dicts)."""
    if ann_file not in _DATASETS:
        with open(ann_file) as f:
            _DATASETS[ann_file] = json.load(f)
    if masks:
        from .evaluator_inputs import attach_rles
        attach_rles(_DATASETS[ann_file])
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
    from .lvis_backends import top_per_image
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


def _chunks(task: ShareTask) -> List[List[int]]:
    """Consecutive categories of the task, at most ``chunk_detections`` detections each."""
    cats = np.asarray(task.cat_ids, np.int64)
    counts = np.zeros(cats.size, np.int64)
    for arrays in (task.standard, task.fixed):
        if arrays is not None:
            counts += counts_per_category(arrays.cat_id, cats)
    chunks, current, size = [], [], 0
    for cat, n in zip(task.cat_ids, counts.tolist()):
        if current and size + n > task.chunk_detections:
            chunks.append(current)
            current, size = [], 0
        current.append(cat)
        size += n
    return chunks + [current] if current else chunks


def evaluate_share(task: ShareTask) -> ShareResult:
    """Evaluate one share (in whichever process runs it)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of acyclic dicts: the cyclic collector would rescan them all
    try:  # a selection's detections gathered here, by the process that evaluates them
        task = dataclasses.replace(task, standard=resolved(task.standard),
                                   fixed=resolved(task.fixed))
        result = ShareResult(task.index, list(task.cat_ids),
                             num_detections=task.num_detections())
        if task.cat_ids:
            _evaluate_chunks(task, result)
    finally:
        if gc_was_enabled:
            gc.enable()
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    result.peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def _evaluate_chunks(task: ShareTask, result: ShareResult) -> None:
    dataset = task.ground_truth()
    gt = ground_truth_from_dataset(dataset, task.backend)
    img_ids = [img['id'] for img in dataset['images']]
    standard, fixed, pools = [], [], []
    for cats in _chunks(task):
        if task.standard is not None:
            outcome = accumulate(gt, task.standard.of_categories(cats), task.iou_type, img_ids,
                                 task.backend, MAX_DETS_PER_IMAGE, cats, task.iou_threads)
            standard.append((outcome.precision, outcome.recall))
        if task.fixed is not None and (task.fixed_ap or task.pooled_ap):
            selected = task.fixed.of_categories(cats)
            if task.pooled_ap:
                pools.append(pool_records(subset_dataset(dataset, cats),
                                          selected.to_dicts(), task.iou_type, task.backend))
            if task.fixed_ap:
                outcome = accumulate(gt, selected, task.iou_type, img_ids, task.backend, -1,
                                     cats, task.iou_threads)
                fixed.append((outcome.precision, outcome.recall))
    def join(parts: List[Arrays]) -> Optional[Arrays]:
        if len(parts) < 2:
            return parts[0] if parts else None
        return (np.concatenate([p for p, _ in parts], axis=2),
                np.concatenate([r for _, r in parts], axis=1))

    result.standard, result.fixed = join(standard), join(fixed)
    result.pool = PoolRecords.concatenate(pools) if task.pooled_ap else None


@dataclass
class Merged:
    """The shares joined: arrays over every category (sorted ids), all pool records."""

    cat_ids: List[int]
    standard: Optional[Arrays]
    fixed: Optional[Arrays]
    pool: Optional[PoolRecords]


def merge(results: Sequence[ShareResult]) -> Merged:
    """Join the shares' per-category arrays in category order and their pool records."""
    cat_ids = np.concatenate([np.asarray(r.cat_ids, np.int64) for r in results])
    order = np.argsort(cat_ids, kind='stable')
    if np.unique(cat_ids).size != cat_ids.size:
        raise ValueError('Shares of an evaluation must not share categories.')

    def join(kind: str) -> Optional[Arrays]:
        parts = [getattr(r, kind) for r in results if r.cat_ids]
        if not parts or any(p is None for p in parts):
            return None
        precision = np.concatenate([p for p, _ in parts], axis=2)
        recall = np.concatenate([r for _, r in parts], axis=1)
        if not np.array_equal(order, np.arange(order.size)):
            precision, recall = precision[:, :, order], recall[:, order]
        return precision, recall

    pools = [r.pool for r in results if r.pool is not None]
    return Merged(cat_ids[order].tolist(), join('standard'), join('fixed'),
                  PoolRecords.concatenate(pools) if pools else None)


def describe(results: Sequence[ShareResult], where: Sequence[str]) -> List[str]:
    """One log line per share: where it ran, its size and how long it took."""
    return [f'share {r.index} ({w}, pid {r.pid}): {len(r.cat_ids)} categories, '
            f'{r.num_detections} detections, {r.seconds:.2f} s, peak RSS {r.peak_rss_gb:.2f} GB'
            for r, w in zip(results, where)]


def share_costs(results: Sequence[ShareResult], where: Sequence[str]) -> List[dict]:
    """Per share: where it ran, its size and what it cost (``FastLVISMetric.last_shares``)."""
    return [dict(where=w, categories=len(r.cat_ids), detections=r.num_detections,
                 seconds=r.seconds, cpu_seconds=r.cpu_seconds, peak_rss_gb=r.peak_rss_gb)
            for r, w in zip(results, where)]


__all__ = ['CHUNK_DETECTIONS', 'Merged', 'ShareResult', 'ShareTask', 'describe',
           'evaluate_share', 'make_tasks', 'merge', 'share_costs', 'split_categories',
           'subset_dataset']
