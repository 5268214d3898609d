"""The vectorised record conversion and result loading equal mmdet's and faster-coco-eval's."""
import copy
import json

import numpy as np
import pycocotools.mask as mask_utils
import pytest

import mmdet_droploss  # noqa: F401
from mmdet.evaluation.metrics import LVISMetric
from mmdet_droploss.evaluation import limit_detections_per_image
from mmdet_droploss.evaluation.backends.faster.results import load_results_faster
from mmdet_droploss.evaluation.columns import records_to_detections
from mmdet_droploss.evaluation.metric.records import write_results


def _records(with_mask_scores=False):
    rng = np.random.default_rng(0)
    records = []
    for img_id in (3, 7, 9):
        n = 0 if img_id == 7 else 40
        xy = rng.uniform(0, 60, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(1, 30, (n, 2))], 1).astype(np.float32)
        masks = []
        for x0, y0, x1, y1 in boxes.astype(int):
            m = np.zeros((96, 96), np.uint8, order='F')
            m[y0:y1 + 1, x0:x1 + 1] = 1
            masks.append(mask_utils.encode(m))  # bytes counts, as encode_mask_results gives
        rec = dict(img_id=img_id, bboxes=boxes, scores=rng.random(n).astype(np.float32),
                   labels=rng.integers(0, 5, n), masks=masks)
        if with_mask_scores:
            rec['mask_scores'] = rng.random(n).astype(np.float32)
        records.append(rec)
    return records


@pytest.mark.parametrize('with_mask_scores', [False, True])
def test_records_convert_exactly_as_mmdet_writes_them(tmp_path, with_mask_scores):
    records = _records(with_mask_scores)
    cat_ids = [11, 12, 15, 20, 31]
    metric = LVISMetric.__new__(LVISMetric)  # only results2json and cat_ids are used
    metric.cat_ids = cat_ids
    files = metric.results2json(copy.deepcopy(records), str(tmp_path / 'mmdet'))
    for iou_type in ('bbox', 'segm'):
        ours = records_to_detections(copy.deepcopy(records), cat_ids, iou_type)
        with open(files[iou_type]) as f:
            assert ours == json.load(f)  # same keys, order and float values
        write_results(ours, str(tmp_path / f'ours.{iou_type}.json'))
        with open(tmp_path / f'ours.{iou_type}.json') as f:
            assert json.load(f) == ours
    assert records_to_detections([], cat_ids, 'bbox') == []


def test_results_load_as_faster_coco_eval_loads_them():
    from faster_coco_eval import COCO
    records = _records()
    gt = COCO(dict(images=[dict(id=i, height=96, width=96) for i in (3, 7, 9)],
                   annotations=[], categories=[dict(id=c, name=str(c)) for c in
                                               (11, 12, 15, 20, 31)]))
    for iou_type in ('bbox', 'segm'):
        dets = records_to_detections(records, [11, 12, 15, 20, 31], iou_type)
        if iou_type == 'segm':  # a results file with masks only: area and box from the mask
            dets = [{k: v for k, v in d.items() if k != 'bbox'} for d in dets]
        expected = gt.loadRes(copy.deepcopy(dets)).dataset['annotations']
        ours = load_results_faster(gt, copy.deepcopy(dets)).dataset['annotations']
        for a, b in zip(ours, expected, strict=True):
            for key in ('id', 'image_id', 'category_id', 'score', 'iscrowd'):
                assert a[key] == b[key], key
            assert a['area'] == pytest.approx(float(b['area']), rel=1e-12)
            assert np.allclose(a['bbox'], b['bbox'], rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match='not in the ground truth'):
        load_results_faster(gt, [dict(image_id=5, category_id=11, bbox=[0, 0, 1, 1],
                                      score=0.5)])


def test_per_image_cap_keeps_the_best_in_input_order():
    rng = np.random.default_rng(0)
    dets = [dict(image_id=int(i), score=float(s)) for i, s in
            zip(rng.integers(0, 4, 2000), rng.integers(0, 100, 2000) / 100)]  # ties
    kept = limit_detections_per_image(dets, 300)
    expected = set()
    for image_id in range(4):
        mine = [k for k, d in enumerate(dets) if d['image_id'] == image_id]
        expected |= set(sorted(mine, key=lambda k: dets[k]['score'], reverse=True)[:300])
    assert kept == [dets[k] for k in sorted(expected)]


def test_metric_writes_the_files_mmdet_writes(tmp_path):
    from mmdet_droploss.evaluation import FastLVISMetric
    records = _records()
    cat_ids = [11, 12, 15, 20, 31]
    gt = dict(images=[dict(id=i, height=96, width=96, neg_category_ids=[],
                           not_exhaustive_category_ids=[]) for i in (3, 7, 9)],
              annotations=[], categories=[dict(id=c, name=str(c), frequency='f')
                                          for c in cat_ids])
    (tmp_path / 'gt.json').write_text(json.dumps(gt))
    metric = FastLVISMetric(ann_file=str(tmp_path / 'gt.json'), metric=['bbox', 'segm'],
                            format_only=True, outfile_prefix=str(tmp_path / 'ours'))
    for record in copy.deepcopy(records):
        metric.add_record(record)
    assert metric.evaluate(size=3) == {}
    reference = LVISMetric.__new__(LVISMetric)
    reference.cat_ids = cat_ids
    files = reference.results2json(copy.deepcopy(records), str(tmp_path / 'mmdet'))
    for iou_type in ('bbox', 'segm'):
        with open(files[iou_type]) as f, open(tmp_path / f'ours.{iou_type}.json') as g:
            assert json.load(g) == json.load(f)


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_category_chunks_give_the_numbers_of_one_pass(tmp_path, monkeypatch, iou_type):
    from mmdet_droploss.evaluation import evaluate, load_ground_truth
    from mmdet_droploss.datasets import generate_lvis_like
    from mmdet_droploss.evaluation.backends.faster.sparse_eval import SparseCOCOeval
    gt, records = generate_lvis_like(12, 60, seed=3, masks=iou_type == 'segm')
    (tmp_path / 'gt.json').write_text(json.dumps(gt))
    cat_ids = [c['id'] for c in gt['categories']]
    img_ids = [i['id'] for i in gt['images']]
    dets = records_to_detections(records, cat_ids, iou_type)
    outcomes = {}
    for backend, pairs in (('lvis', None), ('faster_coco_eval', None),
                           ('faster_coco_eval', 12 * 100)):  # 13 chunks of 100 categories
        if pairs:
            monkeypatch.setattr(SparseCOCOeval, 'max_pairs_per_chunk', pairs)
        outcomes[backend, pairs] = evaluate(
            load_ground_truth(str(tmp_path / 'gt.json'), backend), copy.deepcopy(dets),
            iou_type, img_ids, backend, print_fn=lambda *_: None)
    one, chunked = outcomes['faster_coco_eval', None], outcomes['faster_coco_eval', 1200]
    assert chunked.stats == one.stats
    assert np.array_equal(chunked.precision, one.precision)
    assert chunked.stats == pytest.approx(outcomes['lvis', None].stats, abs=1e-4)
    assert 0 < one.stats['AP'] < 1
