"""Detections as columns: what the metric keeps per image and what evaluation shares exchange.

Millions of result dicts are slow to pickle and large (a segm result with its RLE dict is about
0.4 KB of Python objects); numpy columns pickle as memory copies. :class:`PackedRLE` keeps
compressed RLE masks as one byte buffer with offsets and sizes (about the bytes of the counts
strings), :class:`DetectionArrays` one iou type's detections (image, category, score, box,
mask). Result dicts are built from them only where an evaluator needs them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np

from .mapped_files import column_state, restore_column, travels_mapped


@dataclass
class PackedRLE:
    """Compressed RLE masks: mask ``i`` has counts ``buffer[offsets[i]:offsets[i + 1]]``
    (ASCII) and size ``sizes[i]`` (height, width). With ``index``, the masks are those
    ``index`` selects among them: :meth:`take` only composes indices (evaluation takes
    categories, chunks, the federated filter and the pairs' detections out of millions of
    masks), and the bytes are copied where a compact buffer is needed (pickled for another
    process, concatenated)."""

    buffer: np.ndarray  # (total,) uint8
    offsets: np.ndarray  # (M + 1,) int64
    sizes: np.ndarray  # (M, 2) int64
    index: Optional[np.ndarray] = None  # (N,) int64 into the M masks; None: all, in order

    @classmethod
    def pack(cls, rles: Sequence[dict]) -> 'PackedRLE':
        """From RLE dicts (``bytes`` counts as ``encode_mask_results`` gives, or ``str``)."""
        counts = [c if isinstance(c, bytes) else c.encode() for c in (r['counts'] for r in rles)]
        lengths = np.fromiter(map(len, counts), np.int64, len(counts))
        sizes = np.asarray([r['size'] for r in rles], np.int64).reshape(-1, 2)
        return cls(np.frombuffer(b''.join(counts), np.uint8).copy(),
                   np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), sizes)

    @classmethod
    def concatenate(cls, parts: Sequence['PackedRLE']) -> 'PackedRLE':
        """The masks of ``parts`` in order, in one buffer."""
        if not parts:
            return cls.pack([])
        parts = [p.compact() for p in parts]
        lengths = [int(p.offsets[-1]) for p in parts]
        shifts = np.cumsum([0] + lengths[:-1])
        offsets = [parts[0].offsets[:1]] + [p.offsets[1:] + s for p, s in zip(parts, shifts)]
        return cls(np.concatenate([p.buffer[:n] for p, n in zip(parts, lengths)]),
                   np.concatenate(offsets), np.concatenate([p.sizes for p in parts]))

    def __len__(self) -> int:
        return len(self.sizes) if self.index is None else len(self.index)

    def selected(self) -> np.ndarray:
        """Which of the packed masks these are, in order."""
        return np.arange(len(self.sizes)) if self.index is None else self.index

    def take(self, index: np.ndarray) -> 'PackedRLE':
        """The masks ``index`` (any order, repeats allowed), without copying bytes."""
        return PackedRLE(self.buffer, self.offsets, self.sizes,
                         self.selected()[np.asarray(index, np.int64)])

    def compact(self, block: int = 1 << 16) -> 'PackedRLE':
        """The same masks in a buffer of their own (``index`` None)."""
        if self.index is None:
            return self
        index, lengths = self.index, np.diff(self.offsets)
        offsets = np.concatenate([[0], np.cumsum(lengths[index])]).astype(np.int64)
        if index.size < 2 or bool(np.all(np.diff(index) > 0)):
            # increasing (a share's, a chunk's masks): one pass of a byte mask over the buffer
            keep = np.zeros(len(self.sizes), bool)
            keep[index] = True
            return PackedRLE(self.buffer[np.repeat(keep, lengths)], offsets, self.sizes[index])
        buffer = np.empty(int(offsets[-1]), np.uint8)
        for first in range(0, index.size, block):  # positions for a block of masks at a time
            part, out = index[first:first + block], offsets[first:first + block + 1]
            positions = np.repeat(self.offsets[part] - out[:-1], lengths[part]) + np.arange(
                out[0], out[-1])
            buffer[out[0]:out[-1]] = self.buffer[positions]
        return PackedRLE(buffer, offsets, self.sizes[index])

    def __getstate__(self) -> dict:
        """Pickled compact (another process receives these masks' bytes only), or, inside
        ``mapped_files.pickled_by_file_name`` and when the buffer, offsets and sizes map files (a
        ``ColumnStore``'s), as those files' names and the selection."""
        if all(map(travels_mapped, (self.buffer, self.offsets, self.sizes))):
            state = self.__dict__
        else:
            state = self.compact().__dict__
        return {k: column_state(v) for k, v in state.items()}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({k: restore_column(v) for k, v in state.items()})

    def to_list(self) -> List[dict]:
        """The masks as RLE dicts with ``str`` counts (what evaluators and JSON take)."""
        index = self.selected()
        view = memoryview(self.buffer)
        return [dict(size=s, counts=str(view[a:b], 'ascii')) for s, a, b in zip(
            self.sizes[index].tolist(), self.offsets[index].tolist(),
            self.offsets[index + 1].tolist())]


Masks = Union[PackedRLE, Sequence[dict]]


def counts_per_category(cat_id: np.ndarray, cat_ids: Sequence[int]) -> np.ndarray:
    """How many of ``cat_id`` (each one of the sorted ``cat_ids``) are each of ``cat_ids``:
    counted by id, no search."""
    cat_ids = np.asarray(cat_ids, np.int64)
    if not cat_ids.size:
        return np.zeros(0, np.int64)
    return np.bincount(np.asarray(cat_id, np.int64), minlength=int(cat_ids[-1]) + 1)[cat_ids]


def rows_of_categories(cat_id: np.ndarray, cat_ids: Sequence[int]) -> np.ndarray:
    """The positions (ascending) of ``cat_id`` that are one of ``cat_ids``."""
    return np.flatnonzero(np.isin(cat_id, np.asarray(list(cat_ids), np.int64)))


def xywh(boxes: np.ndarray) -> np.ndarray:
    """(x1, y1, x2, y2) boxes as (x, y, w, h) doubles, LVIS's (a new array)."""
    boxes = np.array(boxes, np.float64).reshape(-1, 4)
    boxes[:, 2:] -= boxes[:, :2]
    return boxes


def packed(masks: Masks) -> PackedRLE:
    return masks if isinstance(masks, PackedRLE) else PackedRLE.pack(masks)


@dataclass
class DetectionArrays:
    """One iou type's detections as columns. Boxes are (x, y, w, h); ``boxes`` is ``None``
    for mask results without a box, ``masks`` ``None`` for bbox."""

    img_id: np.ndarray  # (N,) int64
    cat_id: np.ndarray  # (N,) int64
    score: np.ndarray  # (N,)
    boxes: Optional[np.ndarray] = None  # (N, 4) float64
    masks: Optional[PackedRLE] = None

    def __len__(self) -> int:
        return len(self.cat_id)

    def __getstate__(self) -> dict:
        """Columns pickled as their bytes or, inside ``mapped_files.pickled_by_file_name``, as
        the names of the files they map."""
        return {k: v if k == 'masks' else column_state(v) for k, v in self.__dict__.items()}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({k: v if k == 'masks' else restore_column(v)
                              for k, v in state.items()})

    def travels_mapped(self) -> bool:
        """Whether every column pickles as the name of the file it maps (now)."""
        columns = [self.img_id, self.cat_id, self.score, self.boxes]
        if self.masks is not None:
            columns += [self.masks.buffer, self.masks.offsets, self.masks.sizes]
        return all(map(travels_mapped, columns))

    @classmethod
    def from_dicts(cls, detections: Sequence[dict], iou_type: str) -> 'DetectionArrays':
        """The columns of LVIS result dicts of ``iou_type`` (``bbox``, ``segm``: ``segmentation``
        RLEs, and their boxes where every dict has one), in list order; scores as doubles."""
        n = len(detections)
        arrays = cls(np.fromiter((d['image_id'] for d in detections), np.int64, n),
                     np.fromiter((d['category_id'] for d in detections), np.int64, n),
                     np.fromiter((d['score'] for d in detections), np.float64, n))
        if iou_type == 'bbox' or all('bbox' in d for d in detections):
            arrays.boxes = np.asarray([d['bbox'] for d in detections],
                                      np.float64).reshape(-1, 4)
        if iou_type == 'segm':
            arrays.masks = PackedRLE.pack([d['segmentation'] for d in detections])
        return arrays

    def take(self, index: np.ndarray) -> 'DetectionArrays':
        if len(index) == len(self) and bool(np.all(np.diff(index) > 0)):
            return self  # all of them, in order
        return DetectionArrays(self.img_id[index], self.cat_id[index], self.score[index],
                               None if self.boxes is None else self.boxes[index],
                               None if self.masks is None else self.masks.take(index))

    def of_categories(self, cat_ids: Sequence[int]) -> 'DetectionArrays':
        return self.take(rows_of_categories(self.cat_id, cat_ids))

    def to_dicts(self) -> List[dict]:
        """LVIS result dicts (mmdet's: ``image_id``, ``bbox``, ``score``, ``category_id``,
        ``segmentation`` for masks), in array order."""
        img, cat, score = self.img_id.tolist(), self.cat_id.tolist(), self.score.tolist()
        if self.masks is None:
            return [dict(image_id=i, bbox=b, score=s, category_id=c)
                    for i, b, s, c in zip(img, self.boxes.tolist(), score, cat)]
        if self.boxes is None:
            return [dict(image_id=i, score=s, category_id=c, segmentation=m)
                    for i, s, c, m in zip(img, score, cat, self.masks.to_list())]
        return [dict(image_id=i, bbox=b, score=s, category_id=c, segmentation=m)
                for i, b, s, c, m in zip(img, self.boxes.tolist(), score, cat,
                                         self.masks.to_list())]


@dataclass
class Selection:
    """Detections ``index`` (``None``: all) of ``arrays``, not gathered yet: what a share's
    task carries. Inside ``mapped_files.pickled_by_file_name``, when ``arrays`` map files (a pool's
    ``ColumnStore``), it pickles as those files' names and ``index``, and the process that
    evaluates the share gathers its detections; otherwise as those detections alone."""

    arrays: DetectionArrays
    index: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.arrays) if self.index is None else len(self.index)

    def resolve(self) -> DetectionArrays:
        return self.arrays if self.index is None else self.arrays.take(self.index)

    def __getstate__(self) -> dict:
        if self.arrays.travels_mapped():
            return dict(arrays=self.arrays, index=self.index)
        return dict(arrays=self.resolve(), index=None)


def resolved(detections: Union[None, DetectionArrays, Selection]) -> Optional[DetectionArrays]:
    """The detections of a selection, or ``detections`` themselves."""
    return detections.resolve() if isinstance(detections, Selection) else detections


__all__ = ['DetectionArrays', 'Masks', 'PackedRLE', 'Selection', 'counts_per_category',
           'packed', 'resolved', 'rows_of_categories', 'xywh']
