"""LVIS-style validation images: objects with boxes, federated label sets, proposals to score.

* Categories per image as in training (:func:`.images.draw_images`), with each category in
  LVIS's train-to-val share of its training images (v1: 19,809 / 99,388), at least
  ``spec.val_min_images`` (LVIS v1 val's per-category counts are not in the shipped metadata;
  the floor keeps APr stable) and instances per image as in training.
* LVIS's federated rules: a category's negative images (``neg_category_ids``: verified absent)
  are ``val_negatives_per_positive`` times its positive ones, drawn from the images that hold
  neither it nor an unannotated object of it; ``val_not_exhaustive_share`` of its positive
  images are ``not_exhaustive_category_ids`` (its unmatched detections there are ignored).
* Proposals: one per object (box = the object's box: box regression is not modelled, so AP
  here ranks classification), and ``val_background_proposals`` background ones per image split
  as in training into near-misses (a box at IoU 0.1-0.5 with an object), unannotated objects
  (real objects of a category not verified in the image: its detections there are neither
  true nor false, but take slots of the 300) and clutter (a box away from every object).
* Boxes: objects and proposals sit in the cells of a grid, one per cell, so that IoUs are the
  stated ones and nothing else overlaps.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .features import FeatureModel
from .images import ImageSet, draw_images
from .metadata import LVISCounts
from .sampler import CLUTTER, NEAR_MISS, POSITIVE, UNANNOTATED

CELL, BOX = 50, 30  # grid cell and object box size, pixels


@dataclass
class ValidationSet:
    images: ImageSet
    neg_pairs: np.ndarray  # (image, category) verified absent, (K, 2)
    not_exhaustive_pairs: np.ndarray  # (K, 2)
    # proposals, sorted by image
    proposal_offsets: np.ndarray  # (N + 1,)
    proposal_kind: np.ndarray  # POSITIVE (an annotated object) or a background kind
    proposal_category: np.ndarray  # the object's category (C for clutter)
    proposal_instance: np.ndarray  # the annotated object (-1 if none)
    proposal_iou: np.ndarray  # IoU with its object (features' noise, near-miss boxes)
    proposal_box: np.ndarray  # (P, 4) x1, y1, x2, y2
    instance_box: np.ndarray  # (I, 4)
    image_size: int


def val_image_counts(counts: LVISCounts, spec) -> np.ndarray:
    share = spec.num_val_images / counts.num_train_images
    return np.clip(np.maximum(np.round(counts.image_count * share).astype(np.int64),
                              spec.val_min_images), 1, spec.num_val_images)


def draw_validation(counts: LVISCounts, spec, rng: np.random.Generator) -> ValidationSet:
    n_img = val_image_counts(counts, spec)
    per_image = counts.instance_count / counts.image_count
    n_inst = np.maximum(np.round(n_img * per_image).astype(np.int64), n_img)
    images = draw_images(n_img, n_inst, spec.num_val_images, spec, rng)
    C, N = images.num_classes, images.num_images

    # background proposals: kinds as in training
    n_bg = spec.val_background_proposals
    u = rng.random((N, n_bg))
    kind = np.where(u < spec.near_miss_share, NEAR_MISS,
                    np.where(u < spec.near_miss_share + spec.unannotated_share, UNANNOTATED,
                             CLUTTER)).ravel()
    bg_image = np.repeat(np.arange(N), n_bg)
    inst_count = np.diff(images.instance_offsets)
    missed = images.instance_offsets[bg_image] + (rng.random(len(bg_image)) *
                                                  inst_count[bg_image]).astype(np.int64)
    freq = counts.image_count / counts.image_count.sum()
    other = np.minimum(np.searchsorted(np.cumsum(freq), rng.random(len(bg_image))), C - 1)
    annotated = np.isin(bg_image * C + other, images.pair_keys())
    kind[(kind == UNANNOTATED) & annotated] = CLUTTER
    bg_category = np.where(kind == NEAR_MISS, images.instance_category[missed],
                           np.where(kind == UNANNOTATED, other, C))
    bg_instance = np.where(kind == NEAR_MISS, missed, -1)
    bg_iou = np.where(kind == NEAR_MISS, rng.uniform(0.1, 0.5, len(bg_image)),
                      rng.uniform(0.5, 1.0, len(bg_image)))

    # objects' proposals, then background, sorted by image
    n_obj = len(images.instance_category)
    prop_image = np.r_[images.instance_image, bg_image]
    order = np.argsort(prop_image, kind='stable')
    kinds = np.r_[np.full(n_obj, POSITIVE), kind][order]
    category = np.r_[images.instance_category, bg_category][order]
    instance = np.r_[np.arange(n_obj), bg_instance][order]
    iou = np.r_[rng.uniform(0.5, 1.0, n_obj), bg_iou][order]
    offsets = np.searchsorted(prop_image[order], np.arange(N + 1))
    instance_box, proposal_box, size = _boxes(images, offsets, kinds, instance, iou)

    neg = _negative_pairs(images, bg_image[kind == UNANNOTATED], other[kind == UNANNOTATED],
                          spec.val_negatives_per_positive, rng)
    pair_image = images.pair_image
    ne = rng.random(len(pair_image)) < spec.val_not_exhaustive_share
    not_exhaustive = np.stack([pair_image[ne], images.pair_category[ne]], 1)
    return ValidationSet(images, neg, not_exhaustive, offsets, kinds, category, instance, iou,
                         proposal_box, instance_box, size)


def _negative_pairs(images: ImageSet, unannotated_image: np.ndarray,
                    unannotated_category: np.ndarray, ratio: float,
                    rng: np.random.Generator) -> np.ndarray:
    """Per category, ``ratio`` x its positive images drawn among the images that hold neither
    it nor an unannotated object of it."""
    C, N = images.num_classes, images.num_images
    taken = np.union1d(images.pair_keys(), unannotated_image * C + unannotated_category)
    wanted = np.round(images.images_per_category() * ratio).astype(np.int64)
    # candidates with replacement, twice what is wanted; the free ones, once each, in a
    # random order; each category's first ``wanted``
    category = np.repeat(np.arange(C), 2 * wanted + 10)
    keys = rng.integers(N, size=len(category)) * C + category
    keys = np.unique(keys[~np.isin(keys, taken)])
    keys = keys[rng.permutation(len(keys))]
    keys = keys[np.argsort(keys % C, kind='stable')]
    cat = keys % C
    starts = np.searchsorted(cat, np.arange(C))
    rank = np.arange(len(keys)) - starts[cat]
    keys = np.sort(keys[rank < wanted[cat]])
    return np.stack([keys // C, keys % C], 1)


def _boxes(images: ImageSet, offsets: np.ndarray, kinds: np.ndarray, instance: np.ndarray,
           iou: np.ndarray):
    """Each proposal in its own grid cell, except near-misses, which sit on their object's box
    shifted right to the stated IoU (same size: IoU = (w - dx) / (w + dx))."""
    per_image = np.diff(offsets)
    cells = int(np.ceil(np.sqrt(per_image.max())))
    size = cells * CELL
    rank = np.arange(len(kinds)) - np.repeat(offsets[:-1], per_image)
    x0 = (rank % cells) * CELL + (CELL - BOX) // 2
    y0 = (rank // cells) * CELL + (CELL - BOX) // 2
    box = np.stack([x0, y0, x0 + BOX, y0 + BOX], 1).astype(np.float64)
    instance_box = np.zeros((len(images.instance_category), 4))
    is_obj = kinds == POSITIVE
    instance_box[instance[is_obj]] = box[is_obj]
    near = kinds == NEAR_MISS
    dx = BOX * (1 - iou[near]) / (1 + iou[near])
    box[near] = instance_box[instance[near]] + dx[:, None] * np.array([1, 0, 1, 0])
    return instance_box, box, size


def proposal_features(val: ValidationSet, features: FeatureModel,
                      gen: torch.Generator) -> Tensor:
    """Every proposal's feature, by the training model (objects' instance offsets drawn
    here: validation objects are new instances)."""
    category = torch.from_numpy(val.proposal_category)
    iou = torch.from_numpy(val.proposal_iou).float()
    kinds = torch.from_numpy(val.proposal_kind)
    n = len(category)
    inst_offsets = features.instance_offsets(len(val.images.instance_category), gen)
    instance = torch.from_numpy(np.maximum(val.proposal_instance, 0))
    safe_cat = category.clamp(max=features.prototypes.shape[0] - 1)
    objects = features.objects(safe_cat, inst_offsets[instance], iou, gen)
    unannotated = features.objects(safe_cat, features.instance_offsets(n, gen), iou, gen)
    near = features.near_misses(safe_cat, inst_offsets[instance], iou, gen)
    out = torch.where((kinds == POSITIVE)[:, None], objects, features.clutter(n, gen))
    out = torch.where((kinds == NEAR_MISS)[:, None], near, out)
    return torch.where((kinds == UNANNOTATED)[:, None], unannotated, out)


def write_ground_truth(val: ValidationSet, counts: LVISCounts, path: str) -> None:
    """The LVIS-format annotation file of the validation set (boxes only)."""
    ids = np.asarray(counts.ids)
    neg = _by_image(val.neg_pairs, val.images.num_images, ids)
    ne = _by_image(val.not_exhaustive_pairs, val.images.num_images, ids)
    images = [dict(id=i + 1, width=val.image_size, height=val.image_size,
                   neg_category_ids=neg[i], not_exhaustive_category_ids=ne[i])
              for i in range(val.images.num_images)]
    b = val.instance_box
    xywh = np.c_[b[:, :2], b[:, 2:] - b[:, :2]]
    annotations = [dict(id=k + 1, image_id=int(img) + 1, category_id=int(ids[c]),
                        bbox=[float(v) for v in xywh[k]], area=float(xywh[k, 2] * xywh[k, 3]),
                        iscrowd=0)
                   for k, (img, c) in enumerate(zip(val.images.instance_image,
                                                    val.images.instance_category))]
    categories = [dict(id=int(i), name=n, synset=s, frequency=f, image_count=int(c))
                  for i, n, s, f, c in zip(counts.ids, counts.names, counts.synsets,
                                           counts.frequency, counts.image_count)]
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)


def _by_image(pairs: np.ndarray, num_images: int, ids: np.ndarray) -> list:
    out = [[] for _ in range(num_images)]
    for img, c in pairs.tolist():
        out[img].append(int(ids[c]))
    return out
