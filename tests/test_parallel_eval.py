"""LVIS evaluation split by category over several processes equals one process exactly, and
the ``lvis`` package to 1e-4 (standard AP, AP-Fixed, AP-Pool; bbox and segm)."""
import copy
import json
import os
import pickle
import re

import numpy as np
import pytest

import mmdet_droploss  # noqa: F401  (registers the metric, applies the lvis numpy fix)
from mmdet_droploss.datasets import generate_lvis_like
from mmdet_droploss.evaluation import (FastLVISMetric, PerClassTopK, load_ground_truth,
                                       make_tasks, merge, pooled_ap, split_categories,
                                       summarize)
from mmdet_droploss.evaluation.backends import category_frequencies, ground_truth_ids
from mmdet_droploss.evaluation.columns import column_store
from mmdet_droploss.evaluation.columns import (PackedRLE, records_to_arrays,
                                               records_to_detections)
from mmdet_droploss.evaluation.runners import InProcess
from test_fixed_pooled_ap import _lvis_eval, _reference_pooled, _reference_top_k

NUM_IMAGES = 24
DETS_PER_IMAGE = 330  # above the per-image cap of 300: the cap binds on every image
K = 12  # per-class budget: binds for the frequent categories
AP_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')
STAT_NAMES = AP_NAMES + ('AR@300', 'ARs@300', 'ARm@300', 'ARl@300')


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    """An LVIS-v1-like set (1,203 categories, most without ground truth) and its records."""
    gt, records = generate_lvis_like(NUM_IMAGES, DETS_PER_IMAGE, seed=3)
    path = tmp_path_factory.mktemp('parallel') / 'gt.json'
    path.write_text(json.dumps(gt))
    return str(path), gt, records


def _budget(records, cat_ids, iou_type):
    budget = PerClassTopK(K)
    for r in records:
        budget.add(r['img_id'], r['labels'], r['scores'],
                   r['bboxes'] if iou_type == 'bbox' else r['masks'])
    return budget.arrays(cat_ids)


def _shares(cat_ids, weights, spec):
    """The shares to test: a number (balanced) or 'uneven' (three of very different sizes,
    the first with categories that have neither detections nor ground truth)."""
    if spec != 'uneven':
        return split_categories(cat_ids, weights, spec)
    empty = [c for c, w in zip(cat_ids, weights) if w == 0][:5]
    rest = [c for c in cat_ids if c not in empty]
    return [empty, rest[:40], rest[40:]]


def _evaluate(path, records, iou_type, backend, spec):
    gt = load_ground_truth(path, backend)
    cat_ids = ground_truth_ids(gt, backend)[0]
    standard = records_to_arrays(copy.deepcopy(records), cat_ids, iou_type)
    fixed = _budget(records, cat_ids, iou_type)
    weights = sum(np.bincount(np.searchsorted(cat_ids, a.cat_id), minlength=len(cat_ids))
                  for a in (standard, fixed))
    shares = _shares(cat_ids, weights, spec)
    tasks = make_tasks(iou_type, backend, gt.dataset, standard, fixed, shares,
                       fixed_ap=True, pooled_ap=True)
    results = InProcess(len(tasks)).run(tasks)
    merged = merge(results)
    frequencies = category_frequencies(gt, cat_ids)
    stats = dict(standard=summarize(*merged.standard, frequencies),
                 fixed=summarize(*merged.fixed, frequencies),
                 pool=pooled_ap(merged.pool, dict(zip(cat_ids, frequencies))))
    return stats, merged, results


