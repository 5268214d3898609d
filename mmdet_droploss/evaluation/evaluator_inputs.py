"""What faster-coco-eval's C++ core reads, prepared from numpy columns instead of per-dict Python.

``COCOeval._prepare`` (faster-coco-eval 1.8) finds the annotations of the evaluated images and
categories with ``getAnnIds``/``loadAnns`` (Python per annotation, plus a type check of every
id), applies LVIS's federated rule and not-exhaustive mark with a list lookup per detection,
collects the non-empty (image, category) pairs in Python sets and, for masks, converts the
segmentation of every ground truth and every detection into a new RLE dict
(``calculateRleForAllAnnotations``) at every evaluation. At LVIS scale that Python is a large
share of the evaluation. :func:`prepare_lvis` builds the same state from the image and category
ids of the annotations as arrays (:func:`columns_of`, cached on the ``COCO`` object; results
loaded from arrays get them for free):

- the selection, the federated rule, the not-exhaustive mark and the non-empty pairs are
  ``np.isin`` over ``image_id * stride + category_id`` keys;
- the only Python per annotation left is what the core needs: one ``append_ref`` per kept
  annotation and its ``ignore`` (ground truth) or ``lvis_mark`` (detection) field;
- masks: ground-truth RLEs are computed once per annotation dict (:func:`attach_rles`, with
  faster-coco-eval's own conversion); detections that already are compressed RLEs (those
  of ``result_records.load_results_arrays``) carry them as their ``rle`` (the same dict as
  ``segmentation``) and are not converted, others are converted as the base class does.

Annotations are appended in dataset order, so each (image, category) keeps the order the base
class gives it, which is what the core's stable sorts see: the results are identical.
"""
from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

COLUMNS = '_droploss_columns'  # (image_id, category_id) arrays of a COCO object's annotations
RLES_ATTACHED = '_droploss_rles_attached'  # every annotation of the COCO object has its 'rle'
IMAGE_SIZES = '_droploss_image_sizes'
GT_COLUMNS = '_droploss_gt_columns'  # the ground truth's boxes and crowd flags as arrays
DT_ARRAYS = '_droploss_arrays'  # results loaded from arrays: (DetectionArrays, areas)


def set_columns(coco, img_ids: np.ndarray, cat_ids: np.ndarray) -> None:
    """Record the image and category of each annotation of ``coco`` (in dataset order)."""
    setattr(coco, COLUMNS, (np.asarray(img_ids, np.int64), np.asarray(cat_ids, np.int64)))


def columns_of(coco) -> Tuple[np.ndarray, np.ndarray]:
    """(image ids, category ids) of ``coco.dataset['annotations']``, computed once."""
    columns = getattr(coco, COLUMNS, None)
    if getattr(coco, DT_ARRAYS, None) is not None:
        return columns  # results kept as columns: set when they were loaded
    anns = coco.dataset.get('annotations', [])
    if columns is None or len(columns[0]) != len(anns):
        set_columns(coco, np.fromiter((a['image_id'] for a in anns), np.int64, len(anns)),
                    np.fromiter((a['category_id'] for a in anns), np.int64, len(anns)))
    return getattr(coco, COLUMNS)


def _sizes(dataset: dict) -> Dict[int, Tuple[int, int]]:
    """Image id -> (height, width) of an LVIS-format dataset, what the RLE conversion takes."""
    return {img['id']: (img['height'], img['width']) for img in dataset['images']}


def image_sizes(gt) -> Dict[int, Tuple[int, int]]:
    """:func:`_sizes` of a ``COCO`` object's dataset, computed once."""
    sizes = getattr(gt, IMAGE_SIZES, None)
    if sizes is None:
        sizes = _sizes(gt.dataset)
        setattr(gt, IMAGE_SIZES, sizes)
    return sizes


def _to_rles(anns: list, sizes: dict) -> None:
    """faster-coco-eval's conversion of each annotation's segmentation to its ``rle``."""
    from faster_coco_eval import mask_api_new_cpp
    mask_api_new_cpp.calculateRleForAllAnnotations(anns, sizes, True, False, 0.02, 1)


