"""What a RoI's feature looks like: the stated generative model.

* Classes come in groups of look-alikes (LVIS's synonyms and WordNet siblings, "cup" and
  "mug"). The metadata's synsets name the categories but ship no hierarchy, so the groups are a
  random partition with geometric sizes of mean ``spec.group_size``: a prototype is a group
  direction and an own direction mixed by ``group_weight``, normalised to norm ``signal``.
* An object instance adds a fixed offset (norm ``instance_noise``); each RoI on it adds noise
  whose norm grows as its IoU with the object falls (``roi_noise_iou1`` at IoU 1,
  ``roi_noise_iou05`` at 0.5).
* Background RoIs are clutter (a background direction of norm ``clutter_signal`` plus noise of
  norm ``clutter_noise``), near-misses of an annotated object (IoU ``u`` in 0.1-0.5: the object's
  feature at IoU 0.5 and clutter mixed ``u / 0.5`` to ``1 - u / 0.5``), or unannotated objects of
  categories not verified in the image (LVIS's federated labels: the premise of DropLoss).
Noise vectors are isotropic Gaussians scaled to the stated expected norm.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor


def look_alike_groups(num_classes: int, mean_size: float, rng: np.random.Generator) -> np.ndarray:
    """Group index of each class: a random order cut with probability ``1 / mean_size``."""
    order = rng.permutation(num_classes)
    starts = rng.random(num_classes) < 1.0 / mean_size
    starts[0] = True
    groups = np.empty(num_classes, np.int64)
    groups[order] = np.cumsum(starts) - 1
    return groups


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class FeatureModel:
    """Prototypes and noise of one simulated data set (fixed by its seed)."""

    def __init__(self, num_classes: int, spec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.dim = spec.feature_dim
        self.groups = look_alike_groups(num_classes, spec.group_size, rng)
        group_dir = _unit(rng.normal(size=(self.groups.max() + 1, self.dim)))
        own_dir = _unit(rng.normal(size=(num_classes, self.dim)))
        w = spec.group_weight
        protos = _unit(w * group_dir[self.groups] + (1 - w) * own_dir) * spec.signal
        self.prototypes = torch.from_numpy(protos.astype(np.float32))
        self.background = torch.from_numpy(
            (_unit(rng.normal(size=self.dim)) * spec.clutter_signal).astype(np.float32))

    def noise(self, n: int, norm, gen: torch.Generator) -> Tensor:
        """``n`` isotropic Gaussian vectors of expected squared norm ``norm ** 2``."""
        scale = torch.as_tensor(norm, dtype=torch.float32) / math.sqrt(self.dim)
        if scale.dim() == 1:
            scale = scale[:, None]
        return torch.randn(n, self.dim, generator=gen) * scale

    def instance_offsets(self, n: int, gen: torch.Generator) -> Tensor:
        return self.noise(n, self.spec.instance_noise, gen)

    def roi_noise_norm(self, iou: Tensor) -> Tensor:
        s = self.spec
        return s.roi_noise_iou1 + (s.roi_noise_iou05 - s.roi_noise_iou1) * (1 - iou) / 0.5

    def objects(self, category: Tensor, offset: Tensor, iou: Tensor,
                gen: torch.Generator) -> Tensor:
        """RoIs on objects of ``category`` with instance ``offset`` at ``iou`` (>= 0.5)."""
        return (self.prototypes[category] + offset +
                self.noise(len(category), self.roi_noise_norm(iou), gen))

    def clutter(self, n: int, gen: torch.Generator) -> Tensor:
        return self.background + self.noise(n, self.spec.clutter_noise, gen)

    def near_misses(self, category: Tensor, offset: Tensor, iou: Tensor,
                    gen: torch.Generator) -> Tensor:
        """RoIs at ``iou`` (< 0.5) with an object: part object, part clutter."""
        share = (iou / 0.5)[:, None]
        on_object = self.objects(category, offset, torch.full_like(iou, 0.5), gen)
        return share * on_object + (1 - share) * self.clutter(len(category), gen)
