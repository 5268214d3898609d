"""faster-coco-eval's evaluator without its work per (image, category) pair in Python.

``COCOeval_faster.evaluate`` (faster-coco-eval 1.8) builds a tuple, a dict entry and a list
entry for every (image, category) pair, then calls the C++ core. LVIS v1 val has 19,809 images
x 1,203 categories = 23.8 million pairs, almost all empty, so this Python loop costs more time
and memory than the evaluation itself. :class:`SparseCOCOeval` computes IoUs only for the
pairs that have both ground truth and detections (which the base class already finds in
``_prepare``) and fills the rest of the nested list the core expects with one shared empty
entry. The core itself keeps and walks state for every (image, category, area) cell it is
given (about 1 GB per million (image, category) pairs), so it is given chunks of categories,
each with only the images where one of them has ground truth or a detection, and the
per-category precision and recall are joined: AP is per category, the per-image cap is applied
before and an empty cell adds nothing, so the numbers are the same.

What the core reads (the ground truth and detections of the evaluated images and categories,
the federated rules, the non-empty pairs) is prepared from numpy columns
(``inputs.prepare_lvis``) instead of the base class's Python per annotation, and the pairs'
IoUs come from the columns too (``pair_ious.py``): results kept as columns
(``results.ColumnResults``) are what this evaluation takes. Result dicts (AP-Pool's pair view,
``separate_eval``) run the base class's ``evaluate`` on the same prepared state.
"""
from __future__ import annotations

import copy
import time

import numpy as np
from faster_coco_eval import COCOeval_faster
from faster_coco_eval import faster_eval_api_cpp as core

from ...protocol.pair_keys import sorted_union
from .ground_truth import columns_of
from .inputs import PairInputs, PreparedCells, prepare_lvis
from .pair_ious import box_ious, grouped, mask_ious
from .results import ColumnResults


class SparseCOCOeval(COCOeval_faster):
    """``COCOeval_faster`` whose ``evaluate`` touches only non-empty (image, category) pairs
    and hands the C++ core at most ``max_pairs_per_chunk`` (image, category) cells at a time."""

    max_pairs_per_chunk = 500_000  # about 0.5 GB of the core's per-cell state

    def _prepare(self):
        """The base class's ``_prepare``; LVIS-style bbox and segm from columns (the same
        state, and the cells found, returned)."""
        p = self.params
        if self.lvis_style and p.useCats and p.iouType in ('bbox', 'segm') \
                and not p.compute_boundary:
            return prepare_lvis(self)
        return super()._prepare()

    def evaluate(self) -> None:
        p = self.params
        if not p.useCats or self.separate_eval or p.iouType not in ('bbox', 'segm') or \
                not isinstance(self.cocoDt, ColumnResults):
            return super().evaluate()
        tic = time.time()
        p.imgIds = list(np.unique(p.imgIds))
        p.catIds = list(np.unique(p.catIds))
        p.maxDets = sorted(p.maxDets)
        prepared: PreparedCells = self._prepare()
        inputs = prepared.pair_inputs
        keys, pair_keys = inputs.pairs, inputs.keys  # the non-empty pairs, in key order
        pairs = list(zip(pair_keys.images(keys).tolist(), pair_keys.categories(keys).tolist()))
        self.ious = dict(zip(pairs, self._column_ious(inputs)))  # the non-empty ones only
        by_cat: dict = {}  # category -> its (image, IoUs) pairs
        for (img, cat), value in self.ious.items():
            by_cat.setdefault(cat, []).append((img, value))
        self._paramsEval = copy.deepcopy(p)
        # the core keeps and walks state for every (image, category, area) cell it is given,
        # empty or not (19,809 x 1,203 x 4 cells for LVIS v1 val): give it, per chunk of
        # categories, only the images where they have ground truth or detections. An empty
        # cell adds nothing to a category's precision or recall, and the images keep their
        # order, so the numbers are the same.
        evals = []
        for cats, imgs in self._cell_chunks(prepared.touched):
            row = {img: i for i, img in enumerate(imgs)}
            col = {cat: k for k, cat in enumerate(cats)}
            empty: list = []
            ious = [[empty] * len(cats) for _ in imgs]
            for cat in cats:
                for img, value in by_cat.pop(cat, ()):
                    ious[row[img]][col[cat]] = value
            params = copy.copy(p)  # the core only reads it; its images and categories replaced
            params.imgIds, params.catIds = imgs, cats
            evals.append(core.COCOevalEvaluateAccumulate(params, ious, self.gt_dataset,
                                                         self.dt_dataset, imgs, cats, True))
            del ious
        self.eval = evals[0] if len(evals) == 1 else _concatenate(evals, self._paramsEval)
        self.print_function(f'SparseCOCOeval.evaluate() done (t={time.time() - tic:0.2f}s).')

    def _cell_chunks(self, touched):
        """(categories, images) per call of the core: consecutive categories, with the images
        (in evaluation order) where any of them has ground truth or a detection. Categories
        join a chunk while it stays within ``max_pairs_per_chunk`` cells and its cells are
        mostly non-empty (at most twice the touched ones, or a few thousand)."""
        p = self.params
        img_ids, cat_ids = np.asarray(p.imgIds, np.int64), np.asarray(p.catIds, np.int64)
        img_pos = np.searchsorted(img_ids, touched[0])  # imgIds are sorted
        cat_pos = np.searchsorted(cat_ids, touched[1])
        # the touched cells come sorted by (image, category): a stable sort by category
        # orders them by (category, image); on 16-bit positions it is a radix sort
        order = np.argsort(cat_pos.astype(np.int16) if cat_ids.size < 2**15 else cat_pos,
                           kind='stable')
        img_pos, cat_pos = img_pos[order], cat_pos[order]
        bounds = np.searchsorted(cat_pos, np.arange(cat_ids.size + 1))
        first = 0
        while first < cat_ids.size:
            images = img_pos[bounds[first]:bounds[first + 1]]
            touched, last = images.size, first + 1
            while last < cat_ids.size:
                more = img_pos[bounds[last]:bounds[last + 1]]
                union = sorted_union(images, more)
                cells = union.size * (last + 1 - first)
                if cells > self.max_pairs_per_chunk or cells > max(2 * (touched + more.size),
                                                                   4096):
                    break
                images, touched, last = union, touched + more.size, last + 1
            # a chunk with nothing in it still needs one image for the core's arrays
            yield (cat_ids[first:last].tolist(),
                   img_ids[images].tolist() if images.size else img_ids[:1].tolist())
            first = last

    def _column_ious(self, inputs: PairInputs) -> list:
        """``computeIoU`` of every non-empty pair (in key order) from the columns of the
        ground truth and of the results (``pair_ious.py``)."""
        detections = self.cocoDt.arrays
        gt_at, gt_counts = grouped(inputs.gt_keys, inputs.pairs)
        dt_at, dt_counts = grouped(inputs.dt_keys, inputs.pairs,
                                   detections.score[inputs.dt_index], self.params.maxDets[-1])
        gt_index, dt_index = inputs.gt_index[gt_at], inputs.dt_index[dt_at]
        gt = columns_of(self.cocoGt)
        crowd = gt.crowd[gt_index]
        if self.params.iouType == 'bbox':
            return box_ious(detections.boxes[dt_index], gt.boxes[gt_index], crowd,
                            dt_counts, gt_counts)
        anns = self.cocoGt.dataset['annotations']
        return mask_ious(detections.masks.take(dt_index).to_list(),
                         [anns[i]['rle'] for i in gt_index.tolist()], crowd, dt_counts,
                         gt_counts, self.rle_iou_max_workers)


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
