"""A synthetic long-tailed dataset in LVIS's regime, for the built-in loss benchmark.

The demo set (:mod:`.synthetic_lvis`) is easy on purpose: 20 well-separated classes on plain
noise, fully annotated. The paper's argument rests on a different regime (its Fig. 1): on LVIS
most of the discouraging gradient a rare class receives comes from background proposals, and a
trained model scores rare classes on background far below frequent ones. That regime comes from
LVIS's large fine-grained vocabulary and its federated, non-exhaustive annotation. This generator
reproduces those causes, each for a stated reason:

* **Vocabulary.** 60 categories in LVIS v0.5's rare / common / frequent proportions (454 / 461 /
  315 of 1230), binned by LVIS's own rule on the number of training images that *annotate* the
  category (1-10, 11-100, > 100), with a long tail inside each bin.
* **Shared attributes.** A category is a (shape, hue, shade, fill). Frequent categories are
  solid and come in pairs that differ only in shade (about 20 % apart, within the per-image
  illumination change), and such pairs tend to appear in the same images, as LVIS's frequent
  classes have near-synonyms that co-occur ("cup" / "mug"): a frequent class is discouraged by
  the foreground proposals of its sibling. Tail categories are striped; each shares shape, hue
  and shade with solid ones and its fill with the clutter, so that rare classes can be taken
  for frequent ones and for background.
* **Crowded images.** About 11 annotated objects per image (LVIS v0.5 train: 11), frequent
  categories with up to four instances per image, so that many sampled RoIs are foreground.
* **Federated labels.** Each image has a verified set of categories. Instances of tail
  categories are also present *unannotated* in other images, as a category that was never
  checked in an image is simply not labelled there; those categories are neither annotated nor
  negative in that image. Some frequent instances are left unannotated in images that declare
  the category in ``not_exhaustive_category_ids``, as LVIS does. ``neg_category_ids`` are
  categories verified absent: sampled among categories that are not in the image at all.
* **Clutter.** Unannotated two-toned objects (the tail's fills) in colours no category has
  (greys, brown), so that background proposals can look like (tail) objects.
* **Validation.** The same rules, minus the missing tail annotations, and at least
  ``min_val_images_rare`` images for every rare category, for a stable APr.

The same spec always gives byte-identical files. The annotation files follow LVIS v0.5/v1.
"""
from __future__ import annotations

import json
import os.path as osp
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .lvis_regime_vocabulary import HUES  # noqa: F401  (re-exported)
from .lvis_regime_vocabulary import (CLUTTER_COLOURS, SHAPES, category_attributes, category_name,
                                     draw_object, hue_colours, long_tail_counts, siblings)
from .synthetic_lvis import _background, _categories, _place_boxes, _polygon_area

TRAIN_ANN = 'annotations/lvis_bench_train.json'
VAL_ANN = 'annotations/lvis_bench_val.json'
TRAIN_IMAGES = 'train/'
VAL_IMAGES = 'val/'
# Beside each annotation file: every object drawn but not annotated (image, category or None
# for clutter, box, why: 'unverified' / 'not_exhaustive' / 'clutter'), for analysis and tests.
UNLABELLED_SUFFIX = '_unlabelled.json'


@dataclass(frozen=True)
class LVISRegimeSpec:
    """What to generate; the defaults make the benchmark set (``configs/benchmark/``)."""

    train_image_counts: Tuple[int, ...] = long_tail_counts()
    num_train_images: int = 720
    num_val_images: int = 240
    image_size: int = 128
    min_object_size: int = 14
    max_object_size: int = 34
    #: extra instances per image of a frequent category annotated in it: 0..this many
    max_extra_frequent_instances: int = 3
    #: a tail category appears unannotated in this many images per annotated image
    unannotated_tail_ratio: float = 2.0
    #: probability that an image declares a frequent category not exhaustive (one instance
    #: of it left unannotated)
    not_exhaustive_prob: float = 0.1
    clutter_per_image: Tuple[int, int] = (2, 4)
    negatives_per_image: Tuple[int, int] = (3, 8)
    min_val_images_rare: int = 10
    illumination_jitter: float = 0.2
    #: 'shared': each striped tail category shares shape, hue and shade with solid ones;
    #: 'distinct': the tail's (shape, hue) cells are ones no frequent category has
    tail_look: str = 'shared'
    #: the two-tone fills of the tail categories and the clutter (``TAIL_FILLS``)
    tail_fills: Tuple[str, ...] = ('striped',)
    seed: int = 0

    def __post_init__(self) -> None:
        if max(self.train_image_counts) > self.num_train_images:
            raise ValueError(f'A category cannot be annotated in {max(self.train_image_counts)} '
                             f'of {self.num_train_images} training images: raise num_train_images.')


