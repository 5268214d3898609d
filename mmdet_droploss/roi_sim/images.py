"""Which categories each image holds, and how many instances of each.

LVIS fixes, per category, the number of training images that hold it (``image_count``) and its
number of annotations (``instance_count``); it does not publish which images hold which
categories. The stated model: every image has a scene (one of ``spec.scenes``) and a
log-normal "busyness"; each category has a home scene and takes exactly its ``image_count``
images, drawn without replacement with weight busyness x (``scene_boost`` in its home scene),
so that categories co-occur more than chance (those of one scene, and all of them in busy
images). An image left without a category takes one from an image that has several (counts
unchanged). A category's instances beyond one per image are spread uniformly over its images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ImageSet:
    """Images as flat arrays, sorted by image: ``pair_*`` (one per (image, category)) and
    ``instance_*`` (one per object); ``*_offsets[i]:*_offsets[i + 1]`` are image ``i``'s."""

    num_images: int
    num_classes: int
    pair_offsets: np.ndarray  # (N + 1,)
    pair_category: np.ndarray  # (P,)
    instance_offsets: np.ndarray  # (N + 1,)
    instance_category: np.ndarray  # (I,)

    @property
    def pair_image(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_images), np.diff(self.pair_offsets))

    @property
    def instance_image(self) -> np.ndarray:
        return np.repeat(np.arange(self.num_images), np.diff(self.instance_offsets))

    def images_per_category(self) -> np.ndarray:
        return np.bincount(self.pair_category, minlength=self.num_classes)

    def instances_per_category(self) -> np.ndarray:
        return np.bincount(self.instance_category, minlength=self.num_classes)

    def pair_keys(self) -> np.ndarray:
        """``image * C + category`` of every pair, ascending (for membership tests)."""
        return self.pair_image * self.num_classes + self.pair_category


def draw_images(image_count: np.ndarray, instance_count: np.ndarray, num_images: int,
                spec, rng: np.random.Generator) -> ImageSet:
    """An :class:`ImageSet` with exactly ``image_count[j]`` images and ``instance_count[j]``
    instances of category ``j`` (``instance_count >= image_count``)."""
    num_classes = len(image_count)
    if image_count.max() > num_images or image_count.sum() < num_images:
        raise ValueError(f'{num_images} images cannot hold categories in {image_count.max()} '
                         f'to {image_count.sum()} images in all')
    scene = rng.integers(spec.scenes, size=num_images)
    home = rng.integers(spec.scenes, size=num_classes)
    log_busy = rng.normal(0.0, spec.busyness_sigma, num_images)
    boost = np.log(spec.scene_boost)
    images, categories = [], []
    for j in range(num_classes):  # data generation: one weighted draw per category
        keys = log_busy + boost * (scene == home[j]) + rng.gumbel(size=num_images)
        chosen = np.argpartition(-keys, image_count[j] - 1)[:image_count[j]]
        images.append(chosen)
        categories.append(np.full(len(chosen), j))
    pair_image = np.concatenate(images)
    pair_category = np.concatenate(categories)
    pair_image = _fill_empty_images(pair_image, num_images, rng)
    order = np.lexsort((pair_category, pair_image))
    pair_image, pair_category = pair_image[order], pair_category[order]
    pair_offsets = np.searchsorted(pair_image, np.arange(num_images + 1))
    # instances: one per pair, the category's remaining ones spread uniformly over its pairs
    extra = np.maximum(instance_count - image_count, 0)
    by_category = np.argsort(pair_category, kind='stable')
    first = np.r_[0, np.cumsum(image_count)[:-1]]
    extra_category = np.repeat(np.arange(num_classes), extra)
    extra_pair = by_category[first[extra_category] +
                             (rng.random(len(extra_category)) *
                              image_count[extra_category]).astype(np.int64)]
    per_pair = 1 + np.bincount(extra_pair, minlength=len(pair_category))
    instance_category = np.repeat(pair_category, per_pair)
    instance_offsets = np.r_[0, np.cumsum(np.add.reduceat(per_pair, pair_offsets[:-1]))] \
        if len(per_pair) else np.zeros(num_images + 1, np.int64)
    return ImageSet(num_images, num_classes, pair_offsets, pair_category,
                    instance_offsets.astype(np.int64), instance_category)


def _fill_empty_images(pair_image: np.ndarray, num_images: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Move pairs from images with several categories to images with none (each donor image
    gives at most one pair, and keeps at least one)."""
    counts = np.bincount(pair_image, minlength=num_images)
    empty = np.flatnonzero(counts == 0)
    if len(empty) == 0:
        return pair_image
    donors = np.flatnonzero(counts[pair_image] >= 2)
    donors = donors[rng.permutation(len(donors))]
    _, first = np.unique(pair_image[donors], return_index=True)  # one pair per donor image
    donors = donors[np.sort(first)]
    if len(donors) < len(empty):
        raise ValueError('too few categories per image to leave no image empty')
    pair_image = pair_image.copy()
    pair_image[donors[:len(empty)]] = empty
    return pair_image
