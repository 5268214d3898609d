"""Results objects for faster-coco-eval: from numpy columns, or from result dicts as ``loadRes``.

faster-coco-eval's ``loadRes`` walks every result dict in Python (adding a box polygon to
each), and its ``_prepare`` walks them again. :func:`load_results_arrays` keeps the detections
as columns instead (:class:`ColumnResults`): the federated filter, the areas and the ids are
computed in numpy, and ``inputs.prepare_lvis`` makes dicts for the evaluated detections only.
:func:`load_results_faster` is ``loadRes`` less its Python per detection, for result dicts:
what AP-Pool's pair view is (``backends/pair_view.py``: virtual images, matched by the base
class's evaluation).
"""
from __future__ import annotations

import copy
from typing import List, Optional

import numpy as np
from faster_coco_eval import COCO
from faster_coco_eval.core import mask as mask_utils  # pycocotools' fails on > 255 RLEs

from ...columns.detection_arrays import DetectionArrays
from ...protocol.pair_keys import PairKeys, key_isin
from .ground_truth import columns_of


class ColumnResults(COCO):
    """A results ``COCO`` whose detections stay columns: ``arrays`` (the labelled ones), their
    ``area`` (the box's, as ``loadRes`` gives it, else the mask's) and ids 1, 2, ... in array
    order. Its annotation list and index are ``None``: a reader of dicts fails instead of
    seeing no results."""

    arrays: DetectionArrays
    area: np.ndarray


def _results_object(gt: COCO, annotations: Optional[List[dict]], cls=COCO) -> COCO:
    """A results object as ``loadRes`` makes it; with ``annotations`` ``None``, not indexed
    (only ``inputs.prepare_lvis``, which reads columns, can evaluate it)."""
    res = cls()
    res.dataset['info'] = copy.deepcopy(gt.dataset.get('info', {}))
    res.dataset['images'] = list(gt.dataset['images'])
    res.dataset['categories'] = list(gt.dataset['categories'])  # read, never changed
    res.dataset['annotations'] = annotations
    if annotations is not None:
        res.createIndex()
    else:
        res.imgs, res.cats = gt.imgs, gt.cats
        res.anns = res.imgToAnns = res.catToImgs = None
    return res


def check_images(gt: COCO, img_ids: np.ndarray) -> None:
    known = key_isin(np.asarray(img_ids, np.int64), np.asarray(gt.getImgIds(), np.int64))
    if not known.all():
        unknown = np.unique(np.asarray(img_ids)[~known])
        raise ValueError(f'Results for images {unknown[:5].tolist()} that are not in the '
                         'ground truth: evaluate against the annotation file of the split '
                         'that was tested.')


def labelled(gt: COCO, img_ids: np.ndarray, cat_ids: np.ndarray) -> np.ndarray:
    """Whether each (image, category) is positive or negative in the ground truth."""
    gt_img, gt_cat = columns_of(gt).labelled
    keys = PairKeys.covering(gt_cat, cat_ids)
    return key_isin(keys.keys(img_ids, cat_ids), keys.keys(gt_img, gt_cat))


def load_results_arrays(gt: COCO, arrays: DetectionArrays) -> ColumnResults:
    """A results object for ``SparseCOCOeval`` that keeps the detections as columns: what
    ``load_results_faster`` holds for the labelled detections' dicts, without a dict per
    detection. The federated filter is applied here (LVIS evaluates no other detection; apply
    it after the per-image cap, as LVIS does)."""
    check_images(gt, arrays.img_id)
    keep = labelled(gt, arrays.img_id, arrays.cat_id)
    if not keep.all():
        arrays = arrays.take(np.flatnonzero(keep))
    if arrays.boxes is not None:
        area = arrays.boxes[:, 2] * arrays.boxes[:, 3]  # loadRes: the box's area
    elif arrays.masks is not None and len(arrays):
        area = np.asarray(mask_utils.area(arrays.masks.to_list()), np.float64)
    else:
        area = np.zeros(len(arrays))
    results = _results_object(gt, None, ColumnResults)
    results.arrays, results.area = arrays, area
    return results


def load_results_faster(gt: COCO, detections: List[dict]) -> COCO:
    """faster-coco-eval's ``gt.loadRes(detections)``, less the Python per detection: the same
    ``area`` (box area whenever a result has a box, as ``loadRes`` does, else the mask's),
    ``id`` and ``iscrowd``, and no box polygon (bbox evaluation does not read it)."""
    if detections:
        check_images(gt, np.fromiter((d['image_id'] for d in detections), np.int64,
                                     len(detections)))
        if 'bbox' in detections[0]:
            boxes = np.asarray([d['bbox'] for d in detections], dtype=np.float64)
            areas = (boxes[:, 2] * boxes[:, 3]).tolist()
        else:
            rles = [d['segmentation'] for d in detections]
            areas = mask_utils.area(rles).tolist()
            for d, box in zip(detections, mask_utils.toBbox(rles).tolist()):
                d['bbox'] = box
        for i, (d, area) in enumerate(zip(detections, areas), 1):
            d['area'] = area
            d['id'] = i
            d['iscrowd'] = 0
    return _results_object(gt, detections)


__all__ = ['ColumnResults', 'check_images', 'labelled', 'load_results_arrays',
           'load_results_faster']
