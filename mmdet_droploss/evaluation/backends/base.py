"""What an LVIS evaluator does for this package: one interface, two implementations.

A back end loads the ground truth (from a file, or from an LVIS-format dict: a share's),
accumulates LVIS's per-category precision and recall of detections (columns, the per-image
cap already applied) and, for AP-Pool, matches the detections of a pair view per (image,
category) (``pair_view.py``). Both implement LVIS's federated rules and give the same numbers
(to 1e-4, tested): ``lvis_package.LVISPackage``, the reference, and
``faster.FasterCOCOEval``, faster-coco-eval's C++ core driven from numpy columns.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..columns.detection_arrays import DetectionArrays

PrecisionRecall = Tuple[np.ndarray, np.ndarray]  # (T, R, K, A) precision, (T, K, A) recall
ALL_AREA = [0.0, 1e5 ** 2]  # AP-Pool matches at area 'all' only


@dataclass
class LVISEvaluation:
    """The outcome of one evaluation (one iou type)."""

    stats: Dict[str, float]  # the lvis package's names (``protocol/summary.py``)
    precision: np.ndarray  # (iou thresholds, recall points, categories, area ranges)
    cat_ids: List[int]  # category ids of the precision's third axis
    recall: Optional[np.ndarray] = None  # (iou thresholds, categories, area ranges)


class PairMatches(NamedTuple):
    """One virtual image of a pair view, as the evaluator matched it: its detections' scores
    (D,), matches and ignores (T x D, nonzero: matched / ignored) and its ground truth's
    ignore flags (G,)."""

    scores: Sequence[float]
    matched: np.ndarray
    ignored: np.ndarray
    gt_ignored: Sequence[int]


class Backend(abc.ABC):
    """An LVIS evaluator (``name``: what ``FastLVISMetric(backend=...)`` says)."""

    name: str

    @abc.abstractmethod
    def load_ground_truth(self, ann_file: str):
        """The ground-truth API object of an annotation file."""

    @abc.abstractmethod
    def ground_truth_from_dataset(self, dataset: dict):
        """The ground-truth API object of an LVIS-format dict (no file)."""

    def prepare_dataset(self, dataset: dict, masks: bool) -> None:
        """What can be done to a loaded dataset before any evaluation (a pool's workers do
        it when they start, while the model runs): nothing by default."""

    @abc.abstractmethod
    def ids(self, gt) -> Tuple[List[int], List[int]]:
        """(sorted category ids, image ids) of a ground-truth object."""

    @abc.abstractmethod
    def accumulate(self, gt, detections: DetectionArrays, iou_type: str,
                   img_ids: Sequence[int], max_dets: int, cat_ids: Sequence[int],
                   iou_threads: Optional[int] = None) -> PrecisionRecall:
        """LVIS's precision and recall of ``cat_ids`` (sorted) over ``img_ids``. The
        detections are already cut to each image's ``max_dets`` best (``-1``: no cap, AP-Fixed);
        ``iou_threads``: how many threads compute mask IoUs, where the back end can."""

    @abc.abstractmethod
    def match_pairs(self, view: dict, view_dets: List[dict], iou_type: str) -> List[PairMatches]:
        """The matching of every virtual image of a pair view (one category, id 1), in the
        order of ``view['images']``, area 'all', no cap."""


__all__ = ['ALL_AREA', 'Backend', 'LVISEvaluation', 'PairMatches', 'PrecisionRecall']
