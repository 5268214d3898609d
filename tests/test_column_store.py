"""Records as columns, in memory and in files, and selections of mapped files that travel to a
pool's workers as file names: the same detections as the records' own, field by field."""
import copy
import os
import pickle

import numpy as np
import pytest

from mmdet_droploss.datasets import generate_lvis_like
from mmdet_droploss.evaluation.columns import (ColumnStore, FileColumnStore, PackedRLE,
                                               RecordStream, Selection, detections_of,
                                               exchange_dir, pickled_by_file_name)

CAT_IDS = list(range(1, 1204))


@pytest.fixture(scope='module')
def records():
    """Generated records, edited to hold every case a store meets: an image without
    detections, one without masks, one with mask scores, masks as dicts and packed."""
    _, records = generate_lvis_like(6, 40, seed=5)
    records[1] = dict(img_id=records[1]['img_id'], bboxes=np.zeros((0, 4), np.float32),
                      scores=np.zeros(0, np.float32), labels=np.zeros(0, np.int64))
    del records[2]['masks']
    records[3]['mask_scores'] = np.linspace(0.9, 0.1, len(records[3]['scores']),
                                            dtype=np.float32)
    records[4]['masks'] = PackedRLE.pack(records[4]['masks'])
    return records


def _reference(records, iou_type):
    """LVIS result dicts built one by one from the records, as mmdet's results2json does."""
    out = []
    for r in records:
        if iou_type == 'segm' and 'masks' not in r:
            continue
        masks = r.get('masks')
        masks = masks.to_list() if isinstance(masks, PackedRLE) else masks
        scores = r.get('mask_scores', r['scores']) if iou_type == 'segm' else r['scores']
        for k in range(len(r['labels'])):
            x1, y1, x2, y2 = (float(v) for v in r['bboxes'][k])
            d = dict(image_id=r['img_id'], bbox=[x1, y1, x2 - x1, y2 - y1],
                     score=float(scores[k]), category_id=CAT_IDS[int(r['labels'][k])])
            if iou_type == 'segm':
                counts = masks[k]['counts']
                d['segmentation'] = dict(size=list(masks[k]['size']), counts=counts.decode()
                                         if isinstance(counts, bytes) else counts)
            out.append(d)
    return out


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_stores_give_the_records_detections(records, iou_type, tmp_path):
    reference = _reference(records, iou_type)
    assert len(reference) > 100
    memory = ColumnStore().extend(records).arrays(CAT_IDS, iou_type)
    store = FileColumnStore(str(tmp_path)).extend(records)
    in_files = store.arrays(CAT_IDS, iou_type)
    # mapped from the store's files (segm's rows are gathered: one record has no masks)
    mapped = in_files.img_id if iou_type == 'bbox' else in_files.masks.buffer
    assert isinstance(mapped, np.memmap) and mapped.filename.startswith(store.folder)
    for arrays in (memory, in_files):
        assert arrays.to_dicts() == reference
        assert arrays.boxes.dtype == np.float64 and arrays.score.dtype == np.float32
    if iou_type == 'segm':  # the record without masks is left out
        assert len(memory) == sum(len(r['labels']) for r in records if 'masks' in r)
    # another set of category ids gets a column of its own
    shifted = [c + 1000 for c in CAT_IDS]
    assert (store.arrays(shifted, iou_type).cat_id == in_files.cat_id + 1000).all()
    assert (in_files.cat_id == memory.cat_id).all()
    store.append(records[0])  # a record more: its categories too
    assert store.arrays(CAT_IDS, iou_type).to_dicts() == reference + _reference(
        records[:1], iou_type)
    store.close()


def test_a_bbox_only_store_keeps_no_masks(records, tmp_path):
    store = FileColumnStore(str(tmp_path), masks=False).extend(records)
    assert store.arrays(CAT_IDS, 'bbox').to_dicts() == _reference(records, 'bbox')
    assert not any('mask' in name for name in os.listdir(store.folder))
    with pytest.raises(ValueError, match='without masks'):
        store.arrays(CAT_IDS, 'segm')


