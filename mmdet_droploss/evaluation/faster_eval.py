"""faster-coco-eval's evaluator without its work per (image, category) pair in Python.

``COCOeval_faster.evaluate`` (faster-coco-eval 1.8) builds a tuple, a dict entry and a list
entry for every (image, category) pair, then calls the C++ core. LVIS v1 val has 19,809 images
x 1,203 categories = 23.8 million pairs, almost all empty, so this Python loop costs more time
and memory than the evaluation itself. :class:`SparseCOCOeval` computes IoUs only for the
pairs that have both ground truth and detections (which the base class already finds in
``_prepare``) and fills the rest of the nested list the core expects with one shared empty
entry; the core receives exactly what the base class passes it, so the numbers are the same.
With another faster-coco-eval (no ``_nonempty_iou_pairs``) it runs the base class's evaluate.
"""
from __future__ import annotations

import copy
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from faster_coco_eval import COCOeval_faster


class SparseCOCOeval(COCOeval_faster):
    """``COCOeval_faster`` whose ``evaluate`` touches only non-empty (image, category) pairs."""

    def evaluate(self) -> None:
        p = self.params
        if not p.useCats or self.separate_eval or p.iouType not in ('bbox', 'segm'):
            return super().evaluate()
        tic = time.time()
        p.imgIds = list(np.unique(p.imgIds))
        p.catIds = list(np.unique(p.catIds))
        p.maxDets = sorted(p.maxDets)
        self._prepare()
        pairs = getattr(self, '_nonempty_iou_pairs', None)
        if pairs is None:  # not the faster-coco-eval this was written for
            return super().evaluate()
        from faster_coco_eval import faster_eval_api_cpp as core

        img_index = {img: k for k, img in enumerate(p.imgIds)}
        cat_index = {cat: k for k, cat in enumerate(p.catIds)}
        pairs = sorted(pairs, key=lambda pair: (img_index[pair[0]], cat_index[pair[1]]))
        workers = min(os.cpu_count() or 1, getattr(self, 'rle_iou_max_workers', 1), len(pairs))
        if p.iouType == 'segm' and workers > 1:  # the RLE IoU releases the GIL
            with ThreadPoolExecutor(workers) as pool:
                values = list(pool.map(lambda pair: self.computeIoU(*pair), pairs,
                                       chunksize=256))
        else:
            values = [self.computeIoU(img, cat) for img, cat in pairs]
        empty: list = []
        ious = [[empty] * len(p.catIds) for _ in p.imgIds]
        for (img, cat), value in zip(pairs, values):
            ious[img_index[img]][cat_index[cat]] = value
        self.ious = dict(zip(pairs, values))  # the non-empty ones only
        self._paramsEval = copy.deepcopy(p)
        self.eval = core.COCOevalEvaluateAccumulate(self._paramsEval, ious, self.gt_dataset,
                                                    self.dt_dataset, p.imgIds, p.catIds, True)
        self.print_function(f'SparseCOCOeval.evaluate() done (t={time.time() - tic:0.2f}s).')


__all__ = ['SparseCOCOeval']
