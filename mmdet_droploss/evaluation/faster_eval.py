"""faster-coco-eval's evaluator without its work per (image, category) pair in Python.

``COCOeval_faster.evaluate`` (faster-coco-eval 1.8) builds a tuple, a dict entry and a list
entry for every (image, category) pair, then calls the C++ core. LVIS v1 val has 19,809 images
x 1,203 categories = 23.8 million pairs, almost all empty, so this Python loop costs more time
and memory than the evaluation itself. :class:`SparseCOCOeval` computes IoUs only for the
pairs that have both ground truth and detections (which the base class already finds in
``_prepare``) and fills the rest of the nested list the core expects with one shared empty
entry. The core itself keeps state for every (image, category, area) cell (about 1 GB per
million (image, category) pairs), so categories are handed to it in chunks and the per-category
precision and recall joined: AP is per category and the per-image cap is applied before, so
the numbers are the same.

What the core reads (the ground truth and detections of the evaluated images and categories,
the federated rules, the non-empty pairs, mask RLEs) is prepared from numpy columns
(``evaluator_inputs.prepare_lvis``) instead of the base class's Python per annotation.

With another faster-coco-eval (no ``_nonempty_iou_pairs``) it runs the base class's evaluate.
"""
from __future__ import annotations

import copy
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from faster_coco_eval import COCOeval_faster

from .evaluator_inputs import prepare_lvis


class SparseCOCOeval(COCOeval_faster):
    """``COCOeval_faster`` whose ``evaluate`` touches only non-empty (image, category) pairs
    and hands the C++ core at most ``max_pairs_per_chunk`` (image, category) pairs at a time."""

    max_pairs_per_chunk = 500_000  # about 0.5 GB of the core's per-cell state

    def _prepare(self) -> None:
        """The base class's ``_prepare``; LVIS-style bbox and segm from columns (same state)."""
        p = self.params
        if self.lvis_style and p.useCats and p.iouType in ('bbox', 'segm') \
                and not p.compute_boundary:
            return prepare_lvis(self)
        return super()._prepare()

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
        values = self._pair_ious(pairs)
        self.ious = dict(zip(pairs, values))  # the non-empty ones only
        self._paramsEval = copy.deepcopy(p)
        # the core's memory grows with images x categories: evaluate categories in chunks
        chunk = max(1, self.max_pairs_per_chunk // max(1, len(p.imgIds)))
        by_chunk: dict = {}
        for (img, cat), value in self.ious.items():
            k = cat_index[cat]
            by_chunk.setdefault(k // chunk, []).append((img_index[img], k % chunk, value))
        evals = []
        for start in range(0, len(p.catIds), chunk):
            cats = list(p.catIds[start:start + chunk])
            empty: list = []
            ious = [[empty] * len(cats) for _ in p.imgIds]
            for i, k, value in by_chunk.pop(start // chunk, ()):
                ious[i][k] = value
            params = copy.copy(p)  # the core only reads it; its catIds replaced
            params.catIds = cats
            evals.append(core.COCOevalEvaluateAccumulate(params, ious, self.gt_dataset,
                                                         self.dt_dataset, p.imgIds, cats, True))
            del ious
        self.eval = evals[0] if len(evals) == 1 else _concatenate(evals, self._paramsEval)
        self.print_function(f'SparseCOCOeval.evaluate() done (t={time.time() - tic:0.2f}s).')

    def _pair_ious(self, pairs: list) -> list:
        """``computeIoU`` of each pair, in order. Masks: in threads (the C++ RLE IoU releases
        the GIL), each thread a contiguous block of pairs (a future per pair cost more than
        the IoU of most pairs)."""
        compute = self.computeIoU
        workers = min(os.cpu_count() or 1, getattr(self, 'rle_iou_max_workers', 1), len(pairs))
        if self.params.iouType != 'segm' or workers < 2:
            return [compute(img, cat) for img, cat in pairs]
        size = -(-len(pairs) // (4 * workers))
        blocks = [pairs[k:k + size] for k in range(0, len(pairs), size)]
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda block: [compute(img, cat) for img, cat in block],
                                  blocks))
        return [value for part in parts for value in part]


def _concatenate(evals: list, params) -> dict:
    """One ``eval`` dict from those of consecutive category chunks (category axis joined)."""
    merged = dict(evals[0])
    merged['precision'] = np.concatenate([e['precision'] for e in evals], axis=2)
    merged['scores'] = np.concatenate([e['scores'] for e in evals], axis=2)
    merged['recall'] = np.concatenate([e['recall'] for e in evals], axis=1)
    merged['counts'] = list(merged['precision'].shape)
    merged['params'] = params
    if 'evaluations_size' in merged:
        merged['evaluations_size'] = sum(e['evaluations_size'] for e in evals)
    return merged


__all__ = ['SparseCOCOeval']
