"""Validation proposals scored as ``BBoxHead``'s predict path scores them, cut as mmdet's
``multiclass_nms`` and LVIS's per-image cap cut them, and evaluated by ``FastLVISMetric``.

Each proposal's class scores are the loss's activation (``get_activation``, for a loss with
custom classifier channels) or the softmax, less the background column; a (proposal, class)
pair above ``score_thr`` is a detection with the proposal's box. Proposals do not overlap
but near-misses, whose IoU with their object is below NMS's 0.5, so per-class NMS would keep
every detection: it is not run. Each image keeps its ``dets_per_val_image`` best detections,
which feed AP-Fixed's per-class budget; the metric then keeps the 300 best for standard AP.
"""
from __future__ import annotations

import contextlib
import io
from typing import Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .sampler import POSITIVE
from .validation import ValidationSet

CHUNK_IMAGES = 512


@torch.no_grad()
def class_scores(head: nn.Module, features: Tensor) -> Tensor:
    """(N, C) scores of ``features`` as ``BBoxHead._predict_by_feat_single`` computes them
    before ``multiclass_nms`` drops the background column."""
    head.eval()
    cls_score = head(features)[0]
    if head.custom_cls_channels:
        scores = head.loss_cls.get_activation(cls_score)
    else:
        scores = F.softmax(cls_score, dim=-1)
    return scores[:, :-1]


@torch.no_grad()
def detections(scores: Tensor, val: ValidationSet, score_thr: float,
               per_image: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(image, proposal, label, score) of each image's ``per_image`` best detections above
    ``score_thr``, sorted by image. Vectorised over chunks of images with similar proposal
    counts (each chunk padded to its largest)."""
    offsets = val.proposal_offsets
    counts = np.diff(offsets)
    C = scores.shape[1]
    by_size = np.argsort(counts, kind='stable')
    out = [], [], [], []
    for start in range(0, len(by_size), CHUNK_IMAGES):
        images = torch.from_numpy(by_size[start:start + CHUNK_IMAGES])
        n = torch.from_numpy(counts)[images][:, None]
        slot = torch.arange(int(n.max()))[None, :]
        index = torch.from_numpy(offsets[:-1])[images][:, None] + slot
        valid = slot < n
        chunk = scores[index.clamp(max=len(scores) - 1)]  # (images, width, C)
        chunk = torch.where(valid[..., None] & (chunk > score_thr), chunk,
                            torch.full_like(chunk, -1.0)).flatten(1)
        top, where = chunk.topk(min(per_image, chunk.shape[1]), dim=1)
        keep = top > score_thr
        out[0].append(images[:, None].expand_as(where)[keep].numpy())
        out[1].append(index.gather(1, where // C)[keep].numpy())
        out[2].append((where % C)[keep].numpy())
        out[3].append(top[keep].numpy())
    image, proposal, label, score = (np.concatenate(o) for o in out)
    order = np.argsort(image, kind='stable')
    return image[order], proposal[order], label[order], score[order]


def evaluate_detections(val: ValidationSet, image, proposal, label, score, ann_file: str,
                        class_names, fixed_ap: int, nproc=None) -> Dict[str, float]:
    """LVIS AP of the detections through ``FastLVISMetric`` (its public entry points:
    ``add_record`` per image, then ``evaluate``): bbox AP and, with ``fixed_ap``, AP-Fixed."""
    from ..evaluation import FastLVISMetric
    metric = FastLVISMetric(ann_file=ann_file, metric='bbox', fixed_ap=fixed_ap or None,
                            nproc=nproc)
    metric.dataset_meta = dict(classes=tuple(class_names))
    bounds = np.searchsorted(image, np.arange(val.images.num_images + 1))
    boxes = val.proposal_box.astype(np.float32)
    for i in range(val.images.num_images):
        sl = slice(bounds[i], bounds[i + 1])
        metric.add_record(dict(img_id=i + 1, bboxes=boxes[proposal[sl]],
                               scores=score[sl].astype(np.float32),
                               labels=label[sl].astype(np.int64)))
    with contextlib.redirect_stdout(io.StringIO()):
        metrics = metric.evaluate(val.images.num_images)
    return {k.split('/', 1)[-1]: float(v) for k, v in metrics.items()}


def background_score_means(scores: Tensor, val: ValidationSet,
                           group_index: np.ndarray) -> Dict[str, float]:
    """Paper Fig. 1b: each group's mean class score on background proposals (every
    proposal but the annotated objects')."""
    background = torch.from_numpy(val.proposal_kind != POSITIVE)
    per_class = scores[background].mean(0).double().numpy()
    return {g: float(per_class[group_index == k].mean()) for k, g in enumerate('rcf')}
