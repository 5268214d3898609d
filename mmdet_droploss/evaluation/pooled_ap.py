"""AP-Pool: one precision-recall curve over all detections of a group of categories.

Dave et al. (2021), Sec. 5 ("pooled AP"): detections are matched to ground truth per image and
category exactly as in LVIS AP, but true and false positives are then ranked together over all
categories of a pool (all, rare, common, frequent), so a detector only scores well if its
scores are comparable across categories. AP is averaged over LVIS's IoU thresholds
(0.50:0.95) and 101 recall points, area "all" only, as in the authors' ``LVISPooledEval``.

Instead of a second evaluator we re-key the data so that either back end computes it with its
own, unchanged matching and accumulation: every labelled (image, category) pair becomes an
image of a *pooled view*, with virtual categories ``all`` and its group (r, c or f). Matching
within a pair is then what it was (one image, one category), the federated rules carry over
(a pair exists only where the category is annotated or negative; a not-exhaustive category
makes its pair not-exhaustive), and the per-category AP of a virtual category is the pooled AP
of its pool. Detections should be selected first (AP-Fixed's per-class budget); there is no
per-image cap.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from .lvis_backends import evaluate, load_ground_truth

POOLS = ('all', 'r', 'c', 'f')
_POOL_IDS = {name: i + 1 for i, name in enumerate(POOLS)}  # virtual category ids


def pooled_view(gt_dataset: dict, detections: Sequence[dict]) -> Tuple[dict, List[dict]]:
    """The pooled view (an LVIS-format dataset and its results) of ``gt_dataset``'s images.

    Virtual image ``v`` is one (image, category) pair that has ground truth or a detection and
    whose category is positive or negative in the image; each ground truth and detection
    appears twice, under category ``all`` and under its frequency group.
    """
    group = {c['id']: _POOL_IDS[c['frequency']] for c in gt_dataset['categories']}
    stride = max(group) + 1
    images = {img['id']: img for img in gt_dataset['images']}
    anns = gt_dataset['annotations']

    def keys(img_ids, cat_ids):
        return np.asarray(img_ids, np.int64) * stride + np.asarray(cat_ids, np.int64)

    gt_keys = keys([a['image_id'] for a in anns], [a['category_id'] for a in anns])
    neg = [(i['id'], c) for i in gt_dataset['images'] for c in i.get('neg_category_ids', ())]
    neg_keys = keys(*zip(*neg)) if neg else np.zeros(0, np.int64)
    nel = [(i['id'], c) for i in gt_dataset['images']
           for c in i.get('not_exhaustive_category_ids', ())]
    nel_keys = keys(*zip(*nel)) if nel else np.zeros(0, np.int64)
    det_keys = keys([d['image_id'] for d in detections], [d['category_id'] for d in detections])
    labelled = np.isin(det_keys, np.concatenate([gt_keys, neg_keys]))
    pairs = np.unique(np.concatenate([gt_keys, det_keys[labelled]]))
    # virtual image ids 1..V in pair order; the pair's image and category
    pair_img, pair_cat = pairs // stride, pairs % stride
    is_neg = np.isin(pairs, neg_keys)
    is_nel = np.isin(pairs, nel_keys)

    virtual_images = []
    for v, (img_id, cat_id, neg_pair, nel_pair) in enumerate(zip(
            pair_img.tolist(), pair_cat.tolist(), is_neg.tolist(), is_nel.tolist()), 1):
        both = [_POOL_IDS['all'], group[cat_id]]
        img = images[img_id]
        virtual_images.append(dict(id=v, height=img['height'], width=img['width'],
                                   neg_category_ids=both if neg_pair else [],
                                   not_exhaustive_category_ids=both if nel_pair else []))
    gt_vid = (np.searchsorted(pairs, gt_keys) + 1).tolist()
    virtual_anns = []
    for copy, (a, v) in enumerate((a, v) for a, v in zip(anns, gt_vid) for _ in range(2)):
        cat = _POOL_IDS['all'] if copy % 2 == 0 else group[a['category_id']]
        virtual_anns.append(dict(id=copy + 1, image_id=v, category_id=cat, bbox=a['bbox'],
                                 area=a['area'], segmentation=_json_ready(a['segmentation'])))
    det_vid = np.searchsorted(pairs, det_keys) + 1
    virtual_dets = []
    for d, v, ok in zip(detections, det_vid.tolist(), labelled.tolist()):
        if ok:  # federated rule: a pair neither positive nor negative is not evaluated
            # only what a result needs: evaluators add fields (area, id, ...) to the dicts
            d_new = dict(score=d['score'])
            if 'segmentation' in d:
                d_new['segmentation'] = _json_ready(d['segmentation'])
            else:
                d_new['bbox'] = list(d['bbox'])
            virtual_dets.append(dict(d_new, image_id=v, category_id=_POOL_IDS['all']))
            virtual_dets.append(dict(d_new, image_id=v, category_id=group[d['category_id']]))
    categories = [dict(id=i, name=f'pool_{name}', frequency=name if name != 'all' else 'f',
                       image_count=0, instance_count=0, synset=f'pool_{name}.n.01',
                       synonyms=[f'pool_{name}'], **{'def': f'pool {name}'})
                  for name, i in _POOL_IDS.items()]
    return dict(images=virtual_images, annotations=virtual_anns, categories=categories,
                info=gt_dataset.get('info', {}), licenses=[]), virtual_dets


def _json_ready(segmentation):
    """Polygons as they are; an RLE with ``str`` counts (evaluators turn the ground truth's
    polygons into RLEs with ``bytes`` counts in place)."""
    if isinstance(segmentation, dict) and isinstance(segmentation['counts'], bytes):
        return dict(size=[int(v) for v in segmentation['size']],
                    counts=segmentation['counts'].decode())
    return segmentation


def evaluate_pooled(gt_dataset: dict, detections: Sequence[dict], iou_type: str, backend: str,
                    print_fn: Callable[[str], None] = print) -> Dict[str, float]:
    """AP-Pool of ``detections`` (already selected): ``{'AP_pool', 'APr_pool', 'APc_pool',
    'APf_pool'}``, ``-1`` for a pool without ground truth."""
    view, view_dets = pooled_view(gt_dataset, detections)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'pooled_view.json')
        with open(path, 'w') as f:
            json.dump(view, f)
        gt = load_ground_truth(path, backend)
    img_ids = [img['id'] for img in view['images']]
    outcome = evaluate(gt, view_dets, iou_type, img_ids, backend, print_fn=print_fn,
                       max_dets=-1)
    stats = {}
    for name, cat_id in _POOL_IDS.items():
        p = outcome.precision[:, :, outcome.cat_ids.index(cat_id), 0]  # area 'all'
        p = p[p > -1]
        key = 'AP_pool' if name == 'all' else f'AP{name}_pool'
        stats[key] = float(np.mean(p)) if p.size else -1.0
    return stats


__all__ = ['POOLS', 'evaluate_pooled', 'pooled_view']
