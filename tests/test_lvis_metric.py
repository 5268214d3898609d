"""FastLVISMetric: faster-coco-eval and the lvis package give the same LVIS numbers."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch

import mmdet_droploss  # noqa: F401  (registers the metric, applies the lvis numpy fix)
from conftest import free_port
from mmdet_droploss.datasets import SyntheticLVISSpec, generate_synthetic_lvis
from mmdet_droploss.evaluation import FastLVISMetric, limit_detections_per_image

SPEC = SyntheticLVISSpec(num_train_images=150, num_val_images=40, image_size=96,
                         train_image_counts=(120, 105, 60, 30, 12, 8, 3, 1),
                         min_val_images_per_class=3, min_object_size=14, max_object_size=46)
EMPTY_CATEGORY_ID = 99  # a category with no ground truth in the evaluated split
NOT_EXHAUSTIVE = 3


@pytest.fixture(scope='module')
def lvis_set(tmp_path_factory):
    """The generated val split, edited to exercise every LVIS rule, and predictions for it."""
    paths = generate_synthetic_lvis(str(tmp_path_factory.mktemp('lvis_metric')), SPEC)
    with open(paths['val_ann']) as f:
        ann = json.load(f)
    size = SPEC.image_size
    for i, img in enumerate(ann['images']):
        if i % 4 == 0:  # federated labels: some categories were not exhaustively annotated
            img['not_exhaustive_category_ids'] = [NOT_EXHAUSTIVE]
        img['neg_category_ids'] = sorted(set(img['neg_category_ids']) | {EMPTY_CATEGORY_ID})
    for i, a in enumerate(ann['annotations']):
        if i % 3 == 0:  # ground-truth masks as RLE as well as polygons
            rle = mask_utils.merge(mask_utils.frPyObjects(a['segmentation'], size, size))
            a['segmentation'] = dict(size=rle['size'], counts=rle['counts'].decode())
    ann['categories'].append(dict(id=EMPTY_CATEGORY_ID, name='unseen', frequency='r',
                                  image_count=0, instance_count=0, synset='unseen.n.01',
                                  synonyms=['unseen'], **{'def': 'unseen'}))
    gt_path = os.path.join(paths['root'], 'val_edited.json')
    with open(gt_path, 'w') as f:
        json.dump(ann, f)
    cat_ids = sorted(c['id'] for c in ann['categories'])
    return gt_path, ann, _predictions(ann, cat_ids, size)


def _predictions(ann, cat_ids, size):
    """mmdet data samples: jittered true boxes/masks, wrong labels and random false positives;
    every fifth image gets no detection at all."""
    rng = np.random.default_rng(0)
    by_image = {}
    for a in ann['annotations']:
        by_image.setdefault(a['image_id'], []).append(a)
    samples = []
    for n, img in enumerate(ann['images']):
        if n % 5 == 4:
            continue
        boxes, labels, scores, masks = [], [], [], []
        for a in by_image.get(img['id'], []):
            x, y, w, h = a['bbox']
            for k in range(3):
                j = rng.normal(0, 1.5, 4)
                box = np.clip([x + j[0], y + j[1], x + w + j[2], y + h + j[3]], 0, size - 1)
                label = cat_ids.index(a['category_id']) if k == 0 else int(
                    rng.integers(0, len(cat_ids)))
                boxes.append(box)
                labels.append(label)
                scores.append(rng.random())
        for _ in range(4):  # background false positives, some of the empty category
            x0, y0 = rng.uniform(0, size - 20, 2)
            boxes.append([x0, y0, x0 + rng.uniform(6, 20), y0 + rng.uniform(6, 20)])
            labels.append(int(rng.integers(0, len(cat_ids))))
            scores.append(rng.random() * 0.5)
        for box in boxes:
            m = np.zeros((size, size), dtype=bool)
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            m[y0:y1 + 1, x0:x1 + 1] = True
            masks.append(m)
        samples.append(dict(img_id=img['id'], ori_shape=(size, size), pred_instances=dict(
            bboxes=torch.tensor(np.array(boxes), dtype=torch.float32),
            scores=torch.tensor(scores, dtype=torch.float32),
            labels=torch.tensor(labels), masks=torch.from_numpy(np.stack(masks)))))
    return samples


def _evaluate(gt_path, samples, backend, **kwargs):
    metric = FastLVISMetric(ann_file=gt_path, metric=['bbox', 'segm'], backend=backend,
                            **kwargs)
    metric.process({}, samples)
    return metric.evaluate(size=len(samples))


def test_both_backends_report_identical_metrics(lvis_set):
    gt_path, ann, samples = lvis_set
    fast = _evaluate(gt_path, samples, 'faster_coco_eval', classwise=True)
    reference = _evaluate(gt_path, samples, 'lvis', classwise=True)
    keys = [f'lvis/{t}_{m}' for t in ('bbox', 'segm') for m in
            ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf', 'AR')]
    assert set(keys) <= set(fast)
    assert set(fast) == set(reference)
    for key in fast:
        if np.isnan(reference[key]):
            assert np.isnan(fast[key]), key
        else:
            assert fast[key] == pytest.approx(reference[key], abs=1e-4), key
    # the set really exercises the groups, and the numbers are informative
    groups = {c['frequency'] for c in ann['categories']}
    assert groups == {'r', 'c', 'f'}
    for key in keys:
        assert key.endswith('APl') or 0 < fast[key] < 1, (key, fast[key])
    assert np.isnan(fast['lvis/unseen_precision'])  # no ground truth: no AP


def test_federated_rules_change_the_numbers(lvis_set):
    """Sanity of the test set itself: dropping the not-exhaustive marks changes AP, so the
    equality above covers that rule."""
    gt_path, ann, samples = lvis_set
    strict = dict(ann, images=[dict(img, not_exhaustive_category_ids=[])
                               for img in ann['images']])
    strict_path = gt_path.replace('.json', '_strict.json')
    with open(strict_path, 'w') as f:
        json.dump(strict, f)
    lenient = _evaluate(gt_path, samples, 'faster_coco_eval')
    exhaustive = _evaluate(strict_path, samples, 'faster_coco_eval')
    assert lenient['lvis/bbox_AP'] != exhaustive['lvis/bbox_AP']
    assert exhaustive == pytest.approx(_evaluate(strict_path, samples, 'lvis'), abs=1e-4)


def test_detections_are_limited_to_300_per_image_by_score():
    dets = [dict(image_id=1 + i % 2, score=float(s)) for i, s in
            enumerate(np.random.default_rng(0).random(700))]
    kept = limit_detections_per_image(dets, 300)
    for image_id in (1, 2):
        mine = sorted((d['score'] for d in dets if d['image_id'] == image_id), reverse=True)
        assert sorted((d['score'] for d in kept if d['image_id'] == image_id),
                      reverse=True) == mine[:300]


def test_lvis_accumulate_runs_under_numpy_2():
    from lvis import eval as lvis_eval
    assert not hasattr(np, 'float')  # numpy itself is not patched
    assert lvis_eval.np.float is float
    assert lvis_eval.np.cumsum is np.cumsum


def test_bad_arguments_are_named(lvis_set):
    gt_path = lvis_set[0]
    with pytest.raises(ValueError, match="backend.*'faster_coco_eval', 'lvis'"):
        FastLVISMetric(ann_file=gt_path, backend='pycocotools')
    with pytest.raises(ValueError, match='needs ann_file'):
        FastLVISMetric(metric='bbox')
    with pytest.raises(KeyError, match="LVISMetric for proposal recall"):
        FastLVISMetric(ann_file=gt_path, metric=['bbox', 'proposal'])
    with pytest.raises(KeyError, match='APx'):
        FastLVISMetric(ann_file=gt_path, metric_items=['AP', 'APx'])


WORKER = textwrap.dedent('''
    import json, pickle, sys
    import torch.distributed as dist
    import mmdet_droploss  # noqa: F401
    from mmdet_droploss.evaluation import FastLVISMetric
    rank, world, port, gt_path, samples_path, out = sys.argv[1:]
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=int(rank),
                            world_size=int(world))
    with open(samples_path, 'rb') as f:
        samples = pickle.load(f)
    metric = FastLVISMetric(ann_file=gt_path, metric=['bbox', 'segm'])
    mine = samples[int(rank)::int(world)]
    metric.process({}, mine)
    result = metric.evaluate(size=len(samples))
    with open(out + rank, 'w') as f:
        json.dump(dict(result=result, loaded=metric._ground_truth is not None), f)
    dist.destroy_process_group()
''')


def test_distributed_evaluation_gathers_every_process(lvis_set, tmp_path):
    import pickle
    gt_path, _, samples = lvis_set
    samples_path = tmp_path / 'samples.pkl'
    samples_path.write_bytes(pickle.dumps(samples))
    script = tmp_path / 'worker.py'
    script.write_text(WORKER)
    port = str(free_port())
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    procs = [subprocess.Popen([sys.executable, str(script), str(r), '2', port, gt_path,
                               str(samples_path), str(tmp_path / 'out')], env=env,
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-3000:]
    outs = [json.loads((tmp_path / f'out{r}').read_text()) for r in range(2)]
    single = _evaluate(gt_path, samples, 'faster_coco_eval')
    for out in outs:  # every rank receives rank 0's result over all images
        assert out['result'] == pytest.approx(single, abs=1e-9)
    assert outs[0]['loaded'] and not outs[1]['loaded']  # only rank 0 read the ground truth


def test_benchmark_tool_prints_both_backends_and_their_agreement(tmp_path):
    proc = subprocess.run([sys.executable, 'tools/benchmark_eval.py', '--generate',
                           '--num-images', '30', '--dets-per-image', '40', '--nproc', '2'],
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    import re
    table = [line.split('|')[1:-1] for line in out.splitlines()
             if re.match(r'\| (lvis|faster_coco_eval) \|', line)]
    # lvis with 1 process, faster-coco-eval with 1 and 2, for each iou type; all measured
    assert [(r[0].strip(), r[1].strip(), r[2].strip()) for r in table] == [
        (b, t, n) for t in ('bbox', 'segm') for b, n in (('lvis', '1'), ('faster_coco_eval', '1'),
                                                         ('faster_coco_eval', '2'))]
    for row in table:  # wall, process() before it, main peak RSS
        assert row[-1].strip() == 'ok' and float(row[3]) > 0 and float(row[6]) > 0
        assert float(row[5]) >= 0 and row[8].strip().endswith('x')  # speedup over lvis
    assert all(row[7].strip() == '-' for row in table if row[2].strip() == '1')
    assert all(float(row[7]) > 0 for row in table if row[2].strip() == '2')  # worker's RSS
    for iou_type in ('bbox', 'segm'):
        assert f'## {iou_type}: 30 images, 1200 detections' in out
    rows = [line.split('|') for line in out.splitlines() if line.startswith('| AP')]
    assert len(rows) == 2 * 9
    for row in rows:  # the back ends and process counts agree on every AP
        assert row[2].strip() == row[3].strip() == row[4].strip()
    worst = [float(v) for v in re.findall(r'largest difference over 10 metrics: (\S+)', out)]
    assert len(worst) == 2 and max(worst) < 1e-4


def test_benchmark_tool_reports_failed_runs_and_goes_on(tmp_path):
    """A run that exceeds the memory limit is stopped and reported; the rest still run."""
    proc = subprocess.run([sys.executable, 'tools/benchmark_eval.py', '--generate',
                           '--num-images', '5', '--dets-per-image', '10', '--iou-types', 'bbox',
                           '--max-memory-gb', '0.05'],
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    failed = [line for line in proc.stdout.splitlines() if 'failed: stopped' in line]
    assert len(failed) == 2 and '| lvis | bbox | 1 |' in failed[0]
    assert '| faster_coco_eval | bbox | 1 |' in failed[1] and 'limit 0.1 GB' in failed[1]
