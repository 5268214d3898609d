"""``backends/faster/inputs.prepare_lvis`` builds the state faster-coco-eval's ``_prepare`` builds.

The reference is faster-coco-eval 1.8's ``COCOeval._prepare`` run on copies of the same ground
truth and results (as result dicts, ``loadRes``'s fields): the same annotations reach the core
for every (image, category) cell, in the same order and with the same fields the core reads
(``id``, ``score``, ``area``, ``ignore``, ``lvis_mark``), the same non-empty pairs, the same
IoUs (``pair_ious.py`` against ``computeIoU``, bit for bit), and an unchanged
``COCOeval_faster`` accumulates bit-identical precision and recall.
"""
import copy

import numpy as np
import pytest
from faster_coco_eval import COCO, COCOeval_faster

import mmdet_droploss  # noqa: F401
from mmdet_droploss.datasets import generate_lvis_like
from mmdet_droploss.evaluation.backends.faster.ground_truth import columns_of
from mmdet_droploss.evaluation.backends.faster.results import (ColumnResults,
                                                               load_results_arrays,
                                                               load_results_faster)
from mmdet_droploss.evaluation.backends.faster.sparse_eval import SparseCOCOeval
from mmdet_droploss.evaluation.columns import records_to_arrays


@pytest.fixture(scope='module')
def lvis_like():
    gt, records = generate_lvis_like(10, 120, seed=4, masks=True)
    gt['annotations'][0]['iscrowd'] = 1  # a crowd ground truth: ignored
    assert any(img['not_exhaustive_category_ids'] for img in gt['images'])
    return gt, records, [c['id'] for c in gt['categories']]


def _drop_unlabelled(gt, detections):
    """LVIS's federated rule, written here with sets: the detections whose category is
    annotated or negative in their image."""
    labelled = {(a['image_id'], a['category_id']) for a in gt.dataset['annotations']}
    labelled |= {(img['id'], c) for img in gt.dataset['images']
                 for c in img.get('neg_category_ids', ())}
    return [d for d in detections if (d['image_id'], d['category_id']) in labelled]


def _evaluators(lvis_like, iou_type, from_arrays, img_ids=None, cat_ids=None):
    """(ours, faster-coco-eval's), each on its own copy of the ground truth and results."""
    gt_dict, records, all_cats = lvis_like
    made = []
    for cls in (SparseCOCOeval, COCOeval_faster):
        gt = COCO(copy.deepcopy(gt_dict))
        arrays = records_to_arrays(records, all_cats, iou_type)
        if from_arrays and cls is SparseCOCOeval:
            results = load_results_arrays(gt, arrays)
        else:  # the reference: result dicts, through the base class's _prepare
            results = load_results_faster(gt, _drop_unlabelled(gt, arrays.to_dicts()))
        evaluator = cls(gt, results, iou_type, lvis_style=True, print_function=lambda *_: None)
        p = evaluator.params
        p.maxDets = [300]
        p.imgIds = list(img_ids or [img['id'] for img in gt_dict['images']])
        p.catIds = list(cat_ids or all_cats)
        made.append(evaluator)
    return made


def _cells(evaluator):
    """Per (image, category) cell of the evaluation, the fields the core reads."""
    p = evaluator.params
    cells = {}
    for name, dataset in (('gt', evaluator.gt_dataset), ('dt', evaluator.dt_dataset)):
        for img, row in zip(p.imgIds, dataset.get_instances(p.imgIds, p.catIds, True)):
            for cat, anns in zip(p.catIds, row):
                if anns:
                    cells[name, img, cat] = [(a['id'], a.get('score'), a['area'],
                                              a.get('ignore'), a.get('lvis_mark'),
                                              a.get('iscrowd', 0)) for a in anns]
    return cells


def _counts(value):
    return value.decode() if isinstance(value, bytes) else value


