"""The functional core shared by EQL, BEQL and DropLoss: a weighted sigmoid BCE over C logits.

All three losses of the paper are

    L = 1/N * sum_i sum_j  w_ij * BCE(x_ij, y_ij)        (paper, eq. (1), (3), (5))

with C foreground logits per proposal (no background logit), ``y_ij = 1`` iff proposal i is
labelled j (a background proposal, label C, has an all-zero target row) and constant weights
``w_ij`` that each loss defines. Only the weights differ, so only they live in the loss modules.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmdet.models.losses.utils import weight_reduce_loss
from torch import Tensor


def sigmoid_targets(labels: Tensor, num_classes: int) -> Tensor:
    """Boolean (N, C) one-hot targets ``y_ij``; background labels (``== num_classes``) give an
    all-false row. Built by comparison rather than ``F.one_hot`` so that it never syncs with the
    host on CUDA."""
    classes = torch.arange(num_classes, device=labels.device)
    return labels.unsqueeze(1) == classes


def weighted_sigmoid_bce(cls_score: Tensor,
                         labels: Tensor,
                         weights: Tensor,
                         label_weights: Optional[Tensor] = None,
                         reduction: str = 'mean',
                         avg_factor: Optional[float] = None) -> Tensor:
    """``sum_ij w_ij * label_weight_i * BCE(x_ij, y_ij)``, reduced.

    Args:
        cls_score: (N, C) logits, any floating dtype; the loss is computed in float32 so that
            fp16/bf16 logits under autocast give the same value as float32 ones.
        labels: (N,) labels in ``[0, C]``, ``C`` meaning background.
        weights: (N, C) constant weights ``w_ij`` (no gradient flows through them).
        label_weights: optional (N,) per-proposal weights, as mmdet's heads pass them.
        reduction: ``'none'`` returns the (N, C) weighted terms, ``'sum'`` their sum, ``'mean'``
            their sum divided by ``avg_factor`` -- mmdet's RoI heads pass the number of sampled
            proposals, which is the paper's ``1/N`` -- or, without ``avg_factor``, by ``N``
            (a per-proposal mean, like the paper, not a mean over the N * C terms).
        avg_factor: the normaliser for ``reduction='mean'``.
    """
    targets = sigmoid_targets(labels, cls_score.size(-1)).float()
    loss = F.binary_cross_entropy_with_logits(cls_score.float(), targets, reduction='none')
    weights = weights.float()
    if label_weights is not None:
        weights = weights * label_weights.float().unsqueeze(1)
    if reduction == 'mean' and avg_factor is None:
        avg_factor = max(cls_score.size(0), 1)
    return weight_reduce_loss(loss, weights, reduction=reduction, avg_factor=avg_factor)
