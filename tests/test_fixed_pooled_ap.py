"""AP-Fixed and AP-Pool (Dave et al. 2021) against references computed here with ``lvis``."""
import json
import os

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch

import mmdet_droploss  # noqa: F401  (registers the metric, applies the lvis numpy fix)
from mmdet_droploss.datasets import SyntheticLVISSpec, generate_synthetic_lvis
from mmdet_droploss.evaluation import (FastLVISMetric, PerClassTopK, evaluate_fixed,
                                       evaluate_pooled, load_ground_truth, top_k_per_class)
from mmdet_droploss.evaluation.protocol import fixed_ap as fixed_ap_module

SPEC = SyntheticLVISSpec(num_train_images=150, num_val_images=24, image_size=96,
                         train_image_counts=(120, 105, 60, 30, 12, 8, 3, 1),
                         min_val_images_per_class=3, min_object_size=14, max_object_size=46)
K = 120  # per-class budget small enough to bind
CROWDED = 330  # detections in each of the first images: the 300-per-image cap binds there
AP_ITEMS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')


@pytest.fixture(scope='module')
def fixed_set(tmp_path_factory):
    """A generated val split (with not-exhaustive marks) and mmdet-style predictions for it."""
    paths = generate_synthetic_lvis(str(tmp_path_factory.mktemp('fixed_ap')), SPEC)
    with open(paths['val_ann']) as f:
        ann = json.load(f)
    for i, img in enumerate(ann['images']):
        if i % 3 == 0:
            img['not_exhaustive_category_ids'] = [3]
    gt_path = os.path.join(paths['root'], 'val_fixed.json')
    with open(gt_path, 'w') as f:
        json.dump(ann, f)
    cat_ids = sorted(c['id'] for c in ann['categories'])
    rng = np.random.default_rng(1)
    size = SPEC.image_size
    by_image = {}
    for a in ann['annotations']:
        by_image.setdefault(a['image_id'], []).append(a)
    samples = []
    for n, img in enumerate(ann['images']):
        boxes, labels, scores = [], [], []
        for a in by_image.get(img['id'], []):
            x, y, w, h = a['bbox']
            for k in range(3):
                j = rng.normal(0, 1.5, 4)
                boxes.append(np.clip([x + j[0], y + j[1], x + w + j[2], y + h + j[3]], 0,
                                     size - 1))
                labels.append(cat_ids.index(a['category_id']) if k == 0 else
                              int(rng.integers(0, len(cat_ids))))
                scores.append(0.3 + 0.7 * rng.random())
        while len(boxes) < (CROWDED if n < 6 else 40):
            x0, y0 = rng.uniform(0, size - 20, 2)
            boxes.append([x0, y0, x0 + rng.uniform(6, 20), y0 + rng.uniform(6, 20)])
            labels.append(int(rng.integers(0, len(cat_ids))))
            scores.append(0.6 * rng.random())
        masks = np.zeros((len(boxes), size, size), dtype=bool)
        for m, box in zip(masks, boxes):
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            m[y0:y1 + 1, x0:x1 + 1] = True
        samples.append(dict(img_id=img['id'], ori_shape=(size, size), pred_instances=dict(
            bboxes=torch.tensor(np.array(boxes), dtype=torch.float32),
            scores=torch.tensor(scores, dtype=torch.float32),
            labels=torch.tensor(labels), masks=torch.from_numpy(masks))))
    return gt_path, ann, cat_ids, samples


def _result_dicts(samples, cat_ids, iou_type):
    """LVIS result dicts written here, independently of the metric's conversion."""
    dets = []
    for s in samples:
        p = s['pred_instances']
        for i in range(len(p['scores'])):
            d = dict(image_id=s['img_id'], category_id=cat_ids[int(p['labels'][i])],
                     score=float(p['scores'][i].numpy()))
            if iou_type == 'bbox':
                x1, y1, x2, y2 = p['bboxes'][i].numpy().tolist()
                d['bbox'] = [x1, y1, x2 - x1, y2 - y1]
            else:
                rle = mask_utils.encode(np.asfortranarray(p['masks'][i].numpy().astype(np.uint8)))
                d['segmentation'] = dict(size=[int(v) for v in rle['size']],
                                         counts=rle['counts'].decode())
            dets.append(d)
    return dets


def _reference_top_k(dets, k):
    """The authors' selection: each category's detections sorted by score, the first k."""
    by_cat = {}
    for d in dets:
        by_cat.setdefault(d['category_id'], []).append(d)
    return [d for ds in by_cat.values() for d in sorted(ds, key=lambda d: d['score'],
                                                         reverse=True)[:k]]