def test_the_generated_set_makes_the_caps_bind(generated):
    _, gt, records = generated
    assert all(len(r['scores']) > 300 for r in records)
    dets = np.concatenate([r['labels'] for r in records])
    assert (np.bincount(dets) > K).sum() >= 20  # the per-class budget binds
    with_gt = {a['category_id'] for a in gt['annotations']}
    assert len(with_gt) < len(gt['categories']) // 4  # most categories have no ground truth


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_shares_give_exactly_the_single_process_numbers(generated, iou_type):
    path, _, records = generated
    single, single_merged, _ = _evaluate(path, records, iou_type, 'faster_coco_eval', 1)
    for spec in (2, 3, 'uneven'):
        stats, merged, results = _evaluate(path, records, iou_type, 'faster_coco_eval', spec)
        assert len(results) == (3 if spec == 'uneven' else spec)
        if spec == 'uneven':
            assert results[0].num_detections == 0 and len(results[0].cat_ids) == 5
        assert stats == single, spec  # every statistic, bit for bit
        for kind in ('standard', 'fixed'):
            for ours, theirs in zip(getattr(merged, kind), getattr(single_merged, kind)):
                np.testing.assert_array_equal(ours, theirs)
        for field in ('score', 'matched', 'ignored', 'gt_cat_id'):
            assert np.sort(getattr(merged.pool, field), axis=0).tolist() == \
                np.sort(getattr(single_merged.pool, field), axis=0).tolist()
    # the numbers are informative: not all -1 or 0, AP-Fixed and AP-Pool differ from AP
    assert 0 < single['standard']['AP'] < 1 and 0 < single['pool']['AP_pool'] < 1
    assert single['fixed']['AP'] != single['standard']['AP']


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_merged_shares_equal_the_lvis_package(generated, iou_type):
    """Three shares with each back end against the lvis package run directly on all
    detections (its own cap, its own per-class top K, its own per-image matches pooled)."""
    path, _, records = generated
    dets = records_to_detections(copy.deepcopy(records), list(range(1, 1204)), iou_type)
    from lvis import LVIS, LVISEval, LVISResults
    gt = LVIS(path)
    lvis_eval = LVISEval(gt, LVISResults(gt, json.loads(json.dumps(dets)), max_dets=300),
                         iou_type)
    lvis_eval.run()
    reference = dict(standard=lvis_eval.get_results())
    selected = _reference_top_k(dets, K)
    reference['fixed'] = {k.replace('@-1', '@300'): v for k, v in
                          _lvis_eval(path, selected, iou_type).get_results().items()}
    reference['pool'] = _reference_pooled(path, selected, iou_type)
    for backend in ('faster_coco_eval', 'lvis'):
        stats, _, _ = _evaluate(path, records, iou_type, backend, 'uneven')
        for kind in ('standard', 'fixed'):
            for name in STAT_NAMES:
                assert stats[kind][name] == pytest.approx(reference[kind][name], abs=1e-4), (
                    backend, kind, name)
        assert stats['pool'] == pytest.approx(reference['pool'], abs=1e-4), backend


def test_metric_with_a_process_pool_reports_what_one_process_does(generated, monkeypatch):
    path, _, records = generated
    results = {}
    joined = []  # the evaluations that joined the records at the end instead of streaming
    original = column_store.column_store
    monkeypatch.setattr(column_store, 'column_store',
                        lambda *args, **kwargs: joined.append(args[1]) or original(
                            *args, **kwargs))
    for nproc in (1, 3):
        metric = FastLVISMetric(ann_file=path, metric=['bbox', 'segm'], fixed_ap=K,
                                pooled_ap=True, classwise=True, nproc=nproc)
        for record in copy.deepcopy(records):
            metric.add_record(record)
        # with a pool, the records were written to files as they came (their workers map them)
        store = metric._stream.store
        assert (store is None) == (nproc == 1)
        if store is not None:
            assert store.holds([r for _, r in metric.results]) and os.listdir(store.folder)
        results[nproc] = metric.evaluate(size=len(records))
        assert metric._stream.store is None and (store is None or not os.path.exists(
            store.folder))
        # one process joins each iou type's detections in memory; the pool used the stream
        assert joined == ([None, None] if nproc == 1 else [])
        joined.clear()
        shares = metric.last_shares['segm']
        assert [s['where'] for s in shares] == (
            ['this process'] if nproc == 1 else ['worker 0', 'worker 1', 'worker 2'])
        assert sum(s['categories'] for s in shares) == 1203
        assert all(s['seconds'] > 0 and s['peak_rss_gb'] > 0 for s in shares)
    same = lambda r: {k: 'nan' if np.isnan(v) else v for k, v in r.items()}
    assert same(results[3]) == same(results[1])  # classwise AP of a category without GT: NaN
    for t in ('bbox', 'segm'):
        for suffix in ('', '_fixed'):
            assert f'lvis/{t}_AP{suffix}' in results[1]
        assert f'lvis/{t}_AP_pool' in results[1]