def attach_rles(dataset: dict) -> None:
    """Give each annotation of an LVIS-format ``dataset`` without one its ``rle`` (the
    conversion of its segmentation, which depends on nothing else). The shares' datasets
    hold the same annotation dicts as the dataset they were cut from, so the conversion is
    done once per dict: once per annotation file in a pool worker (when it starts, while the
    model runs), once per metric in one process (at its first segm evaluation)."""
    missing = [a for a in dataset['annotations'] if 'rle' not in a]
    if missing:
        _to_rles(missing, _sizes(dataset))


def attach_gt_rles(gt) -> None:
    """Give every annotation of ``gt`` its ``rle`` (:func:`attach_rles`), once."""
    if not getattr(gt, RLES_ATTACHED, False):
        attach_rles(gt.dataset)
        setattr(gt, RLES_ATTACHED, True)


def _selected(coco, keep_img: np.ndarray, keep_cat: np.ndarray):
    """Indices (dataset order), image and category ids of the annotations of the images
    ``keep_img`` and categories ``keep_cat`` (an empty selection selects everything)."""
    img, cat = columns_of(coco)
    mask = np.ones(img.size, bool)
    if keep_img.size:
        mask &= key_isin(img, keep_img)
    if keep_cat.size:
        mask &= key_isin(cat, keep_cat)
    index = np.flatnonzero(mask)
    return index, img[index], cat[index]


def _image_pairs(images: list, field: str) -> Tuple[np.ndarray, np.ndarray]:
    """(image ids, category ids) of the pairs listed in each image's ``field``."""
    counts = [len(img.get(field, ())) for img in images]
    cats = np.asarray([c for img in images for c in img.get(field, ())], np.int64)
    return np.repeat(np.asarray([img['id'] for img in images], np.int64), counts), cats


def key_isin(keys: np.ndarray, among: np.ndarray) -> np.ndarray:
    """``np.isin`` for ``image * stride + category`` keys: a lookup table over their range
    (tens of millions for LVIS, one byte each) instead of sorting both arrays."""
    if among.size and keys.size and int(among.max()) - int(among.min()) < 2**28:
        return np.isin(keys, among, kind='table')
    return np.isin(keys, among)


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """The distinct values of sorted ``keys`` (``np.unique`` without its sort)."""
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys


def sorted_union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.union1d`` of two sorted arrays of distinct integers. Their concatenation is two
    sorted runs, which numpy's stable sort (timsort) merges in one pass."""
    return sorted_unique(np.sort(np.concatenate([a, b]), kind='stable'))


def sorted_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.intersect1d`` of two sorted arrays of distinct integers, by binary search."""
    if not a.size or not b.size:
        return a[:0]
    at = np.minimum(np.searchsorted(b, a), b.size - 1)
    return a[b[at] == a]


def gt_columns(gt) -> dict:
    """The ground truth's boxes (x, y, w, h) and crowd flags as arrays, computed once."""
    columns = getattr(gt, GT_COLUMNS, None)
    anns = gt.dataset['annotations']
    if columns is None or len(columns['crowd']) != len(anns):
        columns = dict(boxes=np.asarray([a['bbox'] for a in anns], np.float64).reshape(-1, 4),
                       crowd=np.fromiter((a.get('iscrowd', 0) for a in anns), bool, len(anns)))
        setattr(gt, GT_COLUMNS, columns)
    return columns


