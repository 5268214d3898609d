"""A small, deterministic, long-tailed instance-segmentation dataset in LVIS format.

It exists so that the whole loop (data, training with DropLoss, LVIS evaluation) runs in minutes
on a laptop CPU with no download. Every category is a (shape, colour) pair drawn as a filled
polygon on a textured background, so a tiny detector learns it quickly; the number of training
images per category follows a long tail chosen so that LVIS's own frequency bins give rare
(1-10 images), common (11-100) and frequent (>100) groups.

The annotation files follow LVIS v0.5/v1 exactly: categories carry ``frequency``,
``image_count`` and ``instance_count``; images carry ``neg_category_ids`` and
``not_exhaustive_category_ids``; instances carry polygon ``segmentation``, ``bbox`` and ``area``.
Images are written as PNG files. The same arguments always give byte-identical output.
"""
from __future__ import annotations

import json
import math
import os.path as osp
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

SHAPES: Tuple[str, ...] = ('square', 'triangle', 'diamond', 'hexagon', 'star')
COLOURS: Dict[str, Tuple[int, int, int]] = {  # BGR, far apart in hue and brightness
    'red': (40, 40, 220), 'green': (60, 190, 60), 'blue': (220, 90, 30), 'yellow': (40, 220, 230)
}
# Training-image counts per category, most frequent first: 6 frequent, 8 common, 6 rare.
DEFAULT_TRAIN_IMAGE_COUNTS: Tuple[int, ...] = (
    180, 160, 150, 135, 120, 110,  # frequent (> 100 images)
    90, 70, 55, 40, 30, 22, 16, 12,  # common (11..100)
    9, 7, 5, 4, 3, 2)  # rare (1..10)

TRAIN_ANN = 'annotations/lvis_demo_train.json'
VAL_ANN = 'annotations/lvis_demo_val.json'
TRAIN_IMAGES = 'train/'
VAL_IMAGES = 'val/'


@dataclass(frozen=True)
class SyntheticLVISSpec:
    """What to generate. The defaults make the demo dataset of ``configs/demo/``."""

    num_train_images: int = 400
    num_val_images: int = 80
    image_size: int = 128
    train_image_counts: Tuple[int, ...] = DEFAULT_TRAIN_IMAGE_COUNTS
    min_val_images_per_class: int = 4
    min_object_size: int = 18
    max_object_size: int = 44
    seed: int = 0

    def __post_init__(self) -> None:
        num_classes = len(self.train_image_counts)
        if not 1 <= num_classes <= len(SHAPES) * len(COLOURS):
            raise ValueError(f'train_image_counts defines {num_classes} categories; between 1 '
                             f'and {len(SHAPES) * len(COLOURS)} (shapes x colours) are possible.')
        if max(self.train_image_counts) > self.num_train_images:
            raise ValueError(f'A category cannot appear in {max(self.train_image_counts)} of '
                             f'{self.num_train_images} training images: raise num_train_images.')
        if self.min_object_size * 2 > self.image_size:
            raise ValueError(f'image_size={self.image_size} is too small for objects of at '
                             f'least {self.min_object_size} pixels.')


def category_names(num_classes: int = len(DEFAULT_TRAIN_IMAGE_COUNTS)) -> Tuple[str, ...]:
    """Names of the categories, in id order (``'red_square'``, ``'green_square'``, ...)."""
    pairs = [f'{colour}_{shape}' for shape in SHAPES for colour in COLOURS]
    return tuple(pairs[:num_classes])


def _shape_polygon(shape: str, cx: float, cy: float, size: float, angle: float) -> np.ndarray:
    """Vertices (K, 2) of a shape of the given bounding size, centred at (cx, cy)."""
    radius = size / 2.0
    if shape == 'square':
        angles = np.array([45, 135, 225, 315], dtype=np.float64)
        radii = np.full(4, radius * math.sqrt(2) * 0.72)
    elif shape == 'triangle':
        angles = np.array([90, 210, 330], dtype=np.float64)
        radii = np.full(3, radius)
    elif shape == 'diamond':
        angles = np.array([0, 90, 180, 270], dtype=np.float64)
        radii = np.array([radius * 0.65, radius, radius * 0.65, radius])
    elif shape == 'hexagon':
        angles = np.arange(6, dtype=np.float64) * 60
        radii = np.full(6, radius)
    elif shape == 'star':
        angles = np.arange(10, dtype=np.float64) * 36 + 90
        radii = np.where(np.arange(10) % 2 == 0, radius, radius * 0.45)
    else:
        raise ValueError(f'unknown shape {shape!r}')
    theta = np.deg2rad(angles + angle)
    points = np.stack([cx + radii * np.cos(theta), cy - radii * np.sin(theta)], axis=1)
    return points


def _assign_categories(counts: Sequence[int], num_images: int,
                       rng: np.random.Generator) -> List[List[int]]:
    """For each image, the category indices it contains (each category in ``counts[k]`` images)."""
    per_image: List[List[int]] = [[] for _ in range(num_images)]
    load = np.zeros(num_images)
    for k, count in enumerate(counts):
        # Prefer lightly loaded images so objects spread out, with random tie-breaking.
        order = np.lexsort((rng.random(num_images), load))
        for image_index in order[:count]:
            per_image[image_index].append(k)
            load[image_index] += 1
    return per_image


