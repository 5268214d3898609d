"""Two evaluators of LVIS AP behind one interface: the ``lvis`` package and faster-coco-eval.

Both apply LVIS's federated rules: a detection of category ``c`` in image ``i`` counts only if
``c`` is annotated in ``i`` or listed in its ``neg_category_ids``; unmatched detections of a
category in ``not_exhaustive_category_ids`` are not false positives; at most 300 detections per
image (the highest scoring, over all categories) enter the evaluation; AP is reported overall,
per object size and per frequency group (APr, APc, APf).

``lvis`` is the reference implementation (pure Python, unmaintained since 2020);
faster-coco-eval's ``lvis_style`` mode computes the same numbers with a C++ core.
Statistics (``lvis_summary.py``, from the accumulated precision and recall of either back end)
use the ``lvis`` package's names: ``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``,
``APl``, ``APr``, ``APc``, ``APf``, ``AR@300``, ``ARs@300``, ``ARm@300``, ``ARl@300``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from .lvis_summary import print_summary, summarize
from .detection_arrays import DetectionArrays

BACKENDS = ('faster_coco_eval', 'lvis')
MAX_DETS_PER_IMAGE = 300

@dataclass
class LVISEvaluation:
    """The outcome of one evaluation (one iou type)."""

    stats: Dict[str, float]  # lvis package names, see the module docstring
    precision: np.ndarray  # (iou thresholds, recall points, categories, area ranges)
    cat_ids: List[int]  # category ids of the precision's third axis
    recall: Optional[np.ndarray] = None  # (iou thresholds, categories, area ranges)


def top_per_image(img_ids: np.ndarray, scores: np.ndarray,
                  max_dets: int = MAX_DETS_PER_IMAGE) -> np.ndarray:
    """Indices (ascending) of the ``max_dets`` highest-scoring detections of each image (equal
    scores keep their order, as the stable sort of ``lvis.LVISResults`` does)."""
    n = len(img_ids)
    if n == 0 or max_dets <= 0:
        return np.arange(n)
    img_ids = np.asarray(img_ids)
    if _largest_image(img_ids) <= max_dets:
        return np.arange(n)  # already cut (a share's detections, a chunk of them): all kept
    order = np.lexsort((-np.asarray(scores, np.float64), img_ids))  # image, then score; stable
    sorted_img = img_ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_img[1:] != sorted_img[:-1]])
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.sort(order[rank < max_dets])


def _largest_image(img_ids: np.ndarray) -> int:
    """The number of detections of the image that has most (O(N) for compact ids)."""
    low, high = int(img_ids.min()), int(img_ids.max())
    if high - low <= 4 * img_ids.size + 1_000_000:
        return int(np.bincount(img_ids - low).max())
    return int(np.unique(img_ids, return_counts=True)[1].max())


def limit_detections_per_image(detections: Sequence[dict],
                               max_dets: int = MAX_DETS_PER_IMAGE) -> List[dict]:
    """Keep the ``max_dets`` highest-scoring detections of each image (LVIS's rule; equal
    scores keep their order, as the stable sort of ``lvis.LVISResults`` does), in input order."""
    n = len(detections)
    if n == 0:
        return []
    img = np.fromiter((d['image_id'] for d in detections), np.int64, n)
    score = np.fromiter((d['score'] for d in detections), np.float64, n)
    keep = top_per_image(img, score, max_dets)
    if keep.size == n:
        return list(detections)
    return [detections[i] for i in keep.tolist()]


def load_ground_truth(ann_file: str, backend: str):
    """The ground-truth API object the backend evaluates against."""
    check_backend(backend)
    if backend == 'lvis':
        from lvis import LVIS
        return LVIS(ann_file)
    from faster_coco_eval import COCO
    return COCO(ann_file)


def ground_truth_from_dataset(dataset: dict, backend: str):
    """The ground-truth API object of an LVIS-format dict (no file): a share's ground truth."""
    check_backend(backend)
    if backend == 'lvis':
        import logging

        from lvis import LVIS
        gt = LVIS.__new__(LVIS)  # LVIS() reads a file; the rest of its __init__ is this
        gt.logger = logging.getLogger('lvis')
        gt.dataset = dataset
        gt._create_index()
        return gt
    from faster_coco_eval import COCO
    gt = COCO()
    gt.dataset = dataset
    gt.createIndex()
    return gt


def ground_truth_ids(gt, backend: str) -> tuple:
    """(sorted category ids, image ids) of a ground-truth API object."""
    if backend == 'lvis':
        return sorted(gt.get_cat_ids()), list(gt.get_img_ids())
    return sorted(gt.getCatIds()), list(gt.getImgIds())


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f'Unknown LVIS evaluation backend {backend!r}: use one of {BACKENDS}.')
    if backend == 'faster_coco_eval':
        try:
            import faster_coco_eval  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "backend='faster_coco_eval' needs the faster-coco-eval package: "
                "pip install 'faster-coco-eval==1.8.0', or use backend='lvis'.") from err


