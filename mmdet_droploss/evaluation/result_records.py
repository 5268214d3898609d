"""From the metric's per-image records to LVIS result dicts and evaluator inputs, vectorised.

mmdet's ``results2json`` builds each result dict from numpy scalars one at a time and writes
them with the pure-Python JSON encoder, then the metric read the file back and the evaluator's
``loadRes`` walked every dict again (adding a box polygon to each). At LVIS scale (6 million
detections) that Python dominated the evaluation. Here the arrays of all images are
concatenated once, boxes converted to (x, y, w, h) and categories mapped in numpy, and the
dicts built from plain lists; files are written with the C JSON encoder. The dicts are exactly
mmdet's: ``image_id``, ``bbox``, ``score``, ``category_id`` (+ ``segmentation`` for segm, whose
score is ``mask_scores`` when the model gives them), the same float values.
"""
from __future__ import annotations

import copy
import json
from typing import List, Sequence

import numpy as np

from .column_store import ColumnStore
from .detection_arrays import DetectionArrays


def records_to_arrays(records: Sequence[dict], cat_ids: Sequence[int],
                      iou_type: str) -> DetectionArrays:
    """The detections of ``iou_type`` of records with ``img_id``, ``bboxes`` (x1, y1, x2, y2),
    ``scores``, ``labels`` (indices into ``cat_ids``) and, for segm, ``masks`` (RLE dicts or
    :class:`PackedRLE`) and optional ``mask_scores`` (``column_store.py``)."""
    return ColumnStore(masks=iou_type == 'segm').extend(records).arrays(cat_ids, iou_type)


def records_to_detections(records: Sequence[dict], cat_ids: Sequence[int],
                          iou_type: str) -> List[dict]:
    """LVIS result dicts of ``iou_type`` for records (see :func:`records_to_arrays`)."""
    return records_to_arrays(records, cat_ids, iou_type).to_dicts()


def write_results(detections: List[dict], path: str) -> None:
    """A results file, as mmdet writes it (C encoder: ``json.dump`` to a file is pure Python)."""
    with open(path, 'w') as f:
        f.write(json.dumps(detections))


def _labelled(gt, img_ids: np.ndarray, cat_ids: np.ndarray) -> np.ndarray:
    """Whether each (image, category) is positive or negative in the ground truth."""
    from .evaluator_inputs import key_isin
    keys = getattr(gt, '_labelled_pair_keys', None)
    if keys is None:
        stride = max(gt.getCatIds()) + 1
        anns = gt.dataset['annotations']
        pos = [a['image_id'] * stride + a['category_id'] for a in anns]
        neg = [img['id'] * stride + c for img in gt.dataset['images']
               for c in img.get('neg_category_ids', ())]
        keys = (stride, np.asarray(pos + neg, dtype=np.int64))  # a lookup: repeats are fine
        gt._labelled_pair_keys = keys
    stride, labelled = keys
    return key_isin(np.asarray(img_ids, np.int64) * stride + np.asarray(cat_ids, np.int64),
                    labelled)


def drop_unlabelled(gt, detections: List[dict]) -> List[dict]:
    """The detections whose category is positive or negative in their image: LVIS evaluates
    no other (federated rule). Apply it after the per-image cap, as LVIS does; the evaluators
    drop the rest themselves, but only after converting every mask and indexing every dict."""
    if not detections:
        return detections
    n = len(detections)
    keep = _labelled(gt, np.fromiter((d['image_id'] for d in detections), np.int64, n),
                     np.fromiter((d['category_id'] for d in detections), np.int64, n))
    if keep.all():
        return detections
    return [detections[i] for i in np.flatnonzero(keep).tolist()]


def _results_object(gt, annotations: List[dict], index: bool = True):
    """A results ``COCO`` object, as ``loadRes`` makes it. ``index=False``: its annotation
    index is not built (a Python pass over every result) but set to ``None``, so that only
    ``evaluator_inputs.prepare_lvis``, which reads columns, can evaluate it; anything
    reading the index fails instead of seeing no results."""
    from faster_coco_eval import COCO
    res = COCO()
    res.dataset['info'] = copy.deepcopy(gt.dataset.get('info', {}))
    res.dataset['images'] = list(gt.dataset['images'])
    res.dataset['categories'] = list(gt.dataset['categories'])  # read, never changed
    res.dataset['annotations'] = annotations
    if index:
        res.createIndex()
    else:
        res.imgs, res.cats = gt.imgs, gt.cats
        res.anns = res.imgToAnns = res.catToImgs = None
    return res


def _check_images(gt, img_ids: np.ndarray) -> None:
    from .evaluator_inputs import key_isin
    known = key_isin(np.asarray(img_ids, np.int64), np.asarray(gt.getImgIds(), np.int64))
    if not known.all():
        unknown = np.unique(np.asarray(img_ids)[~known])
        raise ValueError(f'Results for images {unknown[:5].tolist()} that are not in the '
                         'ground truth: evaluate against the annotation file of the split '
                         'that was tested.')


def load_results_arrays(gt, arrays: DetectionArrays):
    """A results object for ``SparseCOCOeval`` that keeps the detections as columns: what
    ``load_results_faster(gt, drop_unlabelled(gt, arrays.to_dicts()))`` holds, without a dict
    per detection. The federated filter is applied and each detection's ``area`` computed
    (the box's, as ``loadRes`` does, else the mask's); ids are 1, 2, ... in array order.
    ``evaluator_inputs.prepare_lvis`` makes dicts for the evaluated detections only, and the
    pairs' IoUs are computed from the columns (``pair_ious.py``). The results' annotation
    list and index are ``None``: a reader of dicts fails instead of seeing no results."""
    from faster_coco_eval.core import mask as mask_utils

    from .evaluator_inputs import DT_ARRAYS, set_columns
    _check_images(gt, arrays.img_id)
    keep = _labelled(gt, arrays.img_id, arrays.cat_id)
    if not keep.all():
        arrays = arrays.take(np.flatnonzero(keep))
    if arrays.boxes is not None:
        area = arrays.boxes[:, 2] * arrays.boxes[:, 3]  # loadRes: the box's area
    elif arrays.masks is not None and len(arrays):
        area = np.asarray(mask_utils.area(arrays.masks.to_list()), np.float64)
    else:
        area = np.zeros(len(arrays))
    results = _results_object(gt, None, index=False)
    set_columns(results, arrays.img_id, arrays.cat_id)
    setattr(results, DT_ARRAYS, (arrays, area))
    return results


def load_results_faster(gt, detections: List[dict]):
    """faster-coco-eval's ``gt.loadRes(detections)``, less the Python per detection: the same
    ``area`` (box area whenever a result has a box, as ``loadRes`` does, else the mask's),
    ``id`` and ``iscrowd``, and no box polygon (bbox evaluation does not read it)."""
    from faster_coco_eval.core import mask as mask_utils  # pycocotools' fails on > 255 RLEs

    if detections:
        _check_images(gt, np.fromiter((d['image_id'] for d in detections), np.int64,
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


__all__ = ['DetectionArrays', 'drop_unlabelled', 'load_results_arrays', 'load_results_faster',
           'records_to_arrays', 'records_to_detections', 'write_results']
