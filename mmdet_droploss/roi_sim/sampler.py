"""A training batch's RoIs, as mmdet's ``RandomSampler`` would draw them from one image.

mmdet samples 512 RoIs per image, a quarter of them positive (IoU >= 0.5 with an object, the
ground-truth boxes among them), several per object at IoUs from 0.5 to 1; the rest are
background (IoU < 0.5 with every object). Here an image gives ``spec.rois_per_image`` RoIs with
the same positive fraction: positives on its objects (drawn uniformly, with replacement, IoU
uniform in 0.5-1), background split into near-misses of its objects (IoU 0.1-0.5), unannotated
objects of categories it is not annotated with (drawn by training image frequency; one that
is annotated in the image counts as clutter instead), and clutter. Labels and label weights
are what ``BBoxHead.get_targets`` gives: the category for a positive, ``C`` for background,
weight 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .features import FeatureModel
from .images import ImageSet

POSITIVE, CLUTTER, NEAR_MISS, UNANNOTATED = range(4)


@dataclass
class RoIBatch:
    features: Tensor  # (R, d)
    labels: Tensor  # (R,) category index, C for background
    label_weights: Tensor  # (R,)
    kind: Tensor  # (R,) POSITIVE, CLUTTER, NEAR_MISS or UNANNOTATED


def positives_per_image(spec) -> int:
    return max(1, int(round(spec.rois_per_image * spec.pos_fraction)))


class RoISampler:
    """Draws the RoIs of any images of an :class:`ImageSet` (its instances' offsets fixed)."""

    def __init__(self, images: ImageSet, features: FeatureModel, image_count: np.ndarray,
                 spec, gen: torch.Generator) -> None:
        self.spec, self.features = spec, features
        self.num_classes = images.num_classes
        self.first = torch.from_numpy(images.instance_offsets[:-1])
        self.count = torch.from_numpy(np.diff(images.instance_offsets))
        self.category = torch.from_numpy(images.instance_category)
        self.offsets = features.instance_offsets(len(images.instance_category), gen)
        self.pair_keys = torch.from_numpy(images.pair_keys())
        freq = torch.from_numpy(image_count.astype(np.float64))
        self.unannotated_cdf = torch.cumsum(freq / freq.sum(), 0)

    def _instances(self, image: Tensor, gen: torch.Generator) -> Tensor:
        """A uniformly drawn instance of each of ``image``."""
        pick = (torch.rand(len(image), generator=gen, dtype=torch.float64) *
                self.count[image]).long()
        return self.first[image] + pick

    def sample(self, image: Tensor, gen: torch.Generator) -> RoIBatch:
        spec, C = self.spec, self.num_classes
        n_pos = positives_per_image(spec)
        n_neg = spec.rois_per_image - n_pos
        pos_image = image.repeat_interleave(n_pos)
        inst = self._instances(pos_image, gen)
        iou = 0.5 + 0.5 * torch.rand(len(inst), generator=gen)
        pos = self.features.objects(self.category[inst], self.offsets[inst], iou, gen)

        neg_image = image.repeat_interleave(n_neg)
        u = torch.rand(len(neg_image), generator=gen)
        kind = torch.full((len(neg_image),), CLUTTER, dtype=torch.long)
        kind[u < spec.near_miss_share + spec.unannotated_share] = UNANNOTATED
        kind[u < spec.near_miss_share] = NEAR_MISS
        unannotated = torch.searchsorted(
            self.unannotated_cdf, torch.rand(len(neg_image), generator=gen, dtype=torch.float64))
        unannotated.clamp_(max=C - 1)
        annotated = _isin_sorted(neg_image * C + unannotated, self.pair_keys)
        kind[(kind == UNANNOTATED) & annotated] = CLUTTER
        n = len(neg_image)
        ni = self._instances(neg_image, gen)  # the object a near-miss misses
        near = self.features.near_misses(self.category[ni], self.offsets[ni],
                                         0.1 + 0.4 * torch.rand(n, generator=gen), gen)
        other = self.features.objects(unannotated, self.features.instance_offsets(n, gen),
                                      0.5 + 0.5 * torch.rand(n, generator=gen), gen)
        neg = torch.where((kind == NEAR_MISS)[:, None], near, self.features.clutter(n, gen))
        neg = torch.where((kind == UNANNOTATED)[:, None], other, neg)
        labels = torch.cat([self.category[inst], torch.full((len(neg_image),), C)])
        return RoIBatch(torch.cat([pos, neg]), labels, torch.ones(len(labels)),
                        torch.cat([torch.full((len(inst),), POSITIVE), kind]))


def _isin_sorted(values: Tensor, sorted_keys: Tensor) -> Tensor:
    idx = torch.searchsorted(sorted_keys, values).clamp_(max=len(sorted_keys) - 1)
    return sorted_keys[idx] == values
