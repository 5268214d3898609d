"""The detections of the metric's per-image records as columns, appended record by record.

A record (``metric/records.py``) holds one image's ``img_id``, ``bboxes`` (x1, y1, x2, y2),
``scores``, ``labels`` (indices into the sorted category ids) and, for segm, ``masks`` (RLE
dicts or ``PackedRLE``) and optional ``mask_scores``. :meth:`ColumnStore.arrays` gives one
iou type's ``DetectionArrays``: boxes as (x, y, w, h) doubles, labels mapped to category ids,
segm's score the mask score where there is one, records without detections (and, for segm,
without masks) left out, in record order.

- :class:`ColumnStore` keeps the records' own arrays and joins them when asked (one process).
- :class:`FileColumnStore` writes each record's columns to files as it arrives and returns
  them mapped. With a pool, the metric streams every record into one while the model runs, so
  that at the end no detection is copied again: the tasks name the files and their
  selections, and every worker maps the same pages (``mapped_files.py``). It takes the
  detections' bytes once more, in files of ``/dev/shm`` (page cache), until the evaluation
  ends.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import warnings
import weakref
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from .detection_arrays import DetectionArrays, PackedRLE, packed, xywh
from .mapped_files import exchange_dir, mapped


class ColumnStore:
    """Records appended in memory; :meth:`arrays` joins their arrays (``masks``: keep what
    segm needs)."""

    def __init__(self, masks: bool = True) -> None:
        self.masks = masks
        self._kept: List[tuple] = []  # (record, has masks) of those with detections
        self._identities: List[tuple] = []  # how to recognise it (holds)
        self._counts: List[int] = []  # detections per record
        self._masked: List[bool] = []  # whether a record's detections have masks

    def append(self, record: dict) -> None:
        count = len(record['labels'])
        masked = self.masks and 'masks' in record
        self._identities.append(_identity(record))
        self._counts.append(count)
        self._masked.append(masked)
        if count:
            self._add(record, masked)

    def extend(self, records: Sequence[dict]) -> 'ColumnStore':
        for record in records:
            self.append(record)
        return self

    def holds(self, records: Sequence[dict]) -> bool:
        """Whether these are the records appended, in the same order: the same image and the
        same array objects (mmengine hands ``compute_metrics`` copies of the record dicts,
        ``_to_cpu``, which keep the arrays)."""
        return len(records) == len(self._identities) and all(
            a[0] == b[0] and all(x is y for x, y in zip(a[1:], b[1:]))
            for a, b in zip(map(_identity, records), self._identities))

    def arrays(self, cat_ids: Sequence[int], iou_type: str) -> DetectionArrays:
        """The detections of ``iou_type`` (``'bbox'`` or ``'segm'``)."""
        if iou_type == 'segm' and not self.masks:
            raise ValueError('This ColumnStore was made without masks (masks=False).')
        columns = self._columns(iou_type == 'segm')
        cat = self._categories(columns['label'], np.asarray(cat_ids, np.int64))
        if iou_type == 'bbox':
            return DetectionArrays(columns['img_id'], cat, columns['score'], columns['boxes'])
        img, boxes = columns['img_id'], columns['boxes']
        counts, masked = np.asarray(self._counts, np.int64), np.asarray(self._masked, bool)
        if not masked[counts > 0].all():  # segm evaluates the records with masks only
            rows = np.flatnonzero(np.repeat(masked, counts))
            img, cat, boxes = img[rows], cat[rows], boxes[rows]
        return DetectionArrays(img, cat, columns['mask_score'], boxes, columns['masks'])

    def close(self) -> None:
        """Let go of the records."""
        self._kept, self._identities = [], []

    # what each kind of store does with a record's arrays
    def _add(self, record: dict, masked: bool) -> None:
        """Keep a record with detections (joined in ``_columns``)."""
        self._kept.append((record, masked))

    def _columns(self, masks: bool) -> Dict[str, object]:
        records = [r for r, _ in self._kept]
        masked = [r for r, m in self._kept if m]
        counts = [len(r['labels']) for r in records]
        columns = dict(img_id=np.repeat(np.asarray([r['img_id'] for r in records], np.int64),
                                        counts),
                       label=_join(records, 'labels', np.int64),
                       boxes=xywh(_join(records, 'bboxes', np.float64, 4)),
                       score=_join(records, 'scores', np.float32))
        if masks:
            columns['mask_score'] = np.concatenate(
                [np.asarray(r.get('mask_scores', r['scores']), np.float32) for r in masked]
            ) if masked else np.zeros(0, np.float32)
            columns['masks'] = PackedRLE.concatenate([packed(r['masks']) for r in masked])
        return columns

    def _categories(self, label: np.ndarray, cat_ids: np.ndarray) -> np.ndarray:
        return cat_ids[label]


class FileColumnStore(ColumnStore):
    """Records' columns written, as they are appended, to files in a folder of their own in
    ``parent`` (``/dev/shm`` for a pool's workers); :meth:`arrays` maps them read-only.
    :meth:`close` (or the store's end) removes the folder."""

    _FILES = ('img_id', 'label', 'boxes', 'score', 'mask_score', 'mask_bytes', 'mask_offsets',
              'mask_sizes')

    def __init__(self, parent: Optional[str] = None, masks: bool = True) -> None:
        super().__init__(masks)
        self.folder = tempfile.mkdtemp(prefix='lvis_detections_', dir=parent)
        self._removal = weakref.finalize(self, shutil.rmtree, self.folder, True)
        names = self._FILES if masks else self._FILES[:4]
        self._files = {name: open(self._path(name), 'wb', buffering=1 << 20) for name in names}
        self._mask_bytes = 0
        if masks:
            self._files['mask_offsets'].write(np.zeros(1, np.int64).data)
        self._cat_files: List[tuple] = []  # (category ids, their column mapped), newest last

    def _path(self, name: str) -> str:
        return os.path.join(self.folder, f'{name}.bin')

    def _add(self, record: dict, masked: bool) -> None:
        count = len(record['labels'])
        write = lambda name, values, dtype: self._files[name].write(
            np.ascontiguousarray(values, dtype).data)
        write('img_id', np.full(count, record['img_id']), np.int64)
        write('label', record['labels'], np.int64)
        write('boxes', xywh(record['bboxes']), np.float64)
        write('score', record['scores'], np.float32)
        if masked:
            masks = packed(record['masks']).compact()
            size = int(masks.offsets[-1])
            write('mask_score', record.get('mask_scores', record['scores']), np.float32)
            write('mask_bytes', masks.buffer[:size], np.uint8)
            write('mask_offsets', masks.offsets[1:] + self._mask_bytes, np.int64)
            write('mask_sizes', masks.sizes, np.int64)
            self._mask_bytes += size
        # the record is in its files now: only its identity is kept (holds)

    def _columns(self, masks: bool) -> Dict[str, object]:
        for f in self._files.values():
            f.flush()
        rows = sum(self._counts)
        masked = sum(n for n, m in zip(self._counts, self._masked) if m)
        columns = dict(img_id=mapped(self._path('img_id'), np.int64, (rows,)),
                       label=mapped(self._path('label'), np.int64, (rows,)),
                       boxes=mapped(self._path('boxes'), np.float64, (rows, 4)),
                       score=mapped(self._path('score'), np.float32, (rows,)))
        if masks:
            columns['mask_score'] = mapped(self._path('mask_score'), np.float32, (masked,))
            columns['masks'] = PackedRLE(
                mapped(self._path('mask_bytes'), np.uint8, (self._mask_bytes,)),
                mapped(self._path('mask_offsets'), np.int64, (masked + 1,)),
                mapped(self._path('mask_sizes'), np.int64, (masked, 2)))
        return columns

    def _categories(self, label: np.ndarray, cat_ids: np.ndarray) -> np.ndarray:
        """Category ids, written to a file of their own (once per set of ids and rows) so
        that they travel mapped too."""
        if not self._cat_files or len(self._cat_files[-1][1]) != len(label) or \
                not np.array_equal(self._cat_files[-1][0], cat_ids):
            path = self._path(f'cat_id_{len(self._cat_files)}')
            cat_ids[label].tofile(path)
            self._cat_files.append((cat_ids, mapped(path, np.int64, (len(label),))))
        return self._cat_files[-1][1]

    def close(self) -> None:
        """Close and remove the files (arrays that map them stay readable until dropped)."""
        super().close()
        for f in self._files.values():
            f.close()
        self._removal()


def _identity(record: dict) -> tuple:
    """A record's image and its arrays (objects, compared by identity)."""
    return (record['img_id'],) + tuple(record.get(key) for key in (
        'bboxes', 'scores', 'labels', 'masks', 'mask_scores'))


def _join(records: Sequence[dict], key: str, dtype, width: int = 0) -> np.ndarray:
    parts = [np.asarray(r[key], dtype=dtype) for r in records]
    if not parts:
        return np.zeros((0, width) if width else 0, dtype)
    return np.concatenate(parts).reshape((-1, width) if width else -1)


def records_to_arrays(records: Sequence[dict], cat_ids: Sequence[int],
                      iou_type: str) -> DetectionArrays:
    """The detections of ``iou_type`` of records, joined in memory (:class:`ColumnStore`)."""
    return ColumnStore(masks=iou_type == 'segm').extend(records).arrays(cat_ids, iou_type)


def records_to_detections(records: Sequence[dict], cat_ids: Sequence[int],
                          iou_type: str) -> List[dict]:
    """LVIS result dicts of ``iou_type`` for records: mmdet's ``results2json``, the same keys,
    order and float values (a dict per detection only here, where one is asked for)."""
    return records_to_arrays(records, cat_ids, iou_type).to_dicts()


def column_store(records: Sequence[dict], parent: Optional[str] = None,
                 masks: bool = True) -> ColumnStore:
    """A store of ``records``: in memory, or in files of ``parent`` when given."""
    store = FileColumnStore(parent, masks) if parent else ColumnStore(masks)
    return store.extend(records)


@contextmanager
def detections_of(records: Sequence[dict], cat_ids: Sequence[int], iou_type: str,
                  streamed: Optional[ColumnStore] = None,
                  parent: Optional[str] = None) -> Iterator[DetectionArrays]:
    """The detections of ``iou_type`` of ``records``: from ``streamed``, the store they were
    appended to as they came, else joined now (in files of ``parent`` if given, removed at
    the end of the block)."""
    store = streamed if streamed is not None else column_store(
        records, parent, masks=iou_type == 'segm')
    try:
        yield store.arrays(cat_ids, iou_type)
    finally:
        if store is not streamed:
            store.close()


class RecordStream:
    """A pool's records written to a :class:`FileColumnStore` as they arrive (the metric's
    ``process``, while the model runs), so that the evaluation hands the workers file names
    and selections instead of copying every detection when it starts. In ``/dev/shm`` where it
    has room (``ROOM`` twice over), else the system's temporary directory. Where a write
    fails (no room), a warning says so and the evaluation joins the records instead."""

    ROOM = 1 << 30

    def __init__(self, masks: bool) -> None:
        self.masks = masks
        self.store: Optional[FileColumnStore] = None
        self.failed = False

    def append(self, record: dict) -> None:
        if self.failed:
            return
        try:
            if self.store is None:
                self.store = FileColumnStore(exchange_dir(self.ROOM), self.masks)
            self.store.append(record)
        except OSError as error:
            warnings.warn(f'Could not write the detections to a file ({error}); they are '
                          'joined when the evaluation starts instead.')
            self.close()
            self.failed = True

    def store_of(self, records: Sequence[dict]) -> Optional[FileColumnStore]:
        """The store, if it holds exactly ``records``."""
        return self.store if self.store is not None and self.store.holds(records) else None

    def close(self) -> None:
        """Remove the files; the next record starts a new store."""
        if self.store is not None:
            self.store.close()
        self.store, self.failed = None, False


def exchange_size(records: Sequence[dict], iou_type: str) -> int:
    """About the bytes an evaluation of ``iou_type`` of ``records`` shares through files: the
    masks' and the other columns (about 100 bytes a detection)."""
    size = 100 * sum(len(r['labels']) for r in records)
    if iou_type == 'segm':
        size += sum(r['masks'].buffer.nbytes if isinstance(r['masks'], PackedRLE) else
                    sum(len(m['counts']) for m in r['masks']) for r in records if 'masks' in r)
    return size


__all__ = ['ColumnStore', 'FileColumnStore', 'RecordStream', 'column_store', 'detections_of',
           'exchange_size', 'records_to_arrays', 'records_to_detections']
