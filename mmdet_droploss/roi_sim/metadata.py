"""LVIS's per-category counts, as the package's metadata files give them."""
from __future__ import annotations

import json
import os.path as osp
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from .. import categories
from ..categories import BUILTIN_SOURCES

GROUP_INDEX = {'r': 0, 'c': 1, 'f': 2}


@dataclass(frozen=True)
class LVISCounts:
    """One LVIS version's categories, in id order (the classifier's order)."""

    version: str
    ids: Tuple[int, ...]
    names: Tuple[str, ...]
    synsets: Tuple[str, ...]
    frequency: Tuple[str, ...]  # 'r', 'c', 'f'
    image_count: np.ndarray  # training images that hold the category
    instance_count: np.ndarray  # training annotations of the category
    num_train_images: int  # training images with at least one annotation

    @property
    def num_classes(self) -> int:
        return len(self.ids)

    @property
    def group_index(self) -> np.ndarray:
        """0 = rare, 1 = common, 2 = frequent, per category."""
        return np.array([GROUP_INDEX[f] for f in self.frequency], np.int64)


def load_counts(version: str = 'lvis_v1') -> LVISCounts:
    """The shipped metadata of ``'lvis_v1'`` or ``'lvis_v0.5'``."""
    if version not in BUILTIN_SOURCES:
        raise ValueError(f'unknown LVIS version {version!r}: use one of {list(BUILTIN_SOURCES)}')
    path = osp.join(osp.dirname(categories.__file__), BUILTIN_SOURCES[version])
    with open(path) as f:
        meta = json.load(f)
    cats = sorted(meta['categories'], key=lambda c: c['id'])
    return LVISCounts(
        version=version,
        ids=tuple(c['id'] for c in cats),
        names=tuple(c['name'] for c in cats),
        synsets=tuple(c.get('synset', c['name']) for c in cats),
        frequency=tuple(c['frequency'] for c in cats),
        image_count=np.array([c['image_count'] for c in cats], np.int64),
        instance_count=np.array([c['instance_count'] for c in cats], np.int64),
        num_train_images=int(meta['num_train_images_with_annotations']))
