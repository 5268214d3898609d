"""The classifier and its training: mmdet's ``BBoxHead`` (its last layer, the linear
classifier, on the simulated RoI features), SGD with the paper's schedule shape, RFS.

Every step calls ``BBoxHead.loss`` on the step's RoIs, as ``StandardRoIHead`` does after
sampling: the built ``loss_cls`` gets ``(cls_score, labels, label_weights, avg_factor=...)``
exactly as in a detector, so any registered loss runs unchanged (C + 1 logits, custom
activations and accuracies included).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from mmengine.logging import MMLogger
from torch import Tensor, nn

from .images import ImageSet
from .sampler import RoIBatch, RoISampler


def build_head(loss_cls: dict, init_cfg: Optional[List[dict]], num_classes: int,
               in_channels: int, hidden_fcs: int = 0, hidden_width: int = 64) -> nn.Module:
    """The box head's classifier on ``in_channels``-wide RoI features with ``loss_cls``:
    mmdet's ``BBoxHead`` (the linear classifier alone) or, with ``hidden_fcs``, its
    ``ConvFCBBoxHead`` with that many shared fully connected layers (the 2fc head's, trained
    with the classifier). ``init_cfg`` (a method config's) initialises the layers it names
    that the head has (there is no box regression)."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    common = dict(with_avg_pool=False, with_reg=False, roi_feat_size=1, in_channels=in_channels,
                  num_classes=num_classes, loss_cls=loss_cls, init_cfg=init_cfg)
    if hidden_fcs:
        common.update(type='ConvFCBBoxHead', num_shared_fcs=hidden_fcs,
                      fc_out_channels=hidden_width)
    head = MODELS.build(dict(type='BBoxHead', **common) if not hidden_fcs else common)
    head.init_cfg = [c for c in head.init_cfg or []
                     if all(hasattr(head, n) for n in _names(c.get('override')))]
    # mmengine logs every parameter's initialiser at INFO: one screen a run in the tool's log
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        head.init_weights()
    finally:
        logger.setLevel(level)
    return head


def _names(override) -> list:
    if override is None:
        return []
    overrides = override if isinstance(override, (list, tuple)) else [override]
    return [o.get('name') for o in overrides]


def head_losses(head: nn.Module, cls_score: Tensor, labels: Tensor,
                label_weights: Tensor) -> Dict[str, Tensor]:
    """``BBoxHead.loss`` on classification targets alone (no box branch)."""
    return head.loss(cls_score, None, None, labels, label_weights, None, None)


def total_loss(losses: Dict[str, Tensor]) -> Tensor:
    """What mmengine's ``parse_losses`` sums: every entry whose name contains 'loss'."""
    return sum(v.sum() for k, v in losses.items() if 'loss' in k)


def repeat_factors(images: ImageSet, threshold: float) -> np.ndarray:
    """LVIS's repeat factor sampling (Gupta et al. 2019), as mmdet's ``ClassBalancedDataset``:
    r(c) = max(1, sqrt(t / f(c))) with f(c) the fraction of images holding c; an image's
    factor is the largest of its categories'."""
    freq = images.images_per_category() / images.num_images
    with np.errstate(divide='ignore'):
        per_category = np.maximum(1.0, np.sqrt(threshold / freq))
    return np.maximum.reduceat(per_category[images.pair_category], images.pair_offsets[:-1])


def epoch_images(images: ImageSet, rfs_threshold: Optional[float]) -> np.ndarray:
    """One epoch's image indices: each image once, or ``ceil(r)`` times with RFS (mmdet)."""
    if rfs_threshold is None:
        return np.arange(images.num_images)
    return np.repeat(np.arange(images.num_images),
                     np.ceil(repeat_factors(images, rfs_threshold)).astype(np.int64))


def learning_rate(step: int, total: int, spec) -> float:
    """Linear warm-up, then x0.1 at 2/3 and at 8/9 of the steps (the paper's 90k schedule:
    60k and 80k)."""
    lr = spec.base_lr_per_16_images * spec.images_per_batch / 16
    if step < spec.warmup_iters:
        k = step / spec.warmup_iters
        lr *= spec.warmup_ratio + (1 - spec.warmup_ratio) * k
    return lr * 0.1 ** ((step >= total * 2 // 3) + (step >= total * 8 // 9))


def total_steps(images: ImageSet, spec, rfs_threshold: Optional[float]) -> int:
    """The run's number of steps: ``spec.epochs`` epochs of ``spec.images_per_batch``."""
    return _steps(len(epoch_images(images, rfs_threshold)), spec)


def _steps(epoch_length: int, spec) -> int:
    return math.ceil(epoch_length / spec.images_per_batch) * spec.epochs


def train(head: nn.Module, sampler: RoISampler, images: ImageSet, spec,
          rfs_threshold: Optional[float], gen: torch.Generator,
          on_step: Optional[Callable[[int, Tensor, RoIBatch, float], None]] = None,
          log: Callable[[str], None] = print) -> dict:
    """Train ``head`` for ``spec.epochs`` epochs; ``on_step(step, cls_score, batch,
    avg_factor)`` sees every step (gradient statistics). Returns what happened (steps,
    seconds, final losses)."""
    head.train()
    optimizer = torch.optim.SGD(head.parameters(), lr=0.0, momentum=spec.momentum,
                                weight_decay=spec.weight_decay)
    epoch = epoch_images(images, rfs_threshold)
    total = _steps(len(epoch), spec)
    start, step, last = time.perf_counter(), 0, {}
    for _ in range(spec.epochs):
        order = torch.from_numpy(epoch)[torch.randperm(len(epoch), generator=gen)]
        for batch_images in order.split(spec.images_per_batch):
            for group in optimizer.param_groups:
                group['lr'] = learning_rate(step, total, spec)
            batch = sampler.sample(batch_images, gen)
            cls_score = head(batch.features)[0]
            losses = head_losses(head, cls_score, batch.labels, batch.label_weights)
            optimizer.zero_grad(set_to_none=True)
            total_loss(losses).backward()
            optimizer.step()
            if on_step is not None:
                on_step(step, cls_score.detach(), batch,
                        max(float((batch.label_weights > 0).sum()), 1.0))
            step += 1
            if step % max(1, total // 10) == 0 or step == total:
                elapsed = time.perf_counter() - start
                last = {k: round(float(v.detach()), 5) for k, v in losses.items()}
                log(f'    step {step}/{total}  lr {optimizer.param_groups[0]["lr"]:.4g}  '
                    f'{last}  {elapsed:.0f} s, ETA {elapsed / step * (total - step):.0f} s')
    return dict(steps=total, images_per_epoch=len(epoch),
                seconds=round(time.perf_counter() - start, 1), final_losses=last)