def _lvis_eval(gt_path, dets, iou_type):
    from lvis import LVIS, LVISEval, LVISResults
    gt = LVIS(gt_path)
    dets = json.loads(json.dumps(dets))  # LVISResults adds fields to the dicts
    lvis_eval = LVISEval(gt, LVISResults(gt, dets, max_dets=-1), iou_type)
    lvis_eval.params.max_dets = -1
    lvis_eval.run()
    return lvis_eval


def test_top_k_per_class_is_a_stable_sort_per_label():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 3000)
    scores = rng.integers(0, 50, 3000) / 50.0  # many ties
    for k in (1, 5, 400, 10000):
        expected = []
        for c in range(7):
            idx = [i for i in range(3000) if labels[i] == c]
            expected += sorted(idx, key=lambda i: scores[i], reverse=True)[:k]
        assert top_k_per_class(labels, scores, k).tolist() == sorted(expected)


def test_streaming_budget_and_merge_equal_the_global_selection(monkeypatch):
    monkeypatch.setattr(fixed_ap_module, '_MIN_PRUNE_SIZE', 50)
    rng = np.random.default_rng(1)
    images = [(img, rng.integers(0, 5, 40), rng.random(40)) for img in range(60)]
    labels = np.concatenate([i[1] for i in images])
    scores = np.concatenate([i[2] for i in images])
    expected = {(int(images[j // 40][0]), j % 40) for j in top_k_per_class(labels, scores, 30)}
    parts = [PerClassTopK(30), PerClassTopK(30)]
    for n, (img, lab, sco) in enumerate(images):
        parts[n % 2].add(img, lab, sco, np.zeros((40, 4), np.float32))
        if n < 4:  # a distributed sampler's padding: an image evaluated by both processes
            parts[1 - n % 2].add(img, lab, sco, np.zeros((40, 4), np.float32))
    assert max(len(p) for p in parts) <= 2 * 30 * 5 + 50  # pruned as it streams
    merged = PerClassTopK.merge(30, [p.state() for p in parts])
    data = merged.state()
    assert set(zip(data['img_id'].tolist(), data['index'].tolist())) == expected
    with pytest.raises(ValueError, match='positive integer'):
        PerClassTopK(0)


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_fixed_ap_equals_the_lvis_reference(fixed_set, iou_type):
    gt_path, ann, cat_ids, samples = fixed_set
    dets = _result_dicts(samples, cat_ids, iou_type)
    counts = np.bincount([d['category_id'] for d in dets])
    assert (counts > K).sum() >= 3  # the per-class budget binds
    reference = _lvis_eval(gt_path, _reference_top_k(dets, K), iou_type).get_results()
    for backend in ('faster_coco_eval', 'lvis'):
        gt = load_ground_truth(gt_path, backend)
        stats = evaluate_fixed(gt, json.loads(json.dumps(dets)), iou_type,
                               [i['id'] for i in ann['images']], backend, k=K,
                               print_fn=lambda *_: None).stats
        for name in AP_ITEMS + ('AR@300', 'ARs@300', 'ARm@300', 'ARl@300'):
            assert stats[name] == pytest.approx(reference[name.replace('@300', '@-1')],
                                                abs=1e-4), (backend, name)


def test_metric_reports_fixed_and_pooled_next_to_standard(fixed_set):
    gt_path, ann, cat_ids, samples = fixed_set
    results = {}
    for backend in ('faster_coco_eval', 'lvis'):
        metric = FastLVISMetric(ann_file=gt_path, metric=['bbox', 'segm'], backend=backend,
                                fixed_ap=K, pooled_ap=True)
        metric.process({}, samples[::2])
        metric.process({}, samples[1::2])
        results[backend] = metric.evaluate(size=len(samples))
    assert results['faster_coco_eval'] == pytest.approx(results['lvis'], abs=1e-4)
    result = results['faster_coco_eval']
    for iou_type in ('bbox', 'segm'):
        dets = _result_dicts(samples, cat_ids, iou_type)
        reference = _lvis_eval(gt_path, _reference_top_k(dets, K), iou_type).get_results()
        for name in AP_ITEMS:
            assert result[f'lvis/{iou_type}_{name}_fixed'] == pytest.approx(
                round(reference[name], 3), abs=1e-4), (iou_type, name)
        pooled = _reference_pooled(gt_path, _reference_top_k(dets, K), iou_type)
        for name, value in pooled.items():
            assert result[f'lvis/{iou_type}_{name}'] == pytest.approx(round(value, 3), abs=1e-4)
        # the caps bind: AP-Fixed is not the standard number, pooled AP not the mean AP
        assert result[f'lvis/{iou_type}_AP_fixed'] != result[f'lvis/{iou_type}_AP']
        assert 0 < result[f'lvis/{iou_type}_AP_pool'] < 1
        assert result[f'lvis/{iou_type}_AP_pool'] != result[f'lvis/{iou_type}_AP_fixed']


def _reference_pooled(gt_path, dets, iou_type):
    """Pooled AP from the lvis package's own per-(image, category) matching, accumulated over
    each pool here (area 'all'; LVIS's 101-point interpolated precision)."""
    ev = _lvis_eval(gt_path, dets, iou_type)
    p = ev.params
    n_img, n_area = len(p.img_ids), len(p.area_rng)
    freq = {c['id']: c['frequency'] for c in ev.lvis_gt.dataset['categories']}
    out = {}
    for pool in ('all', 'r', 'c', 'f'):
        cats = [k for k, c in enumerate(p.cat_ids) if pool == 'all' or freq[c] == pool]
        cells = [ev.eval_imgs[k * n_area * n_img + i] for k in cats for i in range(n_img)]
        cells = [e for e in cells if e is not None]
        scores = np.concatenate([e['dt_scores'] for e in cells])
        order = np.argsort(-scores, kind='mergesort')
        matched = np.concatenate([e['dt_matches'] for e in cells], axis=1)[:, order] > 0
        ignored = np.concatenate([e['dt_ignore'] for e in cells], axis=1)[:, order] > 0
        num_gt = sum(int(np.sum(np.asarray(e['gt_ignore']) == 0)) for e in cells)
        aps = []
        for t in range(len(p.iou_thrs)):
            tp = np.cumsum(matched[t] & ~ignored[t])
            fp = np.cumsum(~matched[t] & ~ignored[t])
            recall = tp / num_gt
            precision = tp / (tp + fp + np.spacing(1))
            for i in range(len(precision) - 1, 0, -1):
                precision[i - 1] = max(precision[i - 1], precision[i])
            at = [precision[j] if j < len(precision) else 0.0
                  for j in np.searchsorted(recall, p.rec_thrs, side='left')]
            aps.append(np.mean(at))
        out['AP_pool' if pool == 'all' else f'AP{pool}_pool'] = float(np.mean(aps))
    return out


def _box_ann(i, img, cat, box):
    return dict(id=i, image_id=img, category_id=cat, bbox=box, area=box[2] * box[3],
                segmentation=[[box[0], box[1], box[0] + box[2], box[1], box[0] + box[2],
                               box[1] + box[3], box[0], box[1] + box[3]]])


HAND_GT = dict(
    images=[dict(id=1, height=100, width=100, neg_category_ids=[], not_exhaustive_category_ids=[]),
            dict(id=2, height=100, width=100, neg_category_ids=[1],
                 not_exhaustive_category_ids=[])],
    categories=[dict(id=c, name=n, frequency=f, image_count=1, instance_count=1,
                     synset=n + '.n.01', synonyms=[n], **{'def': n})
                for c, n, f in ((1, 'rare_one', 'r'), (2, 'frequent_one', 'f'),
                                (3, 'common_one', 'c'))],
    annotations=[_box_ann(1, 1, 1, [0, 0, 10, 10]), _box_ann(2, 1, 2, [50, 50, 10, 10]),
                 _box_ann(3, 2, 2, [0, 0, 20, 20]), _box_ann(4, 2, 3, [70, 0, 10, 10])])
HAND_DETS = [  # every IoU is 1 or 0, so all ten thresholds agree
    dict(image_id=1, category_id=3, bbox=[5, 5, 10, 10], score=0.95),  # 3 unlabelled in 1: out
    dict(image_id=1, category_id=1, bbox=[0, 0, 10, 10], score=0.9),  # TP (r)
    dict(image_id=2, category_id=1, bbox=[60, 60, 10, 10], score=0.8),  # FP, 1 negative in 2
    dict(image_id=1, category_id=2, bbox=[50, 50, 10, 10], score=0.7),  # TP (f)
    dict(image_id=2, category_id=2, bbox=[30, 30, 5, 5], score=0.6),  # FP (f)
    dict(image_id=2, category_id=2, bbox=[0, 0, 20, 20], score=0.5),  # TP (f)
    dict(image_id=2, category_id=3, bbox=[70, 0, 10, 10], score=0.4)]  # TP (c)


@pytest.mark.parametrize('backend', ['faster_coco_eval', 'lvis'])
def test_pooled_ap_of_a_hand_computed_case(backend):
    # all: TP FP TP FP TP TP over 4 ground truths -> precision 1 up to recall 0.25, then the
    # best precision to the right is 4/6; 26 of the 101 recall points at 1, 75 at 2/3.
    # f: TP FP TP over 2 -> 51 points at 1, 50 at 2/3; r and c: a TP first -> 1.
    stats = evaluate_pooled(HAND_GT, HAND_DETS, 'bbox', backend, print_fn=lambda *_: None)
    assert stats == pytest.approx({'AP_pool': 76 / 101, 'APr_pool': 1.0, 'APc_pool': 1.0,
                                   'APf_pool': (51 + 50 * 2 / 3) / 101}, abs=1e-6)
