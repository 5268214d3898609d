"""What faster-coco-eval's C++ core reads, prepared from numpy columns instead of per-dict Python.

``COCOeval._prepare`` (faster-coco-eval 1.8) finds the annotations of the evaluated images and
categories with ``getAnnIds``/``loadAnns`` (Python per annotation, plus a type check of every
id), applies LVIS's federated rule and not-exhaustive mark with a list lookup per detection,
collects the non-empty (image, category) pairs in Python sets and, for masks, converts the
segmentation of every ground truth and every detection into a new RLE dict
(``calculateRleForAllAnnotations``) at every evaluation. At LVIS scale that Python is a large
share of the evaluation. :func:`prepare_lvis` builds the same state from the image and category
ids of the annotations as arrays (``ground_truth.columns_of``; results loaded as columns,
``results.ColumnResults``, carry theirs):

- the selection, the federated rule, the not-exhaustive mark and the non-empty pairs are
  ``np.isin`` over pair keys (``protocol/pair_keys.py``);
- the only Python per annotation left is what the core needs: one entry per kept annotation
  and its ``ignore`` (ground truth) or ``lvis_mark`` (detection) field;
- masks: ground-truth RLEs are computed once per annotation dict (``ground_truth.attach_rles``,
  with faster-coco-eval's own conversion); detections kept as columns are not converted (the
  pairs' IoUs read their packed RLEs, ``pair_ious.py``), result dicts are, as the base class
  does.

Annotations are appended in dataset order, so each (image, category) keeps the order the base
class gives it, which is what the core's stable sorts see: the results are identical.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ...protocol.pair_keys import (PairKeys, annotated_pairs, image_pairs, key_isin,
                                   sorted_intersection, sorted_union, sorted_unique)
from .ground_truth import columns_of, to_rles
from .results import ColumnResults


@dataclass
class PairInputs:
    """What the pairs' IoUs are computed from, for results kept as columns: the pairs with
    both ground truth and detections (sorted keys), the kept annotations' rows and keys."""

    pairs: np.ndarray
    keys: PairKeys
    gt_index: np.ndarray  # rows of the ground truth's annotations
    gt_keys: np.ndarray
    dt_index: np.ndarray  # rows of the results' columns
    dt_keys: np.ndarray


@dataclass
class PreparedCells:
    """What :func:`prepare_lvis` found besides the base class's state: the (image, category)
    cells with ground truth or detections, and the pair inputs (``None`` for result dicts)."""

    touched: Tuple[np.ndarray, np.ndarray]  # (image ids, category ids), sorted by pair
    pair_inputs: Optional[PairInputs]


def _selected(pairs: Tuple[np.ndarray, np.ndarray], keep_img: np.ndarray,
              keep_cat: np.ndarray):
    """Indices (dataset order), image and category ids of the annotations of the images
    ``keep_img`` and categories ``keep_cat`` (an empty selection selects everything)."""
    img, cat = pairs
    mask = np.ones(img.size, bool)
    if keep_img.size:
        mask &= key_isin(img, keep_img)
    if keep_cat.size:
        mask &= key_isin(cat, keep_cat)
    index = np.flatnonzero(mask)
    return index, img[index], cat[index]