def _assign(counts: Sequence[int], num_images: int, rng: np.random.Generator,
            exclude: Optional[List[List[int]]] = None,
            partner: Optional[Sequence[Optional[int]]] = None) -> List[List[int]]:
    """For each image, the categories in it; category k in ``counts[k]`` distinct images (at
    most as many as do not ``exclude`` it), preferring lightly loaded images and, where
    ``partner[k]`` names an earlier category, images that hold that partner (co-occurrence)."""
    per_image: List[List[int]] = [[] for _ in range(num_images)]
    load = np.zeros(num_images)
    for k, count in enumerate(counts):
        key = load.copy()
        if partner is not None and partner[k] is not None:
            key -= 2.0 * np.array([partner[k] in cats for cats in per_image])
        order = np.lexsort((rng.random(num_images), key))
        if exclude is not None:
            order = [i for i in order if k not in exclude[i]]
        for i in order[:count]:
            per_image[i].append(k)
            load[i] += 1
    return per_image


def _make_split(split_dir: Path, annotated: List[List[int]], unannotated: List[List[int]],
                spec: LVISRegimeSpec, attrs: Sequence[Tuple[str, str, int, str]],
                frequent: np.ndarray, rng: np.random.Generator, first_image_id: int,
                write_images: bool) -> Tuple[list, list, list]:
    import cv2

    if write_images:
        split_dir.mkdir(parents=True, exist_ok=True)
    num_classes = len(attrs)
    images, annotations, unlabelled = [], [], []
    for offset, (labelled, hidden) in enumerate(zip(annotated, unannotated)):
        image_id = first_image_id + offset
        # (category or -1 for clutter, annotated?) for every object drawn in this image, in the
        # order they are placed: if space runs out, clutter and extra instances go first, never
        # the one instance that makes a category annotated in the image, nor a hidden tail one.
        objects: List[Tuple[int, bool]] = [(k, True) for k in labelled]
        objects += [(k, False) for k in hidden]
        not_exhaustive = []
        for k in labelled:
            extra = int(rng.integers(0, spec.max_extra_frequent_instances + 1)) if frequent[k] else 0
            objects += [(k, True)] * extra
            if frequent[k] and rng.random() < spec.not_exhaustive_prob:
                objects.append((k, False))
                not_exhaustive.append(k + 1)
        objects += [(-1, False)] * int(rng.integers(spec.clutter_per_image[0],
                                                    spec.clutter_per_image[1] + 1))
        canvas = _background(spec.image_size, rng)
        light = 1 + rng.uniform(-spec.illumination_jitter, spec.illumination_jitter)
        boxes = _place_boxes(len(objects), spec, rng, gap=1, attempts=60)
        for (k, is_labelled), (cx, cy, size) in zip(objects, boxes):
            if k < 0:
                shape = SHAPES[int(rng.integers(len(SHAPES)))]
                base = np.array(CLUTTER_COLOURS[int(rng.integers(len(CLUTTER_COLOURS)))], float)
                # the clutter wears every tail fill (one fill draws nothing: the files of
                # single-fill designs stay as they were)
                pattern = spec.tail_fills[0] if len(spec.tail_fills) == 1 else \
                    spec.tail_fills[int(rng.integers(len(spec.tail_fills)))]
            else:
                shape, hue, shade, pattern = attrs[k]
                base = np.array(hue_colours(hue)[shade], float)
            colour = np.clip(base * light + rng.normal(0, 6, 3), 0, 255).astype(np.uint8)
            points = draw_object(canvas, shape, colour, pattern, cx, cy, size,
                           float(rng.uniform(-12, 12)))
            x0, y0 = points.min(axis=0)
            x1, y1 = points.max(axis=0)
            bbox = [round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2),
                    round(float(y1 - y0), 2)]
            if k < 0 or not is_labelled:
                reason = ('clutter' if k < 0 else
                          'not_exhaustive' if k + 1 in not_exhaustive else 'unverified')
                unlabelled.append(dict(image_id=image_id, category_id=k + 1 if k >= 0 else None,
                                       bbox=bbox, reason=reason))
                continue
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=k + 1,
                segmentation=[[round(float(v), 2) for v in points.reshape(-1)]],
                bbox=bbox, area=round(_polygon_area(points), 2)))
        present = {k for k, _ in objects if k >= 0}
        absent = np.array([c for c in range(num_classes) if c not in present])
        num_neg = min(len(absent), int(rng.integers(spec.negatives_per_image[0],
                                                    spec.negatives_per_image[1] + 1)))
        negatives = sorted(int(c) + 1 for c in rng.choice(absent, size=num_neg, replace=False))
        file_name = f'{image_id:08d}.png'
        if write_images:
            cv2.imwrite(str(split_dir / file_name), canvas)
        images.append(dict(id=image_id, file_name=file_name, width=spec.image_size,
                           height=spec.image_size, neg_category_ids=negatives,
                           not_exhaustive_category_ids=sorted(not_exhaustive)))
    return images, annotations, unlabelled