def _ious(evaluator, pairs, prepared=None):
    """Each pair's IoU matrix as the evaluator computes it (from columns, with what its
    ``_prepare`` returned, or ``computeIoU``)."""
    inputs = None if prepared is None else prepared.pair_inputs
    if inputs is None:
        return [np.asarray(evaluator.computeIoU(img, cat)) for img, cat in pairs]
    keys = inputs.pairs
    assert list(zip(inputs.keys.images(keys).tolist(),
                    inputs.keys.categories(keys).tolist())) == pairs  # in evaluation order
    return [np.asarray(v) for v in evaluator._column_ious(inputs)]


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
@pytest.mark.parametrize('from_arrays', [True, False])
def test_prepare_builds_the_state_of_faster_coco_eval(lvis_like, iou_type, from_arrays):
    ours, theirs = _evaluators(lvis_like, iou_type, from_arrays)
    assert isinstance(ours.cocoDt, ColumnResults) == from_arrays
    ours.params.maxDets = theirs.params.maxDets = [4]  # the per-pair cut of computeIoU binds
    prepared = ours._prepare()
    theirs._prepare()
    assert (prepared.pair_inputs is not None) == from_arrays
    assert ours._nonempty_iou_pairs == theirs._nonempty_iou_pairs
    assert len(ours._nonempty_iou_pairs) > 20
    assert ours.img_nel == theirs.img_nel and ours.freq_groups == theirs.freq_groups
    a, b = _cells(ours), _cells(theirs)
    assert a.keys() == b.keys()
    for key in a:  # same annotations, order and fields the core reads
        assert a[key] == b[key], key
    marked = [x for key in a if key[0] == 'dt' for x in a[key] if x[4]]
    assert marked and any(x[3] for key in a if key[0] == 'gt' for x in a[key])
    pairs = sorted(ours._nonempty_iou_pairs)
    assert any(np.asarray(theirs.computeIoU(*pair)).shape[0] == 4 for pair in pairs)
    for pair, mine, reference in zip(pairs, _ious(ours, pairs, prepared),
                                     _ious(theirs, pairs)):
        assert mine.shape == reference.shape and np.array_equal(mine, reference), pair
    assert any((v > 0).any() and (v < 1).any() for v in _ious(ours, pairs, prepared))


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_evaluation_equals_faster_coco_eval_bit_for_bit(lvis_like, iou_type):
    _, _, cats = lvis_like
    images = [img['id'] for img in lvis_like[0]['images']]
    for img_ids, cat_ids in ((None, None), (images[::2], cats[::3])):  # and a sub-evaluation
        ours, theirs = _evaluators(lvis_like, iou_type, True, img_ids, cat_ids)
        for evaluator in (ours, theirs):
            evaluator.evaluate()
            evaluator.accumulate()
        for key in ('precision', 'recall'):
            assert np.array_equal(np.asarray(ours.eval[key]), np.asarray(theirs.eval[key]))
        assert (np.asarray(ours.eval['precision']) > 0).any()


def test_ground_truth_rles_are_computed_once_and_columns_follow_the_annotations(lvis_like):
    ours, _ = _evaluators(lvis_like, 'segm', True)
    gt = ours.cocoGt
    ours._prepare()
    first = [a['rle'] for a in gt.dataset['annotations']]
    ours._prepare()  # a second evaluation against the same ground truth reuses the RLEs
    assert all(a['rle'] is r for a, r in zip(gt.dataset['annotations'], first))
    img, cat = columns_of(gt).pairs
    assert img.tolist() == [a['image_id'] for a in gt.dataset['annotations']]
    assert cat.tolist() == [a['category_id'] for a in gt.dataset['annotations']]
    # detections loaded from arrays stay columns: no dict, no RLE dict per detection
    assert ours.cocoDt.dataset['annotations'] is None
    assert len(ours.cocoDt.arrays) == len(ours.cocoDt.area) > 0


def test_a_share_reuses_the_rles_of_the_dataset_it_was_cut_from(lvis_like, monkeypatch):
    from faster_coco_eval import mask_api_new_cpp

    from mmdet_droploss.evaluation.backends.faster import ground_truth
    from mmdet_droploss.evaluation.shares import subset_dataset
    gt_dict, _, cats = lvis_like
    reference = copy.deepcopy(gt_dict['annotations'])
    mask_api_new_cpp.calculateRleForAllAnnotations(
        reference, {i['id']: (i['height'], i['width']) for i in gt_dict['images']},
        True, False, 0.02, 1)
    dataset = copy.deepcopy(gt_dict)
    converted = []
    monkeypatch.setattr(ground_truth, 'to_rles', lambda anns, sizes: (
        converted.append(len(anns)), mask_api_new_cpp.calculateRleForAllAnnotations(
            anns, sizes, True, False, 0.02, 1)))
    share = subset_dataset(dataset, cats[::2])  # the same annotation dicts, fewer of them
    ground_truth.attach_rles(share)
    ground_truth.attach_rles(dataset)  # what a pool worker does when it starts
    assert converted == [len(share['annotations']),
                         len(dataset['annotations']) - len(share['annotations'])]
    assert [a['rle'] for a in dataset['annotations']] == [a['rle'] for a in reference]
    ground_truth.attach_rles(subset_dataset(dataset, cats[1::2]))  # nothing left to do
    assert len(converted) == 2


def test_results_from_arrays_are_not_indexed_and_say_so(lvis_like):
    gt_dict, records, cats = lvis_like
    gt = COCO(copy.deepcopy(gt_dict))
    results = load_results_arrays(gt, records_to_arrays(records, cats, 'bbox'))
    evaluator = COCOeval_faster(gt, results, 'bbox', lvis_style=True,
                                print_function=lambda *_: None)
    with pytest.raises(TypeError):  # the base class's _prepare: loud, not "no detections"
        evaluator._prepare()
    with pytest.raises(TypeError):  # and so does a reader of the annotation list
        results.createIndex()


def test_sorted_key_merges_equal_numpys_set_operations():
    from mmdet_droploss.evaluation.protocol.pair_keys import (sorted_intersection,
                                                              sorted_union, sorted_unique)
    rng = np.random.default_rng(0)
    for size_a, size_b in ((0, 0), (0, 5), (7, 0), (1, 1), (50, 300), (1000, 20)):
        a = np.unique(rng.integers(0, 400, size_a))
        b = np.unique(rng.integers(0, 400, size_b))
        assert np.array_equal(sorted_union(a, b), np.union1d(a, b))
        assert np.array_equal(sorted_intersection(a, b), np.intersect1d(a, b))
        keys = np.sort(rng.integers(0, 30, size_a))
        assert np.array_equal(sorted_unique(keys), np.unique(keys))
