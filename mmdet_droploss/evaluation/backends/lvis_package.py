"""The ``lvis`` package (the reference implementation; pure Python) as a back end.

It evaluates result dicts: the columns are turned into mmdet's dicts at its door. Its import
is deferred to first use (it is only needed with ``backend='lvis'``), and so is the numpy fix
it needs (``compat/lvis_numpy.py``, which imports lvis, and lvis matplotlib: half a second of
CPU that a pool worker evaluating with faster-coco-eval would pay for nothing).
"""
from __future__ import annotations

import logging
from typing import List, Optional, Sequence

import numpy as np

from ..columns.detection_arrays import DetectionArrays
from ..protocol.summary import IOU_THRESHOLDS
from .base import ALL_AREA, Backend, PairMatches, PrecisionRecall


def _lvis():
    """The lvis package, with the numpy fix it needs in place (:mod:`compat.lvis_numpy`; a
    module outside the evaluation, imported at first use like lvis itself)."""
    from ...compat import lvis_numpy
    lvis_numpy.apply()
    import lvis
    return lvis


class LVISPackage(Backend):
    """``lvis.LVISEval`` on result dicts."""

    name = 'lvis'

    def load_ground_truth(self, ann_file: str):
        return _lvis().LVIS(ann_file)

    def ground_truth_from_dataset(self, dataset: dict):
        lvis = _lvis()
        gt = lvis.LVIS.__new__(lvis.LVIS)  # LVIS() reads a file; the rest of its __init__ is this
        gt.logger = logging.getLogger('lvis')
        gt.dataset = dataset
        gt._create_index()
        return gt

    def ids(self, gt):
        return sorted(gt.get_cat_ids()), list(gt.get_img_ids())

    def accumulate(self, gt, detections: DetectionArrays, iou_type: str,
                   img_ids: Sequence[int], max_dets: int, cat_ids: Sequence[int],
                   iou_threads: Optional[int] = None) -> PrecisionRecall:
        lvis = _lvis()
        dicts = detections.to_dicts()
        if not dicts:  # LVISResults needs one: one of a category outside the evaluation
            dicts = [dict(image_id=img_ids[0], category_id=-1, bbox=[0, 0, 1, 1], score=0.0)]
        lvis_eval = lvis.LVISEval(gt, lvis.LVISResults(gt, dicts, max_dets=max_dets),
                                  iou_type)
        lvis_eval.params.img_ids = list(img_ids)
        lvis_eval.params.cat_ids = list(cat_ids)
        lvis_eval.params.max_dets = max_dets
        lvis_eval.evaluate()
        lvis_eval.accumulate()
        return np.asarray(lvis_eval.eval['precision']), np.asarray(lvis_eval.eval['recall'])

    def match_pairs(self, view: dict, view_dets: List[dict], iou_type: str) -> List[PairMatches]:
        lvis = _lvis()
        gt = self.ground_truth_from_dataset(view)
        lvis_eval = lvis.LVISEval(gt, lvis.LVISResults(gt, view_dets, max_dets=-1), iou_type)
        p = lvis_eval.params
        p.img_ids, p.cat_ids, p.max_dets = [img['id'] for img in view['images']], [1], -1
        p.area_rng, p.area_rng_lbl = [ALL_AREA], ['all']
        lvis_eval.evaluate()
        t = len(IOU_THRESHOLDS)
        empty = PairMatches(np.zeros(0), np.zeros((t, 0)), np.zeros((t, 0)), np.zeros(0))
        return [empty if e is None else PairMatches(e['dt_scores'],
                                                    np.asarray(e['dt_matches']) > 0,
                                                    e['dt_ignore'], e['gt_ignore'])
                for e in lvis_eval.eval_imgs]


__all__ = ['LVISPackage']
