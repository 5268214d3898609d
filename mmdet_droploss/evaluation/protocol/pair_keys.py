"""(image, category) pairs as one integer key each: LVIS's federated rules in numpy.

LVIS evaluates a detection of category ``c`` in image ``i`` only if the pair is labelled:
``c`` is annotated in ``i`` or listed in its ``neg_category_ids``; unmatched detections of a
pair listed in ``not_exhaustive_category_ids`` are not false positives. Every such question
is a set operation on pairs, so pairs are keyed ``image * stride + category`` with ``stride``
above every category id involved (:class:`PairKeys`): keys sort as (image, category) and
``np.isin`` over them is the lookup. Which stride is used never changes a result, only that
it covers the ids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Tuple

import numpy as np


@dataclass(frozen=True)
class PairKeys:
    """Keys ``image * stride + category`` of (image, category) pairs."""

    stride: int

    @classmethod
    def covering(cls, *cat_ids: np.ndarray) -> 'PairKeys':
        """Keys for pairs whose categories are among ``cat_ids`` (arrays of category ids)."""
        return cls(1 + int(max([0] + [np.max(c, initial=0) for c in cat_ids])))

    def keys(self, img_ids, cat_ids) -> np.ndarray:
        return np.asarray(img_ids, np.int64) * self.stride + np.asarray(cat_ids, np.int64)

    def images(self, keys: np.ndarray) -> np.ndarray:
        return keys // self.stride

    def categories(self, keys: np.ndarray) -> np.ndarray:
        return keys % self.stride


def image_pairs(images: Sequence[dict], field: str) -> Tuple[np.ndarray, np.ndarray]:
    """(image ids, category ids) of the pairs listed in each image's ``field``
    (``neg_category_ids`` or ``not_exhaustive_category_ids``)."""
    counts = [len(img.get(field, ())) for img in images]
    cats = np.asarray([c for img in images for c in img.get(field, ())], np.int64)
    return np.repeat(np.asarray([img['id'] for img in images], np.int64), counts), cats


def annotated_pairs(annotations: Sequence[dict]) -> Tuple[np.ndarray, np.ndarray]:
    """(image ids, category ids) of each annotation, in dataset order."""
    n = len(annotations)
    return (np.fromiter((a['image_id'] for a in annotations), np.int64, n),
            np.fromiter((a['category_id'] for a in annotations), np.int64, n))


def key_isin(keys: np.ndarray, among: np.ndarray) -> np.ndarray:
    """``np.isin`` for pair keys: a lookup table over their range (tens of millions for LVIS,
    one byte each) instead of sorting both arrays."""
    if among.size and keys.size and int(among.max()) - int(among.min()) < 2**28:
        return np.isin(keys, among, kind='table')
    return np.isin(keys, among)


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """The distinct values of sorted ``keys`` (``np.unique`` without its sort)."""
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if keys.size else keys


def sorted_union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.union1d`` of two sorted arrays of distinct integers. Their concatenation is two
    sorted runs, which numpy's stable sort (timsort) merges in one pass."""
    return sorted_unique(np.sort(np.concatenate([a, b]), kind='stable'))


def sorted_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.intersect1d`` of two sorted arrays of distinct integers, by binary search."""
    if not a.size or not b.size:
        return a[:0]
    at = np.minimum(np.searchsorted(b, a), b.size - 1)
    return a[b[at] == a]


__all__ = ['PairKeys', 'annotated_pairs', 'image_pairs', 'key_isin', 'sorted_intersection',
           'sorted_union', 'sorted_unique']
