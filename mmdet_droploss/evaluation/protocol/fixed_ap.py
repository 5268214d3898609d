"""AP-Fixed: LVIS AP with a per-class detection budget instead of a per-image cap.

Dave, Dollar, Ramanan, Kirillov, Girshick, "Evaluating Large-Vocabulary Object Detectors: The
Devil is in the Details" (2021), Sec. 4: standard LVIS AP keeps the 300 highest-scoring
detections of each image over all categories, so re-ranking scores across categories changes
AP. AP-Fixed removes the per-image cap and instead keeps, for every category, its ``K``
highest-scoring detections over the whole dataset (``K = 10,000`` in the paper and the LVIS
2021 challenge); everything else (federated labels, IoU thresholds, r/c/f groups) is LVIS's.

Here: the selection is ``ranking.top_k_per_class`` (vectorised, stable: equal scores keep
their input order, as Python's ``sorted`` does in the authors' script), :class:`PerClassTopK`
applies it while results stream in, so the memory held is bounded by about ``2 K x classes``
detections rather than by every raw detection; ``backends.evaluate_fixed`` evaluates the kept
detections with either back end and no per-image cap.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from ..columns.detection_arrays import DetectionArrays, PackedRLE, xywh
from .ranking import top_k_per_class

DEFAULT_DETS_PER_CLASS = 10000
# below this many buffered detections PerClassTopK never prunes (pruning has a fixed cost)
_MIN_PRUNE_SIZE = 100000


class PerClassTopK:
    """A per-class budget over a stream of detections (the metric's AP-Fixed store).

    Every call of :meth:`add` appends one image's detections; whenever the store has grown to
    twice what the last pruning left (and at least ``_MIN_PRUNE_SIZE``), it keeps only the
    ``k`` best of each class. The top ``k`` of a union is the top ``k`` of the union of the
    parts' top ``k``, so pruning early never changes the result, and stores of several
    processes merge exactly (:meth:`merge`; duplicated images, as a distributed sampler's
    padding makes, count once).

    Each detection carries ``img_id``, its index within the image, ``label``, ``score`` and a
    payload: an (x1, y1, x2, y2) box for bbox, an RLE dict for segm.
    """

    def __init__(self, k: int = DEFAULT_DETS_PER_CLASS) -> None:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ValueError(f'The per-class detection budget must be a positive integer '
                             f'(the paper uses {DEFAULT_DETS_PER_CLASS}), got {k!r}.')
        self.k = int(k)
        self._parts: List[Dict[str, np.ndarray]] = []
        self._size = 0
        self._kept_size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, img_id: int, labels: np.ndarray, scores: np.ndarray, payload) -> None:
        """Add one image's detections (``payload``: an (N, 4) box array or N RLE dicts)."""
        n = len(labels)
        if n == 0:
            return
        if isinstance(payload, PackedRLE):
            payload = payload.to_list()
        if isinstance(payload, np.ndarray):
            payload_arr = payload
        else:
            payload_arr = np.empty(n, dtype=object)
            payload_arr[:] = list(payload)
        self._parts.append(dict(img_id=np.full(n, img_id, dtype=np.int64),
                                index=np.arange(n, dtype=np.int64),
                                label=np.asarray(labels, dtype=np.int64),
                                score=np.asarray(scores, dtype=np.float64),
                                payload=payload_arr))
        self._size += n
        if self._size >= max(2 * self._kept_size, _MIN_PRUNE_SIZE):
            self.prune()

    def _concatenated(self) -> Dict[str, np.ndarray]:
        if not self._parts:
            return dict(img_id=np.zeros(0, np.int64), index=np.zeros(0, np.int64),
                        label=np.zeros(0, np.int64), score=np.zeros(0),
                        payload=np.zeros(0, dtype=object))
        if len(self._parts) > 1:
            self._parts = [{key: np.concatenate([p[key] for p in self._parts])
                            for key in self._parts[0]}]
        return self._parts[0]

    def prune(self) -> None:
        """Keep only the ``k`` best detections of every class."""
        data = self._concatenated()
        keep = top_k_per_class(data['label'], data['score'], self.k)
        if keep.size < data['label'].size:
            self._parts = [{key: value[keep] for key, value in data.items()}]
        self._size = self._kept_size = int(keep.size)

    def state(self) -> Dict[str, np.ndarray]:
        """What to send to the rank that evaluates (pruned, picklable)."""
        self.prune()
        return dict(self._concatenated())

    @classmethod
    def merge(cls, k: int, states: Sequence[Dict[str, np.ndarray]]) -> 'PerClassTopK':
        """One store from the :meth:`state` of several (an image seen twice counts once)."""
        merged = cls(k)
        states = [s for s in states if s is not None and len(s['label'])]
        if states:
            data = {key: np.concatenate([s[key] for s in states]) for key in states[0]}
            pairs = np.stack([data['img_id'], data['index']], axis=1)
            _, first = np.unique(pairs, axis=0, return_index=True)
            first = np.sort(first)
            merged._parts = [{key: value[first] for key, value in data.items()}]
            merged._size = int(first.size)
            merged.prune()
        return merged

    def arrays(self, cat_ids: Sequence[int]) -> DetectionArrays:
        """The kept detections as columns (labels mapped to ``cat_ids``, boxes as x, y, w, h,
        masks with ``str`` counts), in arrival order."""
        self.prune()
        data = self._concatenated()
        order = np.lexsort((data['index'], data['img_id']))
        payload = data['payload'][order]
        arrays = DetectionArrays(data['img_id'][order],
                                 np.asarray(cat_ids, np.int64)[data['label'][order]],
                                 data['score'][order])
        if payload.dtype != object:  # boxes
            arrays.boxes = xywh(payload.astype(np.float64))
        else:
            arrays.masks = PackedRLE.pack(payload.tolist())
        return arrays

    def detections(self, cat_ids: Sequence[int]) -> List[dict]:
        """The kept detections as LVIS result dicts, in arrival order."""
        return self.arrays(cat_ids).to_dicts()


def select_fixed(detections: Sequence[dict], k: int = DEFAULT_DETS_PER_CLASS) -> List[dict]:
    """The ``k`` best detections of each category among LVIS result dicts (file order kept)."""
    if not detections:
        return []
    labels = np.fromiter((d['category_id'] for d in detections), np.int64, len(detections))
    scores = np.fromiter((d['score'] for d in detections), np.float64, len(detections))
    return [detections[i] for i in top_k_per_class(labels, scores, k).tolist()]


__all__ = ['DEFAULT_DETS_PER_CLASS', 'PerClassTopK', 'select_fixed']
