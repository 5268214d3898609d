"""Every key of ``FastLVISMetric`` (standard AP, AP-Fixed, AP-Pool; bbox and segm) is the same,
bit for bit, with one process and with a pool of two, and equals the numbers of faster-coco-eval
run unchanged on result dicts built here (its own ``loadRes`` and ``COCOeval_faster``; the caps
applied here with Python's ``sorted``), on a generated set where both caps bind."""
import copy

import numpy as np
import pytest
from faster_coco_eval import COCO, COCOeval_faster

import mmdet_droploss  # noqa: F401
from mmdet_droploss.evaluation import FastLVISMetric, summarize
from test_fixed_pooled_ap import _reference_pooled, _reference_top_k
# the set of test_parallel_eval: 330 detections per image (the per-image cap of 300 binds on
# every image) and a per-class budget K that binds for the frequent categories
from test_parallel_eval import K, generated  # noqa: F401  (a fixture)
ITEMS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf', 'AR', 'ARs', 'ARm',
         'ARl')
STATISTIC = {'AR': 'AR@300', 'ARs': 'ARs@300', 'ARm': 'ARm@300', 'ARl': 'ARl@300'}


def _metric(path, records, nproc):
    metric = FastLVISMetric(ann_file=path, metric=['bbox', 'segm'], fixed_ap=K, pooled_ap=True,
                            metric_items=list(ITEMS), nproc=nproc)
    for record in copy.deepcopy(records):
        metric.add_record(record)
    try:
        return metric.evaluate(size=len(records))
    finally:
        metric.stop_workers()


def _result_dicts(gt, records, iou_type):
    """mmdet's result dicts of the records, one at a time (x1, y1, x2, y2 -> x, y, w, h)."""
    cat_ids = sorted(c['id'] for c in gt['categories'])
    dets = []
    for r in records:
        for k in range(len(r['labels'])):
            x1, y1, x2, y2 = (float(v) for v in r['bboxes'][k])
            d = dict(image_id=r['img_id'], bbox=[x1, y1, x2 - x1, y2 - y1],
                     score=float(r['scores'][k]), category_id=cat_ids[int(r['labels'][k])])
            if iou_type == 'segm':
                d['segmentation'] = dict(r['masks'][k])
            dets.append(d)
    return dets


def _top_per_image(dets, n=300):
    by_image = {}
    for i, d in enumerate(dets):
        by_image.setdefault(d['image_id'], []).append(i)
    keep = sorted(i for idx in by_image.values()
                  for i in sorted(idx, key=lambda i: dets[i]['score'], reverse=True)[:n])
    return [dets[i] for i in keep]


def _faster_coco_eval(gt, dets, iou_type, max_dets):
    """faster-coco-eval's own LVIS-style evaluation; the summary of its precision and recall."""
    coco = COCO(copy.deepcopy(gt))
    evaluator = COCOeval_faster(coco, coco.loadRes(copy.deepcopy(dets)), iou_type,
                                lvis_style=True, print_function=lambda *_: None)
    evaluator.params.maxDets = [max_dets]
    evaluator.evaluate()
    evaluator.accumulate()
    precision = np.asarray(evaluator.eval['precision'])[..., -1]
    recall = np.asarray(evaluator.eval['recall'])[..., -1]
    frequency = {c['id']: c['frequency'] for c in gt['categories']}
    return summarize(precision, recall, [frequency[c] for c in evaluator.params.catIds])


def test_every_key_is_bit_identical_across_processes_and_to_faster_coco_eval(generated):
    path, gt, records = generated
    one, two = _metric(path, records, 1), _metric(path, records, 2)
    assert one == two  # every key, bit for bit
    assert len(one) == 2 * (len(ITEMS) + 9 + 4)
    for iou_type in ('bbox', 'segm'):
        dets = _result_dicts(gt, records, iou_type)
        standard = _faster_coco_eval(gt, _top_per_image(dets), iou_type, 300)
        selected = _reference_top_k(dets, K)
        fixed = _faster_coco_eval(gt, selected, iou_type, len(selected))
        for item in ITEMS:
            assert one[f'lvis/{iou_type}_{item}'] == round(standard[STATISTIC.get(item, item)],
                                                          3), (iou_type, item)
            if item.startswith('AP'):
                assert one[f'lvis/{iou_type}_{item}_fixed'] == round(fixed[item], 3), \
                    (iou_type, item)
        # AP-Pool: the lvis package's own matching, pooled here (to its rounding)
        for name, value in _reference_pooled(path, selected, iou_type).items():
            assert one[f'lvis/{iou_type}_{name}'] == pytest.approx(round(value, 3), abs=1e-4)
        assert 0 < one[f'lvis/{iou_type}_AP'] < 1
        assert one[f'lvis/{iou_type}_AP_fixed'] != one[f'lvis/{iou_type}_AP']
