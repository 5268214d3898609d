"""Prediction scores on background proposals, per frequency group (paper Fig. 1b).

The paper shows that a sigmoid BCE detector learns to score rare classes very low on background
proposals -- the imbalance of discouraging gradients made visible. For each image the model's RPN
proposals are scored by the RoI head's classifier; proposals whose IoU with every ground-truth
box is below 0.5 are background, and their class probabilities are accumulated per class and
per frequency group (a log-spaced histogram, so that LVIS-sized runs need no raw storage).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import Tensor

from .gradient_stats import GROUPS

# log10 bins from 1e-6 to 1 (scores below 1e-6 land in the first bin)
BIN_EDGES = np.concatenate([[0.0], np.logspace(-6, 0, 49)[1:]])


@dataclass
class BackgroundScores:
    """Running per-class and per-group statistics of class scores on background proposals."""

    group_index: np.ndarray  # (C,) 0/1/2 = r/c/f
    num_proposals: int = 0  # background proposals seen
    class_sum: Optional[np.ndarray] = None  # (C,) sum of the class's score over them
    histograms: Dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.group_index = np.asarray(self.group_index)
        if self.class_sum is None:
            self.class_sum = np.zeros(len(self.group_index))
        for g in GROUPS:
            self.histograms.setdefault(g, np.zeros(len(BIN_EDGES) - 1, dtype=np.int64))

    def add(self, probs: Tensor, max_ious: Tensor, iou_threshold: float = 0.5) -> None:
        """Add one image: ``probs`` (N, C) class probabilities of its proposals, ``max_ious``
        (N,) their best IoU with a ground-truth box (0 without ground truth)."""
        background = (max_ious < iou_threshold).cpu()
        scores = probs.detach().float().cpu()[background].numpy()
        self.num_proposals += scores.shape[0]
        self.class_sum += scores.sum(axis=0)
        for g, group in enumerate(GROUPS):
            values = scores[:, self.group_index == g].ravel()
            self.histograms[group] += np.histogram(values, bins=BIN_EDGES)[0]

    def summary(self) -> dict:
        """Per group: number of (proposal, class) pairs, mean score, and the mean over the
        group's classes of each class's mean score; the per-class means; the histograms."""
        class_mean = self.class_sum / max(self.num_proposals, 1)
        groups = {}
        for g, group in enumerate(GROUPS):
            members = self.group_index == g
            pairs = int(members.sum()) * self.num_proposals
            groups[group] = dict(
                num_classes=int(members.sum()),
                pairs=pairs,
                mean_score=float(self.class_sum[members].sum() / pairs) if pairs else None,
                histogram=self.histograms[group].tolist())
        return dict(num_background_proposals=self.num_proposals, groups=groups,
                    class_mean_score=class_mean.tolist(), bin_edges=BIN_EDGES.tolist())


def pipeline_with_gt_boxes(pipeline: List[dict]) -> List[dict]:
    """A copy of a test pipeline that loads the ground-truth boxes right after the image.

    mmdet's test pipelines load annotations *after* ``Resize`` (evaluation reads the annotation
    file instead), which leaves the boxes in original-image coordinates while the proposals are
    in network-input coordinates. Loading them first lets every geometric transform move them
    with the image, so proposals and ground truth are compared in the same frame.
    """
    steps = [copy.deepcopy(t) for t in pipeline if 'LoadAnnotations' not in str(t.get('type'))]
    loads = [i for i, t in enumerate(steps) if 'LoadImage' in str(t.get('type'))]
    if not loads:
        raise ValueError('The test pipeline has no image-loading step (LoadImageFromFile): '
                         'cannot tell where to load the ground-truth boxes.')
    steps.insert(loads[0] + 1, dict(type='LoadAnnotations', with_bbox=True))
    return steps


@torch.no_grad()
def proposal_scores(model, data: dict):
    """(class probabilities (N, C), max IoU with ground truth (N,)) for each image of a batch,
    from the RPN proposals and the (first) RoI box head's classifier. The ground-truth boxes must
    be in network-input coordinates, like the proposals (:func:`pipeline_with_gt_boxes`)."""
    from mmdet.structures.bbox import bbox2roi, bbox_overlaps

    data = model.data_preprocessor(data, False)
    samples = data['data_samples']
    if any('gt_instances' not in s or 'bboxes' not in s.gt_instances for s in samples):
        raise ValueError('The test pipeline must load the ground-truth boxes (LoadAnnotations) '
                         'to tell background proposals from foreground ones.')
    feats = model.extract_feat(data['inputs'])
    proposals = model.rpn_head.predict(feats, samples, rescale=False)
    rois = bbox2roi([p.bboxes for p in proposals])
    roi_head = model.roi_head
    if isinstance(roi_head.bbox_head, torch.nn.ModuleList):  # Cascade: its first stage
        head = roi_head.bbox_head[0]
        cls_score = roi_head._bbox_forward(0, feats, rois)['cls_score']
    else:
        head = roi_head.bbox_head
        cls_score = roi_head._bbox_forward(feats, rois)['cls_score']
    if getattr(head, 'custom_activation', False):
        probs = head.loss_cls.get_activation(cls_score)
    else:
        probs = cls_score.softmax(dim=-1)
    probs = probs[:, :head.num_classes]
    out = []
    for i, (p, sample) in enumerate(zip(proposals, samples)):
        gt = sample.gt_instances.bboxes
        gt = gt.tensor if hasattr(gt, 'tensor') else gt
        if len(gt) and len(p.bboxes):
            ious = bbox_overlaps(p.bboxes, gt.to(p.bboxes.device)).max(dim=1).values
        else:
            ious = p.bboxes.new_zeros(len(p.bboxes))
        out.append((probs[rois[:, 0] == i], ious))
    return out