def _place_boxes(num_objects: int, spec, rng: np.random.Generator, gap: float = 2,
                 attempts: int = 50) -> List[Tuple[float, float, float]]:
    """Non-overlapping (cx, cy, size) squares inside the image, ``gap`` pixels apart; fewer if
    space runs out. ``spec`` gives ``image_size``, ``min_object_size``, ``max_object_size``."""
    placed: List[Tuple[float, float, float]] = []
    for _ in range(num_objects):
        for _attempt in range(attempts):
            size = float(rng.integers(spec.min_object_size, spec.max_object_size + 1))
            half = size / 2 + 1
            cx = float(rng.uniform(half, spec.image_size - half))
            cy = float(rng.uniform(half, spec.image_size - half))
            if all(abs(cx - x) > (size + s) / 2 + gap or abs(cy - y) > (size + s) / 2 + gap
                   for x, y, s in placed):
                placed.append((cx, cy, size))
                break
    return placed


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    base = rng.integers(90, 150, size=3)
    noise = rng.normal(0, 12, size=(size, size, 1))
    image = np.clip(base[None, None, :] + noise, 0, 255)
    return image.astype(np.uint8)


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2.0)


def _make_split(split_dir: Path, per_image: List[List[int]],
                spec: SyntheticLVISSpec, rng: np.random.Generator, first_image_id: int,
                names: Sequence[str], write_images: bool) -> Tuple[list, list]:
    import cv2  # opencv comes with mmcv; imported lazily so metadata use stays light

    if write_images:
        split_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    num_classes = len(names)
    for offset, categories in enumerate(per_image):
        image_id = first_image_id + offset
        file_name = f'{image_id:08d}.png'
        canvas = _background(spec.image_size, rng)
        boxes = _place_boxes(len(categories), spec, rng)
        present = set()
        for k, (cx, cy, size) in zip(categories, boxes):
            shape, colour = names[k].split('_')[1], names[k].split('_')[0]
            points = _shape_polygon(shape, cx, cy, size, float(rng.uniform(-15, 15)))
            points = np.clip(points, 0, spec.image_size - 1)
            cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], COLOURS[colour])
            x0, y0 = points.min(axis=0)
            x1, y1 = points.max(axis=0)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=k + 1,
                segmentation=[[round(float(v), 2) for v in points.reshape(-1)]],
                bbox=[round(float(x0), 2), round(float(y0), 2), round(float(x1 - x0), 2),
                      round(float(y1 - y0), 2)],
                area=round(_polygon_area(points), 2)))
            present.add(k + 1)
        if write_images:
            cv2.imwrite(str(split_dir / file_name), canvas)
        absent = [c for c in range(1, num_classes + 1) if c not in present]
        negatives = sorted(int(c) for c in rng.choice(absent, size=min(3, len(absent)),
                                                        replace=False)) if absent else []
        images.append(dict(
            id=image_id, file_name=file_name, width=spec.image_size,
            height=spec.image_size, neg_category_ids=negatives, not_exhaustive_category_ids=[]))
    return images, annotations


def _categories(names: Sequence[str], images: list, annotations: list) -> list:
    from ..categories import frequency_group

    image_sets: Dict[int, set] = {k + 1: set() for k in range(len(names))}
    instance_count: Dict[int, int] = {k + 1: 0 for k in range(len(names))}
    for ann in annotations:
        image_sets[ann['category_id']].add(ann['image_id'])
        instance_count[ann['category_id']] += 1
    return [{'id': k + 1, 'name': name, 'synset': f'{name}.n.01', 'synonyms': [name],
             'def': name.replace('_', ' '), 'image_count': len(image_sets[k + 1]),
             'instance_count': instance_count[k + 1],
             'frequency': frequency_group(len(image_sets[k + 1]))}
            for k, name in enumerate(names)]


def generate_synthetic_lvis(out_dir: str, spec: SyntheticLVISSpec = SyntheticLVISSpec(),
                            write_images: bool = True) -> Dict[str, str]:
    """Write the dataset under ``out_dir`` and return the paths of its parts.

    Layout: ``annotations/lvis_demo_{train,val}.json`` and ``{train,val}/<id>.png`` (the images
    only with ``write_images``; the annotations do not depend on it). The
    training split's ``frequency`` fields are LVIS's bins of the training image counts; the
    validation split carries the same category list (as LVIS val does).
    """
    root = Path(out_dir)
    rng = np.random.default_rng(spec.seed)
    names = category_names(len(spec.train_image_counts))

    train_assign = _assign_categories(spec.train_image_counts, spec.num_train_images, rng)
    val_counts = [max(spec.min_val_images_per_class,
                      round(c * spec.num_val_images / spec.num_train_images))
                  for c in spec.train_image_counts]
    val_assign = _assign_categories(val_counts, spec.num_val_images, rng)

    train_images, train_anns = _make_split(root / TRAIN_IMAGES, train_assign, spec, rng,
                                           1, names, write_images)
    val_images, val_anns = _make_split(root / VAL_IMAGES, val_assign, spec, rng,
                                       spec.num_train_images + 1, names, write_images)
    categories = _categories(names, train_images, train_anns)
    info = dict(description='mmdet-droploss synthetic long-tailed demo set', version='1.0')
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    for rel, images, anns in ((TRAIN_ANN, train_images, train_anns),
                              (VAL_ANN, val_images, val_anns)):
        with open(root / rel, 'w') as f:
            json.dump(dict(info=info, licenses=[], images=images, annotations=anns,
                           categories=categories), f)
    return dict(root=str(root), train_ann=osp.join(str(root), TRAIN_ANN),
                val_ann=osp.join(str(root), VAL_ANN),
                train_images=osp.join(str(root), TRAIN_IMAGES),
                val_images=osp.join(str(root), VAL_IMAGES))
