"""LVIS AP of result dicts or columns with either back end: the package's public functions.

Every function applies LVIS's rules the same way: a detection of category ``c`` in image ``i``
counts only if ``c`` is annotated in ``i`` or listed in its ``neg_category_ids``; unmatched
detections of a category in ``not_exhaustive_category_ids`` are not false positives; at most
300 detections per image (the highest scoring, over all categories) enter the evaluation,
unless ``max_dets=-1`` (AP-Fixed); AP is reported overall, per object size and per frequency
group, with the ``lvis`` package's names (``protocol/summary.py``).

Result dicts are turned into columns at the door (``DetectionArrays.from_dicts``): one path
for both back ends from there (the ``lvis`` package turns them back into dicts at its own door).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Union

from ..columns.detection_arrays import DetectionArrays
from ..protocol.fixed_ap import DEFAULT_DETS_PER_CLASS, select_fixed
from ..protocol.pooled_ap import pooled_ap
from ..protocol.ranking import MAX_DETS_PER_IMAGE, top_per_image
from ..protocol.summary import print_summary, summarize
from .base import LVISEvaluation
from .pair_view import pool_records
from .registry import backend_named, category_frequencies

Detections = Union[List[dict], DetectionArrays]


def capped(detections: DetectionArrays, max_dets: int = MAX_DETS_PER_IMAGE) -> DetectionArrays:
    """The per-image cap: each image's ``max_dets`` best detections (``-1``: all), in order."""
    if max_dets <= 0:
        return detections
    return detections.take(top_per_image(detections.img_id, detections.score, max_dets))


def accumulate(gt, detections: Detections, iou_type: str, img_ids: Sequence[int],
               backend: str, max_dets: int = MAX_DETS_PER_IMAGE,
               cat_ids: Optional[Sequence[int]] = None,
               iou_threads: Optional[int] = None) -> LVISEvaluation:
    """:func:`evaluate` up to LVIS's accumulation: precision and recall per category, no
    summary (``stats`` empty). Categories evaluate independently once the per-image cap is
    applied, so evaluations of disjoint ``cat_ids`` join into the evaluation of all.
    ``detections``: result dicts or their columns (``DetectionArrays``); ``iou_threads``:
    how many threads compute mask IoUs (faster-coco-eval; default: its own, up to the CPUs)."""
    evaluator = backend_named(backend)
    if iou_type not in ('bbox', 'segm'):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}.")
    if not isinstance(detections, DetectionArrays):
        detections = DetectionArrays.from_dicts(detections, iou_type)
    cat_ids = sorted(evaluator.ids(gt)[0] if cat_ids is None else cat_ids)
    precision, recall = evaluator.accumulate(gt, capped(detections, max_dets), iou_type,
                                             img_ids, max_dets, cat_ids, iou_threads)
    return LVISEvaluation(stats={}, precision=precision, recall=recall, cat_ids=list(cat_ids))


def evaluate(gt, detections: Detections, iou_type: str, img_ids: Sequence[int], backend: str,
             print_fn: Callable[[str], None] = print, max_dets: int = MAX_DETS_PER_IMAGE,
             cat_ids: Optional[Sequence[int]] = None) -> LVISEvaluation:
    """Evaluate ``detections`` (LVIS/COCO result dicts) of ``iou_type`` ('bbox' or 'segm').

    ``max_dets`` is the per-image cap (LVIS: 300); ``-1`` evaluates every detection, as
    AP-Fixed does (its budget is per class, see ``protocol/fixed_ap.py``). The AR statistics
    keep their ``AR@300`` names whatever the cap. ``cat_ids`` restricts the evaluation to those
    categories (default: all of the ground truth). ``print_fn`` receives the summary table.
    """
    outcome = accumulate(gt, detections, iou_type, img_ids, backend, max_dets, cat_ids)
    outcome.stats = summarize(outcome.precision, outcome.recall,
                              category_frequencies(gt, outcome.cat_ids))
    print_summary(outcome.stats, max_dets, print_fn)
    return outcome


def evaluate_fixed(gt, detections: List[dict], iou_type: str, img_ids: Sequence[int],
                   backend: str, k: Optional[int] = DEFAULT_DETS_PER_CLASS,
                   print_fn: Callable[[str], None] = print) -> LVISEvaluation:
    """AP-Fixed of result dicts: the per-class top ``k`` (``None``: already selected, e.g. by
    ``PerClassTopK``), evaluated with no per-image cap."""
    if k is not None:
        detections = select_fixed(detections, k)
    return evaluate(gt, detections, iou_type, img_ids, backend, print_fn=print_fn, max_dets=-1)


def evaluate_pooled(gt_dataset: dict, detections: Sequence[dict], iou_type: str, backend: str,
                    print_fn: Callable[[str], None] = print) -> Dict[str, float]:
    """AP-Pool of ``detections`` (already selected): ``{'AP_pool', 'APr_pool', 'APc_pool',
    'APf_pool'}``, ``-1`` for a pool without ground truth."""
    stats = pooled_ap(pool_records(gt_dataset, detections, iou_type, backend),
                      {c['id']: c['frequency'] for c in gt_dataset['categories']})
    print_fn('AP-Pool: ' + '  '.join(f'{k} {v:.3f}' for k, v in stats.items()))
    return stats


__all__ = ['accumulate', 'capped', 'evaluate', 'evaluate_fixed', 'evaluate_pooled']