def _fill(dataset, keys: np.ndarray, anns: list, pair_keys: PairKeys) -> None:
    """Load ``anns`` (sorted by their pair ``keys``) into a C++ dataset, one (image,
    category, annotations) entry per pair (``load_tuple``, what unpickling it does: one C++
    call per pair instead of one ``append_ref`` per annotation)."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys
    bounds = np.r_[starts, keys.size].tolist()
    first = keys[starts]
    entries = [(img, cat, anns[a:b]) for img, cat, a, b in zip(
        pair_keys.images(first).astype(np.float64).tolist(),
        pair_keys.categories(first).astype(np.float64).tolist(), bounds[:-1], bounds[1:])]
    dataset.load_tuple((len(entries), entries))


def prepare_lvis(evaluator) -> PreparedCells:
    """``COCOeval._prepare`` for ``lvis_style`` bbox or segm evaluation with categories: the
    base class's state (its datasets, ``img_nel``, ``freq_groups``, ``_nonempty_iou_pairs``,
    which its own ``evaluate`` reads), and the cells and pair inputs returned.

    Results kept as columns (``ColumnResults``): the detection dicts handed to the core are
    made here, for the evaluated detections only, with the fields the core reads (``id``,
    ``score``, ``area``, ``lvis_mark``)."""
    p = evaluator.params
    gt_coco, dt_coco = evaluator.cocoGt, evaluator.cocoDt
    evaluator.gt_dataset.clean()
    evaluator.dt_dataset.clean()
    from_columns = isinstance(dt_coco, ColumnResults)
    gt_columns = columns_of(gt_coco)
    dt_pairs = (dt_coco.arrays.img_id, dt_coco.arrays.cat_id) if from_columns else \
        annotated_pairs(dt_coco.dataset['annotations'])
    img_ids, cat_ids = np.asarray(p.imgIds, np.int64), np.asarray(p.catIds, np.int64)
    gt_index, gt_img, gt_cat = _selected(gt_columns.pairs, img_ids, cat_ids)
    dt_index, dt_img, dt_cat = _selected(dt_pairs, img_ids, cat_ids)
    images = gt_coco.load_imgs(ids=p.imgIds)
    evaluator.img_nel = {d['id']: d.get('not_exhaustive_category_ids', []) for d in images}
    evaluator.freq_groups = evaluator._prepare_freq_group()

    neg, nel = (image_pairs(images, f) for f in ('neg_category_ids',
                                                 'not_exhaustive_category_ids'))
    pair_keys = PairKeys.covering(gt_cat, dt_cat, neg[1], nel[1])
    gt_keys, dt_keys = pair_keys.keys(gt_img, gt_cat), pair_keys.keys(dt_img, dt_cat)
    # federated rule: a detection counts where its category is annotated (among the evaluated
    # ground truth) or negative in its image
    kept = np.flatnonzero(key_isin(dt_keys, np.concatenate([gt_keys, pair_keys.keys(*neg)])))
    dt_index, dt_keys = dt_index[kept], dt_keys[kept]
    marks = key_isin(dt_keys, pair_keys.keys(*nel))

    gt_order, dt_order = np.argsort(gt_keys, kind='stable'), np.argsort(dt_keys, kind='stable')
    gt_anns = gt_coco.dataset['annotations']
    gts = [gt_anns[i] for i in gt_index[gt_order].tolist()]
    for ann in gts:
        ann['ignore'] = int(ann.get('iscrowd', 0))  # iscrowd over a dataset's own flag
    if from_columns:
        rows = dt_index[dt_order]
        dts = [{'id': k, 'score': s, 'area': a, 'lvis_mark': m} for k, s, a, m in zip(
            (rows + 1).tolist(), dt_coco.arrays.score[rows].tolist(),
            dt_coco.area[rows].tolist(), marks[dt_order].tolist())]
    else:
        dt_all = dt_coco.dataset['annotations']
        dts = [dt_all[i] for i in dt_index[dt_order].tolist()]
        for ann, mark in zip(dts, marks[dt_order].tolist()):
            ann['lvis_mark'] = mark
    if p.compute_rle:
        gt_columns.attach_rles()
        if not from_columns:
            to_rles(dts, gt_columns.image_sizes)
    gt_cells, dt_cells = gt_keys[gt_order], dt_keys[dt_order]  # sorted
    _fill(evaluator.gt_dataset, gt_cells, gts, pair_keys)
    _fill(evaluator.dt_dataset, dt_cells, dts, pair_keys)
    gt_cells, dt_cells = sorted_unique(gt_cells), sorted_unique(dt_cells)
    touched = sorted_union(gt_cells, dt_cells)  # the cells with anything in them
    both = sorted_intersection(gt_cells, dt_cells)
    evaluator._nonempty_iou_pairs = set(zip(pair_keys.images(both).tolist(),
                                            pair_keys.categories(both).tolist()))
    return PreparedCells(
        (pair_keys.images(touched), pair_keys.categories(touched)),
        PairInputs(both, pair_keys, gt_index, gt_keys, dt_index, dt_keys)
        if from_columns else None)


__all__ = ['PairInputs', 'PreparedCells', 'prepare_lvis']
