"""faster-coco-eval (``lvis_style``) as a back end: :class:`SparseCOCOeval` on columns."""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from ...columns.detection_arrays import DetectionArrays
from ..base import ALL_AREA, Backend, PairMatches, PrecisionRecall
from .ground_truth import attach_rles, ground_truth_from_dataset, load_ground_truth
from .results import load_results_arrays, load_results_faster
from .sparse_eval import SparseCOCOeval


class FasterCOCOEval(Backend):
    """faster-coco-eval's C++ core, prepared and fed from numpy columns."""

    name = 'faster_coco_eval'

    def load_ground_truth(self, ann_file: str):
        return load_ground_truth(ann_file)

    def ground_truth_from_dataset(self, dataset: dict):
        return ground_truth_from_dataset(dataset)

    def prepare_dataset(self, dataset: dict, masks: bool) -> None:
        """With ``masks``: every annotation's segmentation converted to RLE, once."""
        if masks:
            attach_rles(dataset)

    def ids(self, gt):
        return sorted(gt.getCatIds()), list(gt.getImgIds())

    def accumulate(self, gt, detections: DetectionArrays, iou_type: str,
                   img_ids: Sequence[int], max_dets: int, cat_ids: Sequence[int],
                   iou_threads: Optional[int] = None) -> PrecisionRecall:
        threads = {'rle_iou_max_workers': iou_threads} if iou_threads else {}
        evaluator = SparseCOCOeval(gt, load_results_arrays(gt, detections), iou_type,
                                   lvis_style=True, print_function=lambda *_: None, **threads)
        # faster-coco-eval caps each (image, category) cell at maxDets: no cap is "all of them"
        evaluator.params.maxDets = [max_dets if max_dets > 0 else max(1, len(detections))]
        evaluator.params.imgIds = list(img_ids)
        evaluator.params.catIds = list(cat_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        precision = np.asarray(evaluator.eval['precision'])
        recall = np.asarray(evaluator.eval['recall'])
        if precision.ndim == 5:  # (T, R, K, A, maxDets) with a single maxDets entry
            precision, recall = precision[..., -1], recall[..., -1]
        return precision, recall

    def match_pairs(self, view: dict, view_dets: List[dict], iou_type: str) -> List[PairMatches]:
        gt = ground_truth_from_dataset(view)
        evaluator = SparseCOCOeval(gt, load_results_faster(gt, view_dets), iou_type,
                                   lvis_style=True, separate_eval=True,
                                   print_function=lambda *_: None)
        p = evaluator.params
        p.imgIds, p.catIds = [img['id'] for img in view['images']], [1]
        p.areaRng, p.areaRngLbl = [ALL_AREA], ['all']
        p.maxDets = [max(1, len(view_dets))]
        evaluator.evaluate()
        # ImageEvaluation's state: (dt matches (T x D), gt matches, dt scores, gt ignores,
        # dt ignores (T x D), matched pairs), one per virtual image in order
        return [PairMatches(s[2], np.asarray(s[0]) > 0, s[4], s[3])
                for s in (e.__getstate__() for e in evaluator._evalImgs_cpp)]


__all__ = ['FasterCOCOEval']
