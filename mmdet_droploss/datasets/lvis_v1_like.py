"""An LVIS-v1-like validation set and detector output, for timing and testing evaluation at scale.

What LVIS v1 val looks like and what is matched here (``tools/benchmark_eval.py --generate``):
1,203 categories with v1's ids, names and r/c/f groups (``categories/lvis_v1.json``); COCO
image sizes (640 px on the long side, 360-480 on the other); about 12.4 instances per image
(244,707 over 19,809 images) over a few categories per image, drawn in proportion to their
training image counts; polygon ground truth of 8-16 vertices; about 10 negative categories and,
on a quarter of the images, a not-exhaustive category; object sizes log-uniform from 8 to 400
px, so small, medium and large all occur. Detections: 300 per image as a detector with a
per-image cap of 300 returns them, as the metric's per-image records (x1, y1, x2, y2 boxes,
scores, labels, RLE masks): each instance found once with its class and twice with another,
the rest spread over the image's labelled categories and the whole vocabulary.

The data is random but deterministic (``seed``); nothing here claims LVIS accuracy numbers.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

from ..categories import load_categories

INSTANCES_PER_IMAGE = 12.4
NEGATIVES_PER_IMAGE = 10


def _polygon(rng: np.random.Generator, x: float, y: float, w: float, h: float) -> List[float]:
    """A star-convex polygon inside the box (x, y, w, h), touching its four sides."""
    n = int(rng.integers(8, 17))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radius = rng.uniform(0.6, 1.0, n)
    px, py = np.cos(angles) * radius, np.sin(angles) * radius
    px = (px - px.min()) / max(np.ptp(px), 1e-6) * w + x
    py = (py - py.min()) / max(np.ptp(py), 1e-6) * h + y
    return np.round(np.stack([px, py], 1).ravel(), 2).tolist()


def _shoelace(poly: List[float]) -> float:
    x, y = np.asarray(poly[0::2]), np.asarray(poly[1::2])
    return float(abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))) / 2)


def _boxes(rng: np.random.Generator, n: int, width: int, height: int) -> np.ndarray:
    """``n`` (x, y, w, h) boxes inside the image, log-uniform size, varied aspect ratio."""
    side = np.exp(rng.uniform(np.log(8), np.log(400), n))
    aspect = np.exp(rng.normal(0, 0.5, n))
    w = np.clip(side * np.sqrt(aspect), 2, width - 1)
    h = np.clip(side / np.sqrt(aspect), 2, height - 1)
    x = rng.uniform(0, 1, n) * (width - w)
    y = rng.uniform(0, 1, n) * (height - h)
    return np.stack([x, y, w, h], 1)


def generate_lvis_like(num_images: int, dets_per_image: int = 300, seed: int = 0,
                       masks: bool = True) -> Tuple[dict, List[dict]]:
    """(ground truth as an LVIS v1 dict, one detection record per image) of ``num_images``."""
    import pycocotools.mask as mask_utils

    rng = np.random.default_rng(seed)
    info = load_categories('lvis_v1')
    cat_ids = np.asarray(info.ids)
    num_classes = len(cat_ids)
    weight = info.image_count / info.image_count.sum()
    categories = [dict(id=int(c), name=n, frequency=f, image_count=int(ic), instance_count=0,
                       synset=f'{n}.n.01', synonyms=[n], **{'def': n})
                  for c, n, f, ic in zip(cat_ids, info.names, info.frequency, info.image_count)]
    images, annotations, records = [], [], []
    for img_id in range(1, num_images + 1):
        width, height = (640, int(rng.integers(360, 481))) if rng.random() < 0.7 else \
            (int(rng.integers(360, 481)), 640)
        num_inst = max(1, int(rng.poisson(INSTANCES_PER_IMAGE)))
        present = rng.choice(num_classes, size=min(num_inst, 1 + int(rng.poisson(2.5))),
                             replace=False, p=weight)
        labels = np.concatenate([present, rng.choice(present, num_inst - len(present))])
        boxes = _boxes(rng, num_inst, width, height)
        for label, (x, y, w, h) in zip(labels.tolist(), boxes.tolist()):
            poly = _polygon(rng, x, y, w, h)
            annotations.append(dict(id=len(annotations) + 1, image_id=img_id,
                                    category_id=int(cat_ids[label]), segmentation=[poly],
                                    area=_shoelace(poly), bbox=[x, y, w, h]))
        negatives = np.setdiff1d(rng.choice(num_classes, NEGATIVES_PER_IMAGE, p=weight),
                                 present)
        not_exhaustive = present[:1] if rng.random() < 0.25 else present[:0]
        images.append(dict(id=img_id, width=width, height=height,
                           coco_url=f'http://images.cocodataset.org/val2017/{img_id:012d}.jpg',
                           neg_category_ids=cat_ids[negatives].tolist(),
                           not_exhaustive_category_ids=cat_ids[not_exhaustive].tolist()))
        records.append(_detections(rng, img_id, width, height, boxes, labels,
                                   np.concatenate([present, negatives]), dets_per_image,
                                   num_classes, weight, masks, mask_utils))
    return dict(info=dict(description='LVIS-v1-like benchmark set'), licenses=[],
                images=images, annotations=annotations, categories=categories), records


def _detections(rng, img_id, width, height, boxes, labels, labelled, n, num_classes, weight,
                masks, mask_utils) -> Dict[str, object]:
    """One image's record in the metric's format: n detections, highest score first."""
    k = min(len(boxes), n // 3)
    true = np.repeat(boxes[:k], 3, axis=0)
    true = true + rng.normal(0, 0.04, true.shape) * np.repeat(boxes[:k, 2:], 2, axis=1).repeat(
        3, axis=0)
    true_labels = np.repeat(labels[:k], 3)
    true_labels[1::3] = rng.choice(num_classes, k, p=weight)
    true_labels[2::3] = rng.choice(labelled, k)
    rest = n - len(true)
    other = _boxes(rng, rest, width, height)
    other_labels = np.where(rng.random(rest) < 0.5, rng.choice(labelled, rest),
                            rng.choice(num_classes, rest, p=weight))
    xywh = np.concatenate([true, other])
    xywh[:, :2] = np.clip(xywh[:, :2], 0, [width - 2, height - 2])
    xywh[:, 2:] = np.clip(xywh[:, 2:], 1, [width, height] - xywh[:, :2])
    scores = np.concatenate([rng.uniform(0.2, 1.0, len(true)) * np.tile([1, 0.6, 0.6], k),
                             rng.uniform(0, 0.5, rest) ** 2])
    order = np.argsort(-scores, kind='stable')
    xywh, scores = xywh[order], scores[order]
    record = dict(img_id=img_id, labels=np.concatenate([true_labels, other_labels])[order],
                  scores=scores.astype(np.float32),
                  bboxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1).astype(
                      np.float32))
    if masks:
        rles = mask_utils.frPyObjects(xywh, height, width)
        for rle in rles:
            rle['counts'] = rle['counts'].decode()
        record['masks'] = rles
    return record


__all__ = ['generate_lvis_like']