def generate_lvis_regime(out_dir: str, spec: LVISRegimeSpec = LVISRegimeSpec(),
                         write_images: bool = True) -> Dict[str, str]:
    """Write the benchmark set under ``out_dir`` and return the paths of its parts.

    Layout: ``annotations/lvis_bench_{train,val}.json`` (and ``*_unlabelled.json``: the objects
    drawn without an annotation) and ``{train,val}/<id>.png``. Category
    ids follow the training-image counts (id 1 = most frequent); ``frequency`` is LVIS's bin of
    the number of training images that annotate the category.
    """
    root = Path(out_dir)
    rng = np.random.default_rng(spec.seed)
    counts = np.asarray(spec.train_image_counts)
    attrs = category_attributes(counts, spec.seed, spec.tail_look, spec.tail_fills)
    partner = siblings(attrs)
    names = [category_name(a) for a in attrs]
    frequent = counts > 100
    tail = ~frequent

    train_labelled = _assign(counts, spec.num_train_images, rng, partner=partner)
    hidden_counts = np.where(tail, np.round(counts * spec.unannotated_tail_ratio), 0).astype(int)
    train_hidden = _assign(hidden_counts, spec.num_train_images, rng, exclude=train_labelled)

    scale = spec.num_val_images / spec.num_train_images
    val_counts = np.maximum(np.round(counts * scale), 4).astype(int)
    val_counts[counts <= 10] = np.maximum(val_counts[counts <= 10], spec.min_val_images_rare)
    val_labelled = _assign(val_counts, spec.num_val_images, rng, partner=partner)
    val_hidden: List[List[int]] = [[] for _ in range(spec.num_val_images)]

    train_images, train_anns, train_unlabelled = _make_split(root / TRAIN_IMAGES, train_labelled, train_hidden, spec,
                                           attrs, frequent, rng, 1, write_images)
    val_images, val_anns, val_unlabelled = _make_split(root / VAL_IMAGES, val_labelled, val_hidden, spec, attrs,
                                       frequent, rng, spec.num_train_images + 1, write_images)
    categories = _categories(names, train_images, train_anns)
    info = dict(description='mmdet-droploss synthetic set in the LVIS regime', version='1.0')
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    for rel, images, anns, unlabelled in (
            (TRAIN_ANN, train_images, train_anns, train_unlabelled),
            (VAL_ANN, val_images, val_anns, val_unlabelled)):
        with open(root / rel, 'w') as f:
            json.dump(dict(info=info, licenses=[], images=images, annotations=anns,
                           categories=categories), f)
        with open(root / rel.replace('.json', UNLABELLED_SUFFIX), 'w') as f:
            json.dump(unlabelled, f)
    return dict(root=str(root), train_ann=osp.join(str(root), TRAIN_ANN),
                val_ann=osp.join(str(root), VAL_ANN),
                train_unlabelled=osp.join(str(root), TRAIN_ANN.replace('.json', UNLABELLED_SUFFIX)),
                train_images=osp.join(str(root), TRAIN_IMAGES),
                val_images=osp.join(str(root), VAL_IMAGES))
