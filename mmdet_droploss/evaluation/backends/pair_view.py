"""AP-Pool's matching: each labelled (image, category) pair as a virtual image of its own.

Dave et al. (2021), Sec. 5: detections are matched per image and category exactly as in LVIS
AP, then ranked together over all categories of a pool (``protocol/pooled_ap.py``). To get the
back end's own, unchanged matching per pair, every labelled pair with ground truth or a
detection becomes one image of a *pair view* with a single category (id 1), so the evaluator
matches within a pair exactly as it would within (image, category); the federated rules carry
over (a pair exists only where its category is annotated or negative; a not-exhaustive
category makes its pair not-exhaustive). :func:`pool_records` returns, per detection, its
score, its pair, its rank within the pair and, per IoU threshold, whether it matched and
whether it is ignored; per category: its ground truth not ignored.
"""
from __future__ import annotations

import itertools
from typing import Sequence, Tuple

import numpy as np

from ..protocol.pair_keys import PairKeys, annotated_pairs, image_pairs
from ..protocol.pooled_ap import PoolRecords
from ..protocol.ranking import ranks_in_runs
from ..protocol.summary import IOU_THRESHOLDS
from .registry import backend_named


def pair_view(gt_dataset: dict, detections: Sequence[dict]) -> Tuple[dict, list, np.ndarray]:
    """(the pair view as an LVIS-format dataset, its results, (image, category) of each
    virtual image); virtual image ``v`` is one labelled (image, category) pair that has ground
    truth or a detection, its only category has id 1."""
    anns = gt_dataset['annotations']
    images = gt_dataset['images']
    det_img = np.asarray([d['image_id'] for d in detections], np.int64)
    det_cat = np.asarray([d['category_id'] for d in detections], np.int64)
    keys = PairKeys.covering(np.asarray([c['id'] for c in gt_dataset['categories']], np.int64),
                             det_cat)
    gt_keys = keys.keys(*annotated_pairs(anns))
    neg_keys = keys.keys(*image_pairs(images, 'neg_category_ids'))
    nel_keys = keys.keys(*image_pairs(images, 'not_exhaustive_category_ids'))
    det_keys = keys.keys(det_img, det_cat)
    labelled = np.isin(det_keys, np.concatenate([gt_keys, neg_keys]))
    pairs = np.unique(np.concatenate([gt_keys, det_keys[labelled]]))
    sizes = {img['id']: (img['height'], img['width']) for img in images}
    virtual_images = [dict(id=v, height=sizes[i][0], width=sizes[i][1],
                           neg_category_ids=[1] if neg else [],
                           not_exhaustive_category_ids=[1] if nel else [])
                      for v, (i, neg, nel) in enumerate(zip(
                          keys.images(pairs).tolist(), np.isin(pairs, neg_keys).tolist(),
                          np.isin(pairs, nel_keys).tolist()), 1)]
    gt_vid = (np.searchsorted(pairs, gt_keys) + 1).tolist()
    virtual_anns = [dict(id=n, image_id=v, category_id=1, bbox=a['bbox'], area=a['area'],
                         segmentation=_json_ready(a['segmentation']), iscrowd=0)
                    for n, (a, v) in enumerate(zip(anns, gt_vid), 1)]
    det_vid = (np.searchsorted(pairs, det_keys) + 1).tolist()
    virtual_dets = []
    for d, v, ok in zip(detections, det_vid, labelled.tolist()):
        if ok:  # federated rule: a pair neither positive nor negative is not evaluated
            d_new = dict(score=d['score'], image_id=v, category_id=1)
            if 'segmentation' in d:
                d_new['segmentation'] = _json_ready(d['segmentation'])
            else:
                d_new['bbox'] = list(d['bbox'])
            virtual_dets.append(d_new)
    categories = [dict(id=1, name='pair', frequency='f', image_count=0, instance_count=0,
                       synset='pair.n.01', synonyms=['pair'], **{'def': 'pair'})]
    view = dict(images=virtual_images, annotations=virtual_anns, categories=categories,
                info=gt_dataset.get('info', {}), licenses=[])
    return view, virtual_dets, np.stack([keys.images(pairs), keys.categories(pairs)], 1)


def _json_ready(segmentation):
    """Polygons as they are; an RLE with ``str`` counts (evaluators turn the ground truth's
    polygons into RLEs with ``bytes`` counts in place)."""
    if isinstance(segmentation, dict) and isinstance(segmentation['counts'], bytes):
        return dict(size=[int(v) for v in segmentation['size']],
                    counts=segmentation['counts'].decode())
    return segmentation


def pool_records(gt_dataset: dict, detections: Sequence[dict], iou_type: str,
                 backend: str) -> PoolRecords:
    """Match ``detections`` to ``gt_dataset`` per (image, category) with ``backend``."""
    view, view_dets, pairs = pair_view(gt_dataset, detections)
    if not view['images']:
        return PoolRecords.empty()
    cells = backend_named(backend).match_pairs(view, view_dets, iou_type)
    n_dets = np.asarray([len(c.scores) for c in cells], np.int64)
    t = len(IOU_THRESHOLDS)
    # each cell's T x D matrices flattened row-major: detection d of threshold k at k * D + d
    dtm = [np.asarray(c.matched).reshape(t, -1).T for c in cells if len(c.scores)]
    dti = [np.asarray(c.ignored).reshape(t, -1).T for c in cells if len(c.scores)]
    matched = np.concatenate(dtm).astype(bool) if dtm else np.zeros((0, t), bool)
    ignored = np.concatenate(dti).astype(bool) if dti else np.zeros((0, t), bool)
    gt_kept = np.asarray([int(np.sum(~np.asarray(c.gt_ignored, bool))) for c in cells],
                         np.int64)
    scores = np.fromiter(itertools.chain.from_iterable(c.scores for c in cells), np.float64,
                         int(n_dets.sum()))
    return PoolRecords(score=scores,
                       img_id=np.repeat(pairs[:, 0], n_dets),
                       cat_id=np.repeat(pairs[:, 1], n_dets),
                       rank=ranks_in_runs(n_dets), matched=matched,
                       ignored=ignored, gt_cat_id=np.repeat(pairs[:, 1], gt_kept))


__all__ = ['pair_view', 'pool_records']