def test_packed_masks_take_and_join_as_lists_do():
    rng = np.random.default_rng(0)
    rles = [dict(size=[int(h), int(w)], counts=''.join(rng.choice(list('abc0;?'), n)))
            for h, w, n in rng.integers(1, 40, (30, 3))]
    rles[3]['counts'] = rles[3]['counts'].encode()  # bytes, as encode_mask_results gives
    as_str = [dict(size=r['size'], counts=r['counts'] if isinstance(r['counts'], str) else
                   r['counts'].decode()) for r in rles]
    packed = PackedRLE.pack(rles)
    assert packed.to_list() == as_str
    index = np.array([5, 0, 29, 5, 12])
    assert packed.take(index).to_list() == [as_str[i] for i in index]
    assert packed.take(np.zeros(0, np.int64)).to_list() == []
    joined = PackedRLE.concatenate([packed.take(np.arange(10)), PackedRLE.pack([]),
                                    packed.take(np.arange(10, 30))])
    assert joined.to_list() == as_str
    # take only selects (a take of a take too); a pickle or compact() carries the bytes of
    # the selected masks alone
    taken = packed.take(np.arange(30)[::-1]).take(index)
    assert taken.buffer is packed.buffer and len(taken) == 5
    assert taken.to_list() == [as_str[29 - i] for i in index]
    for compact in (pickle.loads(pickle.dumps(taken)), taken.compact(block=2)):
        assert compact.index is None and compact.to_list() == taken.to_list()
        assert compact.buffer.size == sum(len(as_str[29 - i]['counts']) for i in index)
    increasing = packed.take(np.array([1, 4, 7, 28])).compact()  # a share's: in order
    assert increasing.to_list() == [as_str[i] for i in (1, 4, 7, 28)]


def test_bad_splits_and_nproc_are_named():
    assert split_categories([1, 2, 3, 4], [5, 1, 1, 3], 2) == [[1], [2, 3, 4]]
    assert split_categories([1, 2], [1, 1], 3) == [[1], [2], []]
    with pytest.raises(ValueError, match='at least one share'):
        split_categories([1], [1], 0)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match='nproc is the number of evaluating processes'):
            FastLVISMetric(ann_file='x.json', nproc=bad)


LVIS_KEYS = [f'lvis/{t}_{m}' for t in ('bbox', 'segm') for m in AP_NAMES + ('AR',)]


def test_dist_test_on_two_gloo_processes_equals_one_process(demo_run, tmp_path):
    """tools/dist_test.sh with 2 processes (the demo run's) reports the metrics of
    tools/test.py in one process, and says how evaluation was split."""
    import sys

    from conftest import REPO_ROOT, demo_env, run_tool
    from test_demo_dist import _metrics_json
    two = _metrics_json(demo_run.work_dir)
    # this checkout's package, as the launch scripts use (not an editable install elsewhere)
    env = {**demo_env(demo_run.data_root), 'PYTHONPATH': str(REPO_ROOT)}
    log = run_tool([sys.executable, 'tools/test.py', demo_run.config, demo_run.checkpoint,
                    '--work-dir', tmp_path], env)
    one = _metrics_json(tmp_path)
    assert {k: two[k] for k in LVIS_KEYS} == {k: one[k] for k in LVIS_KEYS}
    assert any(0 < one[k] < 1 for k in LVIS_KEYS)
    for t in ('bbox', 'segm'):
        assert f'{t}: evaluated by category in 2 share(s)' in demo_run.test_log
        assert f'{t}: evaluated by category in 1 share(s)' in log
        shares = re.findall(r'share (\d) \(rank (\d), pid \d+\): (\d+) categories',
                            demo_run.test_log)
        assert {(s, r) for s, r, _ in shares} == {('0', '0'), ('1', '1')}


def test_counts_per_category_equal_counting_by_position():
    from mmdet_droploss.evaluation.columns import counts_per_category
    cat_ids = [3, 7, 8, 20]
    cat_id = np.array([7, 20, 7, 3, 20, 20])
    by_position = np.bincount(np.searchsorted(cat_ids, cat_id), minlength=len(cat_ids))
    assert counts_per_category(cat_id, cat_ids).tolist() == by_position.tolist() == [1, 2, 0, 3]
    assert counts_per_category(np.zeros(0, np.int64), cat_ids).tolist() == [0, 0, 0, 0]
    assert counts_per_category(cat_id[:0], []).tolist() == []
