"""AP-Pool: one precision-recall curve over all detections of a group of categories.

Dave et al. (2021), Sec. 5 ("pooled AP"): detections are matched to ground truth per image and
category exactly as in LVIS AP, but true and false positives are then ranked together over all
categories of a pool (all, rare, common, frequent), so a detector only scores well if its
scores are comparable across categories. AP is averaged over LVIS's IoU thresholds
(0.50:0.95) and 101 recall points, area "all" only, as in the authors' ``LVISPooledEval``.

Two steps, so that the matching (the expensive part) can run in several processes:

1. :func:`pool_records`: the back end's own, unchanged matching, per (image, category) pair.
   Every labelled pair with ground truth or a detection becomes one image of a *pair view*
   with a single category, so the evaluator matches within a pair exactly as it would within
   (image, category); the federated rules carry over (a pair exists only where its category
   is annotated or negative; a not-exhaustive category makes its pair not-exhaustive). What
   comes back, per detection: its score, its pair, its rank within the pair and, per IoU
   threshold, whether it matched and whether it is ignored; per category: its ground truth.
2. :func:`pooled_ap`: LVIS's accumulation (cumulative true and false positives over the
   detections sorted by score, interpolated precision at 101 recall points) over each pool.
   Detections are ranked by score; equal scores by pair (image, then category) and rank, the
   order in which the evaluator would meet them in one pass, so records of disjoint sets of
   categories, concatenated, give the numbers of one evaluation.

Detections should be selected first (AP-Fixed's per-class budget); there is no per-image cap.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Sequence

import numpy as np

from .lvis_summary import IOU_THRESHOLDS

POOLS = ('all', 'r', 'c', 'f')
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)


@dataclass
class PoolRecords:
    """Per-detection outcome of LVIS matching at area 'all', for pooling (see module doc)."""

    score: np.ndarray  # (D,) float64
    img_id: np.ndarray  # (D,) int64: the detection's pair ...
    cat_id: np.ndarray  # (D,) int64
    rank: np.ndarray  # (D,) int64: ... and its place among the pair's detections
    matched: np.ndarray  # (D, T) bool
    ignored: np.ndarray  # (D, T) bool
    gt_cat_id: np.ndarray  # (G,) int64: the category of every ground truth not ignored

    @classmethod
    def concatenate(cls, parts: Sequence['PoolRecords']) -> 'PoolRecords':
        parts = list(parts) or [cls.empty()]
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in cls.__dataclass_fields__))

    @classmethod
    def empty(cls) -> 'PoolRecords':
        n, t = np.zeros(0, np.int64), len(IOU_THRESHOLDS)
        return cls(np.zeros(0), n, n, n, np.zeros((0, t), bool), np.zeros((0, t), bool), n)


def pair_view(gt_dataset: dict, detections: Sequence[dict]):
    """(the pair view as an LVIS-format dataset, its results, (image, category) of each
    virtual image); virtual image ``v`` is one labelled (image, category) pair that has ground
    truth or a detection, its only category has id 1."""
    anns = gt_dataset['annotations']
    stride = max([c['id'] for c in gt_dataset['categories']] + [0]) + 1

    def keys(img_ids, cat_ids):
        return np.asarray(img_ids, np.int64) * stride + np.asarray(cat_ids, np.int64)

    def pairs_of(field):
        found = [(i['id'], c) for i in gt_dataset['images'] for c in i.get(field, ())]
        return keys(*zip(*found)) if found else np.zeros(0, np.int64)

    gt_keys = keys([a['image_id'] for a in anns], [a['category_id'] for a in anns])
    neg_keys, nel_keys = pairs_of('neg_category_ids'), pairs_of('not_exhaustive_category_ids')
    det_keys = keys([d['image_id'] for d in detections], [d['category_id'] for d in detections])
    labelled = np.isin(det_keys, np.concatenate([gt_keys, neg_keys]))
    pairs = np.unique(np.concatenate([gt_keys, det_keys[labelled]]))
    sizes = {img['id']: (img['height'], img['width']) for img in gt_dataset['images']}
    virtual_images = [dict(id=v, height=sizes[k // stride][0], width=sizes[k // stride][1],
                           neg_category_ids=[1] if neg else [],
                           not_exhaustive_category_ids=[1] if nel else [])
                      for v, (k, neg, nel) in enumerate(zip(
                          pairs.tolist(), np.isin(pairs, neg_keys).tolist(),
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
    return view, virtual_dets, np.stack([pairs // stride, pairs % stride], 1)


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
    match = _match_lvis if backend == 'lvis' else _match_faster
    cells = match(view, view_dets, iou_type)  # per virtual image: scores, dtm, dti, gt_ignore
    n_dets = np.asarray([len(c[0]) for c in cells], np.int64)
    t = len(IOU_THRESHOLDS)
    starts = np.repeat(np.cumsum(n_dets) - n_dets, n_dets)
    # each cell's T x D matrices flattened row-major: detection d of threshold k at k * D + d
    dtm = [np.asarray(c[1]).reshape(t, -1).T for c in cells if len(c[0])]
    dti = [np.asarray(c[2]).reshape(t, -1).T for c in cells if len(c[0])]
    matched = np.concatenate(dtm).astype(bool) if dtm else np.zeros((0, t), bool)
    ignored = np.concatenate(dti).astype(bool) if dti else np.zeros((0, t), bool)
    gt_kept = np.asarray([int(np.sum(~np.asarray(c[3], bool))) for c in cells], np.int64)
    scores = np.fromiter(itertools.chain.from_iterable(c[0] for c in cells), np.float64,
                         int(n_dets.sum()))
    return PoolRecords(score=scores,
                       img_id=np.repeat(pairs[:, 0], n_dets),
                       cat_id=np.repeat(pairs[:, 1], n_dets),
                       rank=np.arange(int(n_dets.sum())) - starts, matched=matched,
                       ignored=ignored, gt_cat_id=np.repeat(pairs[:, 1], gt_kept))


_ALL_AREA = [0.0, 1e5 ** 2]


def _match_faster(view: dict, view_dets: List[dict], iou_type: str) -> list:
    from .faster_eval import SparseCOCOeval  # its _prepare: from columns, the same state
    from .lvis_backends import ground_truth_from_dataset
    from .result_records import load_results_faster
    gt = ground_truth_from_dataset(view, 'faster_coco_eval')
    evaluator = SparseCOCOeval(gt, load_results_faster(gt, view_dets), iou_type,
                                lvis_style=True, separate_eval=True,
                                print_function=lambda *_: None)
    p = evaluator.params
    p.imgIds, p.catIds = [img['id'] for img in view['images']], [1]
    p.areaRng, p.areaRngLbl = [_ALL_AREA], ['all']
    p.maxDets = [max(1, len(view_dets))]
    evaluator.evaluate()
    # ImageEvaluation's state: (dt matches (T x D), gt matches, dt scores, gt ignores,
    # dt ignores (T x D), matched pairs), one per virtual image in order
    return [(s[2], np.asarray(s[0]) > 0, s[4], s[3])
            for s in (e.__getstate__() for e in evaluator._evalImgs_cpp)]


def _match_lvis(view: dict, view_dets: List[dict], iou_type: str) -> list:
    from lvis import LVISEval, LVISResults

    from ..compat import lvis_numpy
    from .lvis_backends import ground_truth_from_dataset
    lvis_numpy.apply()
    gt = ground_truth_from_dataset(view, 'lvis')
    lvis_eval = LVISEval(gt, LVISResults(gt, view_dets, max_dets=-1), iou_type)
    p = lvis_eval.params
    p.img_ids, p.cat_ids, p.max_dets = [img['id'] for img in view['images']], [1], -1
    p.area_rng, p.area_rng_lbl = [_ALL_AREA], ['all']
    lvis_eval.evaluate()
    empty = (np.zeros(0), np.zeros((len(IOU_THRESHOLDS), 0)), np.zeros((len(IOU_THRESHOLDS),
                                                                         0)), np.zeros(0))
    return [empty if e is None else (e['dt_scores'], np.asarray(e['dt_matches']) > 0,
                                     e['dt_ignore'], e['gt_ignore'])
            for e in lvis_eval.eval_imgs]


def pooled_ap(records: PoolRecords, frequency: Mapping[int, str]) -> Dict[str, float]:
    """``{'AP_pool', 'APr_pool', 'APc_pool', 'APf_pool'}`` of matched detections (``-1`` for a
    pool without ground truth); ``frequency`` maps category id to 'r', 'c' or 'f'."""
    order = np.lexsort((records.rank, records.cat_id, records.img_id, -records.score))
    cats = sorted(frequency)
    freq_of = np.asarray([frequency[c] for c in cats])
    det_group = freq_of[np.searchsorted(cats, records.cat_id[order])] if order.size else \
        np.zeros(0, freq_of.dtype)
    gt_group = freq_of[np.searchsorted(cats, records.gt_cat_id)] if records.gt_cat_id.size \
        else np.zeros(0, freq_of.dtype)
    matched, ignored = records.matched[order], records.ignored[order]
    stats = {}
    for pool in POOLS:
        in_pool = np.ones(order.size, bool) if pool == 'all' else det_group == pool
        num_gt = gt_group.size if pool == 'all' else int(np.sum(gt_group == pool))
        key = 'AP_pool' if pool == 'all' else f'AP{pool}_pool'
        stats[key] = -1.0 if num_gt == 0 else _average_precision(
            matched[in_pool], ignored[in_pool], num_gt)
    return stats


def _average_precision(matched: np.ndarray, ignored: np.ndarray, num_gt: int) -> float:
    """LVIS's AP of detections sorted by score: (D, T) matches and ignores, ``num_gt`` ground
    truths; the mean over thresholds of the interpolated precision at 101 recall points."""
    counted = ~ignored
    tp = np.cumsum(matched & counted, axis=0, dtype=np.float64)
    fp = np.cumsum(~matched & counted, axis=0, dtype=np.float64)
    values = np.zeros((matched.shape[1], RECALL_THRESHOLDS.size))
    for t in range(matched.shape[1]):
        recall = tp[:, t] / num_gt
        precision = tp[:, t] / (fp[:, t] + tp[:, t] + np.spacing(1))
        precision = np.maximum.accumulate(precision[::-1])[::-1]  # best to the right
        at = np.searchsorted(recall, RECALL_THRESHOLDS, side='left')
        inside = at < precision.size
        values[t, inside] = precision[at[inside]]
    return float(np.mean(values))


def evaluate_pooled(gt_dataset: dict, detections: Sequence[dict], iou_type: str, backend: str,
                    print_fn: Callable[[str], None] = print) -> Dict[str, float]:
    """AP-Pool of ``detections`` (already selected): ``{'AP_pool', 'APr_pool', 'APc_pool',
    'APf_pool'}``, ``-1`` for a pool without ground truth."""
    stats = pooled_ap(pool_records(gt_dataset, detections, iou_type, backend),
                      {c['id']: c['frequency'] for c in gt_dataset['categories']})
    print_fn('AP-Pool: ' + '  '.join(f'{k} {v:.3f}' for k, v in stats.items()))
    return stats


__all__ = ['POOLS', 'PoolRecords', 'evaluate_pooled', 'pair_view', 'pool_records',
           'pooled_ap']
