"""Two evaluators of LVIS AP behind one interface: the ``lvis`` package and faster-coco-eval.

Both apply LVIS's federated rules: a detection of category ``c`` in image ``i`` counts only if
``c`` is annotated in ``i`` or listed in its ``neg_category_ids``; unmatched detections of a
category in ``not_exhaustive_category_ids`` are not false positives; at most 300 detections per
image (the highest scoring, over all categories) enter the evaluation; AP is reported overall,
per object size and per frequency group (APr, APc, APf).

``lvis`` is the reference implementation (pure Python, unmaintained since 2020);
faster-coco-eval's ``lvis_style`` mode computes the same numbers with a C++ core.
Statistics use the ``lvis`` package's names: ``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``,
``APl``, ``APr``, ``APc``, ``APf``, ``AR@300``, ``ARs@300``, ``ARm@300``, ``ARl@300``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

import numpy as np

BACKENDS = ('faster_coco_eval', 'lvis')
MAX_DETS_PER_IMAGE = 300

# faster-coco-eval's stats_as_dict names -> the lvis package's names (with 300 max dets).
_FASTER_TO_LVIS = {
    'AP_all': 'AP', 'AP_50': 'AP50', 'AP_75': 'AP75', 'AP_small': 'APs', 'AP_medium': 'APm',
    'AP_large': 'APl', 'APr': 'APr', 'APc': 'APc', 'APf': 'APf', 'AR_all': 'AR@300',
    'AR_small': 'ARs@300', 'AR_medium': 'ARm@300', 'AR_large': 'ARl@300'
}


@dataclass
class LVISEvaluation:
    """The outcome of one evaluation (one iou type)."""

    stats: Dict[str, float]  # lvis package names, see the module docstring
    precision: np.ndarray  # (iou thresholds, recall points, categories, area ranges)
    cat_ids: List[int]  # category ids of the precision's third axis


def limit_detections_per_image(detections: Sequence[dict],
                               max_dets: int = MAX_DETS_PER_IMAGE) -> List[dict]:
    """Keep the ``max_dets`` highest-scoring detections of each image (LVIS's rule; equal
    scores keep their order, as the stable sort of ``lvis.LVISResults`` does), in input order."""
    n = len(detections)
    if n == 0:
        return []
    img = np.fromiter((d['image_id'] for d in detections), np.int64, n)
    score = np.fromiter((d['score'] for d in detections), np.float64, n)
    order = np.lexsort((-score, img))  # by image, then decreasing score; stable
    sorted_img = img[order]
    starts = np.flatnonzero(np.r_[True, sorted_img[1:] != sorted_img[:-1]])
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    keep = np.sort(order[rank < max_dets])
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
                "pip install 'faster-coco-eval>=1.6.5', or use backend='lvis'.") from err


def evaluate(gt, detections: List[dict], iou_type: str, img_ids: Sequence[int], backend: str,
             print_fn: Callable[[str], None] = print,
             max_dets: int = MAX_DETS_PER_IMAGE) -> LVISEvaluation:
    """Evaluate ``detections`` (LVIS/COCO result dicts) of ``iou_type`` ('bbox' or 'segm').

    ``max_dets`` is the per-image cap (LVIS: 300); ``-1`` evaluates every detection, as
    AP-Fixed does (its budget is per class, see ``fixed_ap.py``). The AR statistics keep their
    ``AR@300`` names whatever the cap. ``print_fn`` receives faster-coco-eval's summary table;
    the ``lvis`` backend prints its own to stdout.
    """
    check_backend(backend)
    if iou_type not in ('bbox', 'segm'):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}.")
    if backend == 'lvis':
        return _evaluate_lvis(gt, detections, iou_type, img_ids, max_dets)
    return _evaluate_faster(gt, detections, iou_type, img_ids, print_fn, max_dets)


def _evaluate_lvis(gt, detections, iou_type, img_ids, max_dets) -> LVISEvaluation:
    from lvis import LVISEval, LVISResults

    from ..compat import lvis_numpy
    lvis_numpy.apply()
    results = LVISResults(gt, detections, max_dets=max_dets)
    lvis_eval = LVISEval(gt, results, iou_type)
    lvis_eval.params.img_ids = list(img_ids)
    lvis_eval.params.max_dets = max_dets
    lvis_eval.evaluate()
    lvis_eval.accumulate()
    lvis_eval.summarize()
    lvis_eval.print_results()  # to stdout, as mmdet's LVISMetric does
    stats = {k.replace(f'@{max_dets}', f'@{MAX_DETS_PER_IMAGE}'): float(v)
             for k, v in lvis_eval.get_results().items()}
    return LVISEvaluation(stats=stats, precision=lvis_eval.eval['precision'],
                          cat_ids=list(lvis_eval.params.cat_ids))


def _evaluate_faster(gt, detections, iou_type, img_ids, print_fn, max_dets) -> LVISEvaluation:
    from .faster_eval import SparseCOCOeval
    from .result_records import drop_unlabelled, load_results_faster

    if max_dets > 0:
        detections = limit_detections_per_image(detections, max_dets)
    results = load_results_faster(gt, drop_unlabelled(gt, detections))
    evaluator = SparseCOCOeval(gt, results, iou_type, lvis_style=True, print_function=print_fn)
    # faster-coco-eval caps each (image, category) cell at maxDets: no cap is "all of them"
    evaluator.params.maxDets = [max_dets if max_dets > 0 else max(1, len(detections))]
    evaluator.params.imgIds = list(img_ids)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    faster = evaluator.stats_as_dict
    stats = {lvis_name: float(faster[name]) for name, lvis_name in _FASTER_TO_LVIS.items()}
    precision = np.asarray(evaluator.eval['precision'])
    if precision.ndim == 5:  # (T, R, K, A, maxDets) with a single maxDets entry
        precision = precision[..., -1]
    return LVISEvaluation(stats=stats, precision=precision,
                          cat_ids=list(evaluator.params.catIds))
