"""One share of categories evaluated, in whichever process runs it (``tasks.py``).

Inside a share, categories are evaluated in chunks of at most ``chunk_detections``
detections (categories evaluate independently once the per-image cap is applied), which
bounds the result dicts and evaluator state held at a time; the chunks' per-category arrays
are joined along the category axis.
"""
from __future__ import annotations

import dataclasses
import gc
import resource
import time
from typing import List, Optional

import numpy as np

from ..backends import PrecisionRecall, backend_named, pool_records
from ..columns.detection_arrays import counts_per_category, resolved
from ..protocol.pooled_ap import PoolRecords
from ..protocol.ranking import MAX_DETS_PER_IMAGE
from .merge import join_by_category
from .tasks import ShareResult, ShareTask, subset_dataset


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


def _joined(parts: List[PrecisionRecall]) -> Optional[PrecisionRecall]:
    if len(parts) < 2:
        return parts[0] if parts else None
    return join_by_category(parts)


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
    backend = backend_named(task.backend)
    dataset = task.ground_truth()
    gt = backend.ground_truth_from_dataset(dataset)
    img_ids = [img['id'] for img in dataset['images']]
    standard, fixed, pools = [], [], []
    for cats in _chunks(task):
        if task.standard is not None:  # the per-image cap is applied (make_tasks)
            standard.append(backend.accumulate(gt, task.standard.of_categories(cats),
                                               task.iou_type, img_ids, MAX_DETS_PER_IMAGE,
                                               cats, task.iou_threads))
        if task.fixed is not None and (task.fixed_ap or task.pooled_ap):
            selected = task.fixed.of_categories(cats)
            if task.pooled_ap:
                pools.append(pool_records(subset_dataset(dataset, cats),
                                          selected.to_dicts(), task.iou_type, task.backend))
            if task.fixed_ap:  # no per-image cap
                fixed.append(backend.accumulate(gt, selected, task.iou_type, img_ids, -1,
                                                cats, task.iou_threads))
    result.standard, result.fixed = _joined(standard), _joined(fixed)
    result.pool = PoolRecords.concatenate(pools) if task.pooled_ap else None


__all__ = ['evaluate_share']
