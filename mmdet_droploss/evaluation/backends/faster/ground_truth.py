"""faster-coco-eval's ground truth, with the columns evaluation reads computed once.

``COCOeval._prepare`` and ``loadRes`` (faster-coco-eval 1.8) walk the annotation dicts in
Python at every evaluation; a share evaluates several chunks of categories against one ground
truth. :class:`IndexedCOCO` (what this back end loads) keeps, per ground truth, the annotations'
image and category ids, boxes and crowd flags, the image sizes and the labelled pairs as arrays
(:class:`GroundTruthColumns`), so each is computed once; a plain ``COCO`` gets the same columns
computed for the evaluation at hand (:func:`columns_of`).
"""
from __future__ import annotations

from functools import cached_property
from typing import Dict, Tuple

import numpy as np
from faster_coco_eval import COCO

from ...protocol.pair_keys import annotated_pairs, image_pairs

Pairs = Tuple[np.ndarray, np.ndarray]  # (image ids, category ids)


def image_sizes(dataset: dict) -> Dict[int, Tuple[int, int]]:
    """Image id -> (height, width) of an LVIS-format dataset, what the RLE conversion takes."""
    return {img['id']: (img['height'], img['width']) for img in dataset['images']}


def to_rles(anns: list, sizes: Dict[int, Tuple[int, int]]) -> None:
    """faster-coco-eval's conversion of each annotation's segmentation to its ``rle``."""
    from faster_coco_eval import mask_api_new_cpp
    mask_api_new_cpp.calculateRleForAllAnnotations(anns, sizes, True, False, 0.02, 1)


def attach_rles(dataset: dict) -> None:
    """Give each annotation of an LVIS-format ``dataset`` without one its ``rle`` (the
    conversion of its segmentation, which depends on nothing else). The shares' datasets
    hold the same annotation dicts as the dataset they were cut from, so the conversion is
    done once per dict: once per annotation file in a pool worker (when it starts, while the
    model runs), once per metric in one process (at its first segm evaluation)."""
    missing = [a for a in dataset['annotations'] if 'rle' not in a]
    if missing:
        to_rles(missing, image_sizes(dataset))


class GroundTruthColumns:
    """The arrays of a ground-truth ``COCO`` object that evaluation reads, each computed at
    first use (the annotations in dataset order)."""

    def __init__(self, coco: COCO) -> None:
        self.coco = coco
        self._rles_attached = False

    @cached_property
    def pairs(self) -> Pairs:
        """(image id, category id) of every annotation."""
        return annotated_pairs(self.coco.dataset.get('annotations', []))

    @cached_property
    def boxes(self) -> np.ndarray:
        """(x, y, w, h) of every annotation, doubles."""
        anns = self.coco.dataset['annotations']
        return np.asarray([a['bbox'] for a in anns], np.float64).reshape(-1, 4)

    @cached_property
    def crowd(self) -> np.ndarray:
        anns = self.coco.dataset['annotations']
        return np.fromiter((a.get('iscrowd', 0) for a in anns), bool, len(anns))

    @cached_property
    def image_sizes(self) -> Dict[int, Tuple[int, int]]:
        return image_sizes(self.coco.dataset)

    @cached_property
    def labelled(self) -> Pairs:
        """The pairs LVIS evaluates: annotated (repeats are fine: a lookup) or negative."""
        neg = image_pairs(self.coco.dataset['images'], 'neg_category_ids')
        return (np.concatenate([self.pairs[0], neg[0]]),
                np.concatenate([self.pairs[1], neg[1]]))

    def attach_rles(self) -> None:
        """:func:`attach_rles` of the ground truth's dataset, once."""
        if not self._rles_attached:
            attach_rles(self.coco.dataset)
            self._rles_attached = True


class IndexedCOCO(COCO):
    """faster-coco-eval's ``COCO`` with its :class:`GroundTruthColumns` (the dataset is not
    changed after it is loaded)."""

    @cached_property
    def columns(self) -> GroundTruthColumns:
        return GroundTruthColumns(self)


def columns_of(gt: COCO) -> GroundTruthColumns:
    """The columns of a ground truth: kept by an :class:`IndexedCOCO`, else computed anew."""
    return gt.columns if isinstance(gt, IndexedCOCO) else GroundTruthColumns(gt)


def load_ground_truth(ann_file: str) -> IndexedCOCO:
    return IndexedCOCO(ann_file)


def ground_truth_from_dataset(dataset: dict) -> IndexedCOCO:
    """The ground truth of an LVIS-format dict (no file): a share's ground truth."""
    gt = IndexedCOCO()
    gt.dataset = dataset
    gt.createIndex()
    return gt


__all__ = ['GroundTruthColumns', 'IndexedCOCO', 'attach_rles', 'columns_of',
           'ground_truth_from_dataset', 'image_sizes', 'load_ground_truth', 'to_rles']