def _fill(dataset, keys: np.ndarray, anns: list, stride: int) -> None:
    """Load ``anns`` (sorted by their ``keys``, image * stride + category) into a C++ dataset,
    one (image, category, annotations) entry per pair."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys
    bounds = np.r_[starts, keys.size].tolist()
    first = keys[starts]
    entries = [(img, cat, anns[a:b]) for img, cat, a, b in zip(
        (first // stride).astype(np.float64).tolist(),
        (first % stride).astype(np.float64).tolist(), bounds[:-1], bounds[1:])]
    dataset.load_tuple((len(entries), entries))


def prepare_lvis(evaluator) -> None:
    """``COCOeval._prepare`` for ``lvis_style`` bbox or segm evaluation with categories.

    Results loaded from arrays (``result_records.load_results_arrays``): the detection dicts
    handed to the core are made here, for the evaluated detections only, with the fields the
    core reads (``id``, ``score``, ``area``, ``lvis_mark``), and the evaluator gets
    ``_pair_inputs`` from which ``faster_eval`` computes the pairs' IoUs (``pair_ious.py``)."""
    p = evaluator.params
    gt_coco, dt_coco = evaluator.cocoGt, evaluator.cocoDt
    evaluator.gt_dataset.clean()
    evaluator.dt_dataset.clean()
    img_ids, cat_ids = np.asarray(p.imgIds, np.int64), np.asarray(p.catIds, np.int64)
    gt_index, gt_img, gt_cat = _selected(gt_coco, img_ids, cat_ids)
    dt_index, dt_img, dt_cat = _selected(dt_coco, img_ids, cat_ids)
    images = gt_coco.load_imgs(ids=p.imgIds)
    evaluator.img_nel = {d['id']: d.get('not_exhaustive_category_ids', []) for d in images}
    evaluator.freq_groups = evaluator._prepare_freq_group()

    neg, nel = (_image_pairs(images, f) for f in ('neg_category_ids',
                                                  'not_exhaustive_category_ids'))
    stride = 1 + int(max([0] + [c.max(initial=0) for c in (gt_cat, dt_cat, neg[1], nel[1])]))
    gt_keys, dt_keys = gt_img * stride + gt_cat, dt_img * stride + dt_cat
    # federated rule: a detection counts where its category is annotated (among the evaluated
    # ground truth) or negative in its image
    kept = np.flatnonzero(key_isin(dt_keys, np.concatenate([gt_keys, neg[0] * stride + neg[1]])))
    dt_index, dt_img, dt_cat, dt_keys = dt_index[kept], dt_img[kept], dt_cat[kept], dt_keys[kept]
    marks = key_isin(dt_keys, nel[0] * stride + nel[1])

    # each dataset is filled pair by pair (load_tuple, what unpickling it does: one C++ call
    # per pair instead of one append_ref per annotation), annotations in dataset order
    gt_order, dt_order = np.argsort(gt_keys, kind='stable'), np.argsort(dt_keys, kind='stable')
    gt_anns = gt_coco.dataset['annotations']
    gts = [gt_anns[i] for i in gt_index[gt_order].tolist()]
    for ann in gts:
        ann['ignore'] = int(ann.get('iscrowd', 0))  # iscrowd over a dataset's own flag
    arrays = getattr(dt_coco, DT_ARRAYS, None)
    if arrays is not None:
        detections, area = arrays
        rows = dt_index[dt_order]
        dts = [{'id': k, 'score': s, 'area': a, 'lvis_mark': m} for k, s, a, m in zip(
            (rows + 1).tolist(), detections.score[rows].tolist(), area[rows].tolist(),
            marks[dt_order].tolist())]
    else:
        dt_all = dt_coco.dataset['annotations']
        dts = [dt_all[i] for i in dt_index[dt_order].tolist()]
        for ann, mark in zip(dts, marks[dt_order].tolist()):
            ann['lvis_mark'] = mark
    if p.compute_rle:
        attach_gt_rles(gt_coco)
        if arrays is None and not getattr(dt_coco, RLES_ATTACHED, False):
            _to_rles(dts, image_sizes(gt_coco))
    gt_cells, dt_cells = gt_keys[gt_order], dt_keys[dt_order]  # sorted
    _fill(evaluator.gt_dataset, gt_cells, gts, stride)
    _fill(evaluator.dt_dataset, dt_cells, dts, stride)
    gt_cells, dt_cells = sorted_unique(gt_cells), sorted_unique(dt_cells)
    touched = sorted_union(gt_cells, dt_cells)  # the cells with anything in them
    evaluator._touched_cells = (touched // stride, touched % stride)
    both = sorted_intersection(gt_cells, dt_cells)
    evaluator._nonempty_iou_pairs = set(zip((both // stride).tolist(), (both % stride).tolist()))
    evaluator._pair_inputs = None if arrays is None else dict(
        pairs=both, stride=stride, gt_index=gt_index, gt_keys=gt_keys, dt_index=dt_index,
        dt_keys=dt_keys)


__all__ = ['attach_gt_rles', 'attach_rles', 'columns_of', 'gt_columns', 'image_sizes',
           'key_isin', 'prepare_lvis', 'set_columns', 'sorted_intersection', 'sorted_union',
           'sorted_unique']