def test_a_selection_of_mapped_files_travels_as_their_names(records, tmp_path):
    records = [r for r in records if 'masks' in r]  # every row of segm mapped, none gathered
    store = FileColumnStore(str(tmp_path)).extend(records)
    arrays = store.arrays(CAT_IDS, 'segm')
    assert arrays.travels_mapped() is False  # outside pickled_by_file_name()
    index = np.flatnonzero(arrays.cat_id % 3 == 0)
    selection = Selection(arrays, index)
    expected = arrays.take(index).to_dicts()
    with pickled_by_file_name():
        assert arrays.travels_mapped()
        named = pickle.dumps(selection)
    assert store.folder.encode() in named
    # the index and the names, no detections
    assert len(named) < 2 * index.nbytes + 4096
    assert not any(d['segmentation']['counts'].encode() in named for d in expected)
    received = pickle.loads(named)
    assert isinstance(received.arrays.boxes, np.memmap)
    assert received.resolve().to_dicts() == expected
    # a share's masks, taken from the mapped files, travel named too
    with pickled_by_file_name():
        masks = pickle.dumps(received.resolve().masks)
    assert store.folder.encode() in masks and pickle.loads(masks).to_list() == [
        d['segmentation'] for d in expected]
    # outside a pool's round: the selected detections' bytes, no file named
    gathered = pickle.dumps(selection)
    assert store.folder.encode() not in gathered
    assert all(d['segmentation']['counts'].encode() in gathered for d in expected)
    copy = pickle.loads(gathered)
    assert copy.index is None and not isinstance(copy.arrays.boxes, np.memmap)
    assert copy.resolve().to_dicts() == expected
    # detections in memory travel as their bytes even inside pickled_by_file_name()
    in_memory = Selection(ColumnStore().extend(records).arrays(CAT_IDS, 'segm'), index)
    with pickled_by_file_name():
        assert pickle.loads(pickle.dumps(in_memory)).resolve().to_dicts() == expected
    store.close()


def test_closing_removes_the_files_and_mapped_arrays_stay_readable(records, tmp_path):
    store = FileColumnStore(str(tmp_path)).extend(records)
    arrays = store.arrays(CAT_IDS, 'bbox')
    expected = ColumnStore().extend(records).arrays(CAT_IDS, 'bbox').to_dicts()
    store.close()
    assert not os.path.exists(store.folder) and list(tmp_path.iterdir()) == []
    assert arrays.to_dicts() == expected
    dropped = FileColumnStore(str(tmp_path)).extend(records)
    del dropped  # a store nobody closed removes its files when it goes
    assert list(tmp_path.iterdir()) == []


def test_detections_of_prefers_the_stream_of_the_same_records(records, tmp_path):
    stream = RecordStream(masks=True)
    for r in records:
        stream.append(r)
    assert stream.store_of(records) is stream.store
    # mmengine hands compute_metrics new dicts of the same arrays (_to_cpu): still these
    assert stream.store_of([dict(r) for r in records]) is stream.store
    assert stream.store_of(copy.deepcopy(records)) is None  # other arrays: not these
    assert stream.store_of(records[:-1]) is None
    assert stream.store_of([dict(r, img_id=-1) if k == 3 else r
                            for k, r in enumerate(records)]) is None
    with detections_of(records, CAT_IDS, 'segm', stream.store_of(records)) as arrays:
        assert isinstance(arrays.masks.buffer, np.memmap)
        assert arrays.to_dicts() == _reference(records, 'segm')
    with detections_of(records, CAT_IDS, 'segm', None, str(tmp_path)) as joined:
        assert joined.to_dicts() == _reference(records, 'segm')
        assert len(list(tmp_path.iterdir())) == 1
    assert list(tmp_path.iterdir()) == []  # joined for the block only
    folder = stream.store.folder
    stream.close()
    assert stream.store is None and not os.path.exists(folder)


def test_a_stream_that_cannot_write_warns_and_is_not_used(records, monkeypatch):
    def full(self, record, masked):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(FileColumnStore, '_add', full)
    stream = RecordStream(masks=True)
    with pytest.warns(UserWarning, match='No space left on device.*joined when the '
                                         'evaluation starts'):
        stream.append(records[0])
    stream.append(records[2])  # no second attempt, no second warning
    assert stream.failed and stream.store is None and stream.store_of(records) is None
    with detections_of(records, CAT_IDS, 'bbox', stream.store_of(records)) as arrays:
        assert arrays.to_dicts() == _reference(records, 'bbox')
    assert exchange_dir(10 ** 18) is None  # no room in /dev/shm: the temporary directory
    assert exchange_dir(1) in ('/dev/shm', None)