def category_frequencies(gt, cat_ids: Sequence[int]) -> List[str]:
    """The frequency group ('r', 'c', 'f') of each of ``cat_ids`` in a ground-truth object."""
    frequency = {c['id']: c['frequency'] for c in gt.dataset['categories']}
    return [frequency[c] for c in cat_ids]


def evaluate(gt, detections: List[dict], iou_type: str, img_ids: Sequence[int], backend: str,
             print_fn: Callable[[str], None] = print, max_dets: int = MAX_DETS_PER_IMAGE,
             cat_ids: Optional[Sequence[int]] = None) -> LVISEvaluation:
    """Evaluate ``detections`` (LVIS/COCO result dicts) of ``iou_type`` ('bbox' or 'segm').

    ``max_dets`` is the per-image cap (LVIS: 300); ``-1`` evaluates every detection, as
    AP-Fixed does (its budget is per class, see ``fixed_ap.py``). The AR statistics keep their
    ``AR@300`` names whatever the cap. ``cat_ids`` restricts the evaluation to those
    categories (default: all of the ground truth). ``print_fn`` receives the summary table.
    """
    outcome = accumulate(gt, detections, iou_type, img_ids, backend, max_dets, cat_ids)
    outcome.stats = summarize(outcome.precision, outcome.recall,
                              category_frequencies(gt, outcome.cat_ids))
    print_summary(outcome.stats, max_dets, print_fn)
    return outcome


def accumulate(gt, detections: Union[List[dict], DetectionArrays], iou_type: str,
               img_ids: Sequence[int], backend: str, max_dets: int = MAX_DETS_PER_IMAGE,
               cat_ids: Optional[Sequence[int]] = None,
               iou_threads: Optional[int] = None) -> LVISEvaluation:
    """:func:`evaluate` up to LVIS's accumulation: precision and recall per category, no
    summary (``stats`` empty). Categories evaluate independently once the per-image cap is
    applied, so evaluations of disjoint ``cat_ids`` join into the evaluation of all.
    ``detections``: result dicts or their columns (``DetectionArrays``); ``iou_threads``:
    how many threads compute mask IoUs (faster-coco-eval; default: its own, up to the CPUs)."""
    check_backend(backend)
    if iou_type not in ('bbox', 'segm'):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}.")
    if isinstance(detections, DetectionArrays):
        if max_dets > 0:
            detections = detections.take(top_per_image(detections.img_id, detections.score,
                                                       max_dets))
        if backend == 'lvis':
            detections = detections.to_dicts()
    elif max_dets > 0:
        detections = limit_detections_per_image(detections, max_dets)
    if cat_ids is None:
        cat_ids = ground_truth_ids(gt, backend)[0]
    cat_ids = sorted(cat_ids)
    if backend == 'lvis':
        precision, recall = _accumulate_lvis(gt, detections, iou_type, img_ids, max_dets,
                                             cat_ids)
    else:
        precision, recall = _accumulate_faster(gt, detections, iou_type, img_ids, max_dets,
                                               cat_ids, iou_threads)
    return LVISEvaluation(stats={}, precision=precision, recall=recall, cat_ids=list(cat_ids))


def _accumulate_lvis(gt, detections, iou_type, img_ids, max_dets, cat_ids):
    from lvis import LVISEval, LVISResults

    from ..compat import lvis_numpy
    lvis_numpy.apply()
    if not detections:  # LVISResults needs one: one of a category outside the evaluation
        detections = [dict(image_id=img_ids[0], category_id=-1, bbox=[0, 0, 1, 1], score=0.0)]
    results = LVISResults(gt, detections, max_dets=max_dets)
    lvis_eval = LVISEval(gt, results, iou_type)
    lvis_eval.params.img_ids = list(img_ids)
    lvis_eval.params.cat_ids = list(cat_ids)
    lvis_eval.params.max_dets = max_dets
    lvis_eval.evaluate()
    lvis_eval.accumulate()
    return np.asarray(lvis_eval.eval['precision']), np.asarray(lvis_eval.eval['recall'])


def _accumulate_faster(gt, detections, iou_type, img_ids, max_dets, cat_ids,
                       iou_threads=None):
    from .faster_eval import SparseCOCOeval
    from .result_records import drop_unlabelled, load_results_arrays, load_results_faster

    if isinstance(detections, DetectionArrays):
        results = load_results_arrays(gt, detections)
    else:
        results = load_results_faster(gt, drop_unlabelled(gt, detections))
    evaluator = SparseCOCOeval(gt, results, iou_type, lvis_style=True,
                               print_function=lambda *_: None)
    # faster-coco-eval caps each (image, category) cell at maxDets: no cap is "all of them"
    evaluator.params.maxDets = [max_dets if max_dets > 0 else max(1, len(detections))]
    evaluator.params.imgIds = list(img_ids)
    evaluator.params.catIds = list(cat_ids)
    if iou_threads:
        evaluator.rle_iou_max_workers = iou_threads
    evaluator.evaluate()
    evaluator.accumulate()
    precision = np.asarray(evaluator.eval['precision'])
    recall = np.asarray(evaluator.eval['recall'])
    if precision.ndim == 5:  # (T, R, K, A, maxDets) with a single maxDets entry
        precision, recall = precision[..., -1], recall[..., -1]
    return precision, recall
